"""Asking for extraction and probing: web-safe (no torch, no librosa), called by intake,
admin, API and commands."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
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


def requeue_stale_jobs():
    """Put back in the queue the running jobs whose worker stopped reporting (killed
    mid-track: its rows were never replaced, so running the job again is safe)."""
    cutoff = timezone.now() - timedelta(seconds=settings.MESS_JOB_STALE_SECONDS)
    stale = ExtractionJob.objects.filter(status=ExtractionJob.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    jobs = list(stale.select_related("track"))
    for job in jobs:
        enqueue(job)
    return jobs


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
