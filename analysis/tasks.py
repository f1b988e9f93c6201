"""Celery tasks of the analysis app. Routed to the "ml" queue (messsite/celery.py), so
only workers with torch run them; the bodies import the model code lazily so that the
web process can import this module to enqueue."""

import logging
import socket

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

# Worth another try: the database or storage blinked, not the audio.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class RecordedFailureTask(DjangoTask):
    """Whatever stops the task for good (time limit, retries used up, a bug) ends up on
    its row as a reason for people, and the worker carries on."""

    activity = ""  # "Extraction", "Probing"

    def record_failure(self, row_id, reason):
        raise NotImplementedError

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, SoftTimeLimitExceeded):
            limit = self.request.timelimit[1] or "?"
            reason = f"{self.activity} took longer than its time limit ({limit} s) and was stopped."
        elif isinstance(exc, TRANSIENT_ERRORS):
            reason = f"{self.activity} failed {self.max_retries + 1} times on a temporary error: {exc}"
        else:
            reason = f"{self.activity} failed unexpectedly ({type(exc).__name__}: {exc}); see the worker log."
        self.record_failure(args[0], reason)


class ExtractionTask(RecordedFailureTask):
    activity = "Extraction"

    def record_failure(self, job_id, reason):
        from analysis.services import fail_job

        fail_job(job_id, reason)


class ProbeTask(RecordedFailureTask):
    activity = "Probing"

    def record_failure(self, run_id, reason):
        from analysis.probing import fail_run

        fail_run(run_id, reason)


@shared_task(
    base=ExtractionTask,
    bind=True,
    name="analysis.tasks.extract_track",
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def extract_track(self, job_id):
    from analysis.extraction import run_extraction_job

    run_extraction_job(job_id, worker=self.request.hostname or socket.gethostname())


@shared_task(name="analysis.tasks.embed_clip", autoretry_for=TRANSIENT_ERRORS, retry_backoff=2, max_retries=3)
def embed_clip(clip_id):
    from analysis.extraction import run_clip_query

    run_clip_query(clip_id)


@shared_task(base=ProbeTask, name="analysis.tasks.probe_space", autoretry_for=TRANSIENT_ERRORS, retry_backoff=5,
             max_retries=3, soft_time_limit=5 * 3600, time_limit=5 * 3600 + 300)  # under the broker visibility timeout
def probe_space(run_id):
    from analysis.probing import run_probe

    run_probe(run_id)


@worker_ready.connect
def requeue_abandoned_jobs(sender=None, **kwargs):
    """A worker killed mid-track leaves its job 'running' with no one on it; a worker
    that starts puts such jobs back in the queue (their old rows were never replaced):
    its own leftovers (same name: `manage.py up` runs one worker per host) at once, those
    of a worker that no longer answers once they are silent, any after MESS_JOB_STALE_SECONDS."""
    if "ml" not in {queue.name for queue in sender.app.amqp.queues.consume_from.values()}:
        return
    from analysis.services import live_workers, requeue_stale_jobs

    requeued = requeue_stale_jobs(starting_worker=sender.hostname, alive=live_workers)
    if requeued:
        logging.getLogger(__name__).warning(
            "requeued %d extraction job(s) left running by a stopped worker: %s",
            len(requeued), ", ".join(str(job.pk) for job in requeued),
        )
