"""Asking for extraction and probing: web-safe (no torch, no librosa), called by intake,
admin, API and commands."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.models import JOB_ENCODER_CHOICES, EmbeddingSpace, ExtractionJob, ProbeRun
from analysis.target_specs import specs
from catalog.models import Track

log = logging.getLogger(__name__)


def time_limits(duration):
    """(soft, hard) seconds for one track: generous for a slow CPU (~1x real time for
    50%-overlapped fp32 windows) plus model loading, so only a stuck task is stopped."""
    soft = int(300 + 2 * duration)
    return soft, soft + 120


def enqueue(job):
    """Send the job to the ml queue once the surrounding transaction commits."""
    from analysis.tasks import extract_track

    soft, hard = time_limits(job.track.duration)
    transaction.on_commit(
        lambda: extract_track.apply_async(args=[job.pk], soft_time_limit=soft, time_limit=hard)
    )


def default_encoder():
    """What extraction uses unless told: the active space's encoder, so that every process
    (a shell's import, the web, a worker) fills the space that is searched, whatever its own
    MESS_ENCODER; with no active space yet, MESS_ENCODER ("auto" leaves it to the worker)."""
    active = active_space()
    return active.encoder if active else settings.MESS_ENCODER


def request_extraction(tracks, *, force=False, encoder=None):
    """Queue extraction for each track with `encoder` (default_encoder() by default).

    A track that already has a queued or running job of that encoder keeps it: the
    request joins that job instead of starting a second one. Returns the jobs, new or joined."""
    encoder = encoder or default_encoder()
    if encoder not in dict(JOB_ENCODER_CHOICES):
        raise ValueError(f"Unknown encoder {encoder!r}; known: {', '.join(dict(JOB_ENCODER_CHOICES))}.")
    jobs = []
    for track in tracks:
        active = ExtractionJob.objects.filter(track=track, encoder=encoder, status__in=ExtractionJob.ACTIVE_STATES)
        job = active.first()
        if job is not None and force and not job.force:
            ExtractionJob.objects.filter(pk=job.pk).update(force=True)  # joining asks for more
            job.force = True
        if job is None:
            try:
                with transaction.atomic():
                    job = ExtractionJob.objects.create(track=track, force=force, encoder=encoder)
            except IntegrityError:  # a concurrent request created it first
                job = active.get()
            else:
                Track.objects.filter(pk=track.pk).exclude(status=Track.Status.PROCESSING).update(
                    status=Track.Status.PENDING, error=""
                )
                enqueue(job)
        jobs.append(job)
    return jobs


class RetryRefused(Exception):
    """Why a job cannot be started again now, in words for the curator who asked."""


def retry_extraction(job):
    """A new extraction of a failed job's track, with the job's encoder and force. Refused
    for a job that has not failed, and while the track already has one queued or running
    (request_extraction would silently join it, so the curator would see nothing new)."""
    if job.status != ExtractionJob.Status.FAILED:
        raise RetryRefused(f"Job {job.pk} is {job.get_status_display().lower()}; only failed jobs can be retried.")
    active = ExtractionJob.objects.filter(
        track_id=job.track_id, encoder=job.encoder, status__in=ExtractionJob.ACTIVE_STATES
    ).first()
    if active is not None:
        raise RetryRefused(
            f"“{job.track}” already has extraction job {active.pk} {active.get_status_display().lower()}; "
            "it was not queued again."
        )
    [retry] = request_extraction([job.track], force=job.force, encoder=job.encoder)
    return retry


def run_probe_again(run, user):
    """A new probe run with a failed run's space, dataset, targets and parameters."""
    if run.status != ProbeRun.Status.FAILED:
        raise RetryRefused(
            f"Probe run {run.pk} is {run.get_status_display().lower()}; only failed runs are run again from here."
        )
    try:
        return request_probe(run.space, dataset=run.dataset, targets=run.targets, parameters=run.parameters, user=user)
    except ValueError as exc:  # a target since renamed or removed
        raise RetryRefused(f"Probe run {run.pk} cannot run again: {exc}") from exc


# A running job whose worker has written no heartbeat for this long (progress is written
# about once a second while a track is encoded) and that does not answer a ping is taken
# for abandoned: a curator may restart it, and a starting worker requeues it.
SILENT_SECONDS = 60


def live_workers(timeout=1.0):
    """The names of the Celery workers that answer a ping now, or None when the broker
    cannot be asked (then nobody is declared dead for not answering)."""
    from messsite.celery import app

    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:  # noqa: BLE001 - a broker that is down says nothing about workers
        log.warning("could not ping the Celery workers: %s", exc)
        return None
    return {name for reply in replies for name in reply}


def _silent_since(job, cutoff):
    return job.heartbeat_at is None or job.heartbeat_at < cutoff


def _requeue(job):
    """Back to queued (nobody is on it) and sent again, unless it moved meanwhile: the
    update only matches the running row as it was read. True when requeued."""
    with transaction.atomic():
        moved = ExtractionJob.objects.filter(
            pk=job.pk, status=ExtractionJob.Status.RUNNING, heartbeat_at=job.heartbeat_at, worker=job.worker
        ).update(status=ExtractionJob.Status.QUEUED, progress=0, windows_done=0)
        if not moved:
            return False
        Track.objects.filter(pk=job.track_id, status=Track.Status.PROCESSING).update(status=Track.Status.PENDING)
        job.status, job.progress, job.windows_done = ExtractionJob.Status.QUEUED, 0, 0
        enqueue(job)
    return True


def requeue_stale_jobs(*, starting_worker="", alive=None):
    """Put back in the queue the running jobs whose worker is gone (killed mid-track: its
    rows were never replaced, so running the job again is safe), as soon as that is known:

    - the job's worker is `starting_worker`, the worker now starting under the same name
      (one worker per host in `manage.py up`): a worker that starts is not running anything;
    - its heartbeat is older than MESS_JOB_STALE_SECONDS;
    - it has been silent for SILENT_SECONDS and its worker does not answer a ping (`alive()`:
      the names that answer, or None when unknown; asked only when needed). A busy worker
      with a solo pool does not answer pings, so silence alone or no answer alone is not enough.
    Returns the requeued jobs."""
    alive = alive or live_workers
    now = timezone.now()
    stale_cutoff = now - timedelta(seconds=settings.MESS_JOB_STALE_SECONDS)
    silent_cutoff = now - timedelta(seconds=SILENT_SECONDS)
    answering, asked = None, False  # the workers that answer a ping: asked once, only if needed
    requeued = []
    for job in ExtractionJob.objects.filter(status=ExtractionJob.Status.RUNNING).select_related("track"):
        gone = (starting_worker and job.worker == starting_worker) or _silent_since(job, stale_cutoff)
        if not gone and _silent_since(job, silent_cutoff):
            if not asked:
                answering, asked = alive(), True
            gone = answering is not None and job.worker not in answering
        if gone and _requeue(job):
            requeued.append(job)
    return requeued


def restart_stale_job(job, *, alive=None):
    """A curator's restart of a running job whose worker is gone: allowed when the job has
    been silent for SILENT_SECONDS or its worker does not answer a ping; RetryRefused says
    why not otherwise. The same job goes back to the queue (its track keeps one job)."""
    if job.status != ExtractionJob.Status.RUNNING:
        raise RetryRefused(
            f"Job {job.pk} is {job.get_status_display().lower()}; only a running job whose worker stopped "
            "can be restarted."
        )
    silent = _silent_since(job, timezone.now() - timedelta(seconds=SILENT_SECONDS))
    if not silent:
        answering = (alive or live_workers)()
        if answering is None or job.worker in answering:
            who = f"worker {job.worker}" if job.worker else "its worker"
            raise RetryRefused(
                f"Job {job.pk} is still running: {who} reported "
                f"{int((timezone.now() - job.heartbeat_at).total_seconds())} s ago. A job can be restarted "
                f"once it has been silent for {SILENT_SECONDS} s or its worker no longer answers."
            )
    if not _requeue(job):
        raise RetryRefused(f"Job {job.pk} changed while you looked at it; see its current state.")
    return job


def active_space():
    return EmbeddingSpace.objects.filter(is_active=True).first()


@transaction.atomic
def activate_space(space):
    EmbeddingSpace.objects.filter(is_active=True).exclude(pk=space.pk).update(is_active=False)
    EmbeddingSpace.objects.filter(pk=space.pk).update(is_active=True)


def fail_job(job_id, reason):
    """Mark a job and its track failed, with a reason a curator can act on."""
    with transaction.atomic():
        job = ExtractionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ExtractionJob.ACTIVE_STATES:
            return
        log.warning("extraction of track %s failed: %s", job.track_id, reason)
        ExtractionJob.objects.filter(pk=job_id).update(
            status=ExtractionJob.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        Track.objects.filter(pk=job.track_id).update(status=Track.Status.FAILED, error=reason)


def request_probe(space, *, dataset=None, targets=(), parameters=None, user=None, queue=True):
    """A new probe run of `space` (over `dataset`'s tracks, or all), sent to the ml queue
    unless `queue` is false (the caller runs it); `targets` are names from
    analysis.target_specs (all when empty). ValueError names unknown targets."""
    specs(targets)
    run = ProbeRun.objects.create(
        space=space, dataset=dataset, targets=list(targets), parameters=dict(parameters or {}), requested_by=user
    )
    if queue:
        from analysis.tasks import probe_space

        transaction.on_commit(lambda: probe_space.delay(run.pk))
    return run
