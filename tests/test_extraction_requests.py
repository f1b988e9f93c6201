"""Asking for extraction: one active job per track, queued after commit, stale jobs requeued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.models import ExtractionJob
from analysis.services import fail_job, request_extraction, requeue_stale_jobs, time_limits
from catalog.models import Track
from tests.factories import audio_bytes, make_dataset, make_track

pytestmark = pytest.mark.django_db


def test_a_request_queues_one_job_after_commit(django_capture_on_commit_callbacks):
    track = make_track()
    with django_capture_on_commit_callbacks() as callbacks:
        [job] = request_extraction([track])
    assert job.status == ExtractionJob.Status.QUEUED
    assert len(callbacks) == 1


def test_a_second_request_joins_the_pending_job(django_capture_on_commit_callbacks):
    track = make_track()
    with django_capture_on_commit_callbacks() as callbacks:
        [first] = request_extraction([track])
        [second] = request_extraction([track], force=True)
    assert first.pk == second.pk
    assert ExtractionJob.objects.get().force  # the joined job now recomputes
    assert len(callbacks) == 1


def test_uploading_a_track_queues_its_extraction(client, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.intake import ingest_upload

    with django_capture_on_commit_callbacks() as callbacks:
        track = ingest_upload(make_dataset(), SimpleUploadedFile("a.wav", audio_bytes()))
    assert ExtractionJob.objects.get(track=track).status == ExtractionJob.Status.QUEUED
    assert len(callbacks) == 1


def test_time_limits_grow_with_duration():
    short_soft, short_hard = time_limits(30)
    long_soft, long_hard = time_limits(3600)
    assert short_hard > short_soft >= 300
    assert long_soft > short_soft + 3600


def test_failing_a_job_records_the_reason_on_track_and_job():
    track = make_track()
    [job] = request_extraction([track])
    fail_job(job.pk, "the file is damaged at 0:42")
    job.refresh_from_db()
    track.refresh_from_db()
    assert job.status == ExtractionJob.Status.FAILED and job.error == "the file is damaged at 0:42"
    assert track.status == Track.Status.FAILED and track.error == "the file is damaged at 0:42"


def test_running_jobs_whose_worker_went_silent_are_requeued(settings, django_capture_on_commit_callbacks):
    settings.MESS_JOB_STALE_SECONDS = 60
    dataset = make_dataset()
    silent = make_track(dataset, title="silent")
    alive = make_track(dataset, title="alive", data=audio_bytes(fmt="FLAC"))
    now = timezone.now()
    for track, heartbeat in ((silent, now - timedelta(minutes=5)), (alive, now)):
        ExtractionJob.objects.create(track=track, status=ExtractionJob.Status.RUNNING, heartbeat_at=heartbeat)
    with django_capture_on_commit_callbacks() as callbacks:
        requeued = requeue_stale_jobs()
    assert [job.track for job in requeued] == [silent]
    assert len(callbacks) == 1
