"""The jobs page's content: extraction jobs and probe runs as rows a curator reads
(status, progress, timings, errors). The page renders these rows and its script updates
them from the same functions, so both say the same thing in the same words."""

from datetime import timedelta

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from analysis.models import ExtractionJob, JobStatus, ProbeRun
from analysis.services import SILENT_SECONDS

JOBS_PER_PAGE = 50
PROBE_RUNS_SHOWN = 20


# Who may do what: the pages (jobs page, admin actions) and the API (analysis/api.py) ask
# these same functions, so one account gets the same answer everywhere. Staff alone is not
# enough: the Curators group (catalog/permissions.py) or a superuser holds these permissions.


def can_request_extraction(user):
    """(Re-)extraction of tracks, forced or not, and restarting a stuck job: staff allowed
    to change tracks (the admin's extract actions ask that) and extraction jobs (its retry)."""
    return bool(
        user.is_active and user.is_staff
        and user.has_perm("catalog.change_track") and user.has_perm("analysis.change_extractionjob")
    )


def can_start_probe(user):
    """New probe runs, from the API, the admin or the jobs page's "run again": staff allowed
    to add probe runs."""
    return bool(user.is_active and user.is_staff and user.has_perm("analysis.add_proberun"))


can_retry_extraction = can_request_extraction
can_run_probe_again = can_start_probe


def status_filter(value):
    """A status to filter by, or "" (every status) for anything else."""
    return value if value in JobStatus.values else ""


def extraction_jobs(status=""):
    jobs = ExtractionJob.objects.select_related("track", "space").order_by("-created_at", "-pk")
    return jobs.filter(status=status) if status else jobs


def probe_runs(status=""):
    runs = ProbeRun.objects.select_related("space", "dataset").order_by("-created_at", "-pk")
    return runs.filter(status=status) if status else runs


def moment(when):
    return date_format(timezone.localtime(when), "j M H:i:s")


def seconds(value):
    return f"{value:.1f} s"


def common_row(item, retry_url):
    return {
        "id": item.pk,
        "status": item.status,
        "status_label": item.get_status_display(),
        "active": item.status in item.ACTIVE_STATES,
        "progress": item.progress,
        "error": item.error,
        "retry_url": retry_url,
    }


def extraction_row(job):
    progress_text = f"{round(job.progress)}%"
    if job.windows_total:
        progress_text += f" · {job.windows_done} of {job.windows_total} windows"
    timings = [f"queued {moment(job.created_at)}"]
    if job.started_at:
        timings.append(f"started {moment(job.started_at)}")
    if job.status == ExtractionJob.Status.RUNNING and job.heartbeat_at:
        timings.append(f"last report {moment(job.heartbeat_at)}")
    if job.finished_at:
        timings.append(f"finished {moment(job.finished_at)}")
    if job.load_seconds is not None:
        timings.append(f"model load {seconds(job.load_seconds)}")
    if job.extract_seconds:
        timings.append(f"extraction {seconds(job.extract_seconds)} ({job.realtime_factor:.1f}× real time)")
    if job.attempts > 1:
        timings.append(f"attempt {job.attempts}")
    if job.worker:
        timings.append(f"worker {job.worker}")
    return {
        **common_row(job, reverse("analysis:job-retry", args=[job.pk])),
        "progress_text": progress_text,
        "timings": timings,
        "track": {"id": job.track_id, "title": str(job.track), "url": job.track.get_absolute_url()},
        "encoder": job.get_encoder_display(),
        "space": job.space.name if job.space else "",
        # A running job silent for a while may have lost its worker: curators may restart it
        # (the server also accepts it sooner when the worker no longer answers a ping).
        "restart_url": reverse("analysis:job-restart", args=[job.pk]) if restartable(job) else "",
    }


def restartable(job):
    return job.status == ExtractionJob.Status.RUNNING and (
        job.heartbeat_at is None or timezone.now() - job.heartbeat_at > timedelta(seconds=SILENT_SECONDS)
    )


def probe_row(run):
    timings = [f"queued {moment(run.created_at)}"]
    if run.started_at:
        timings.append(f"started {moment(run.started_at)}")
    if run.finished_at:
        timings.append(f"finished {moment(run.finished_at)}")
    timings += [f"{stage} {seconds(spent)}" for stage, spent in run.timings.items()]
    if run.tracks:
        timings.append(f"{run.tracks} tracks, {run.windows} windows")
    return {
        **common_row(run, reverse("analysis:probe-run-again", args=[run.pk])),
        "progress_text": f"{round(run.progress)}%" + (f" · {run.stage}" if run.stage else ""),
        "timings": timings,
        "space": run.space.name,
        # The layers page shows the active space's runs, and heatmaps once they exist.
        "results_url": f"{reverse('analysis:layers')}?run={run.pk}"
        if run.status == ProbeRun.Status.SUCCEEDED and run.space.is_active else "",
        "scope": run.dataset.name if run.dataset_id else "All tracks",
        "targets": ", ".join(run.targets) or "All targets",
    }


SUMMARY_ORDER = [JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.SUCCEEDED]


def summary(status=""):
    """E.g. "Extraction jobs: 3 running, 1 failed, 56 succeeded. Probe runs: 1 succeeded.":
    every job and run the status filter selects, not only those on the page."""
    parts = []
    for label, items in (("Extraction jobs", extraction_jobs(status)), ("Probe runs", probe_runs(status))):
        counts = dict(items.order_by().values_list("status").annotate(Count("pk")))
        said = [f"{counts[value]} {value.label.lower()}" for value in SUMMARY_ORDER if counts.get(value)]
        if said:
            parts.append(f"{label}: {', '.join(said)}.")
    return " ".join(parts) or "No jobs."


def board(jobs, runs, status=""):
    """What the page shows and status.json returns: the rows, the summary of every job and
    run of the status filter, and whether a row is still queued or running (the page keeps
    polling while one is)."""
    job_rows = [extraction_row(job) for job in jobs]
    run_rows = [probe_row(run) for run in runs]
    return {
        "extraction_jobs": job_rows,
        "probe_runs": run_rows,
        "summary": summary(status),
        "active": any(row["active"] for row in [*job_rows, *run_rows]),
    }


def ids(values):
    """Integer ids from query values; ValueError names the first that is not one."""
    parsed = []
    for value in values:
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a job id.")
        parsed.append(int(value))
    return parsed


def current_board(job_ids, run_ids, status=""):
    """These jobs and runs as they are now, and the summary under the page's status
    filter: the page's live updates."""
    return board(extraction_jobs().filter(pk__in=job_ids), probe_runs().filter(pk__in=run_ids), status)
