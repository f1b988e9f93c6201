"""A job whose worker was killed mid-track (SIGKILL, then `manage.py up` again at once):
requeued as soon as its worker is known to be gone, not 300 s or 6 h later, and a curator
can restart it from the jobs page or the API; a live job is not restarted."""

import os
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from analysis import services
from analysis.models import ExtractionJob, TrackEmbedding
from analysis.services import requeue_stale_jobs
from catalog.models import Track
from messsite.celery import app as celery_app
from tests.factories import audio_bytes, make_dataset, make_track, make_user, token_for, tone, upload_tone

RUNNING, QUEUED = ExtractionJob.Status.RUNNING, ExtractionJob.Status.QUEUED
BACKEND = "django.contrib.auth.backends.ModelBackend"


def left_running(track, *, worker, seconds_ago):
    """What a killed worker leaves: its job running, its track processing, no rows."""
    job = ExtractionJob.objects.filter(track=track).first() or ExtractionJob(track=track)
    job.status, job.worker, job.progress = RUNNING, worker, 40.0
    job.heartbeat_at = timezone.now() - timedelta(seconds=seconds_ago)
    job.save()
    Track.objects.filter(pk=track.pk).update(status=Track.Status.PROCESSING)
    return job


@pytest.fixture
def tracks(db):
    dataset = make_dataset()
    return [make_track(dataset, title=f"t{i}", data=audio_bytes(tone(freq=220.0 + 55 * i))) for i in range(4)]


def answering(*names):
    return lambda: set(names)


# --- At worker start ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_starting_worker_requeues_its_own_leftovers_and_those_of_silent_unanswering_workers_at_once(
    settings, tracks, django_capture_on_commit_callbacks
):
    assert settings.MESS_JOB_STALE_SECONDS == 300
    own = left_running(tracks[0], worker="mess@host", seconds_ago=5)  # killed 5 s ago, restarted at once
    gone = left_running(tracks[1], worker="mess@other", seconds_ago=90)  # silent, does not answer
    busy = left_running(tracks[2], worker="mess@busy", seconds_ago=90)  # silent but answers
    live = left_running(tracks[3], worker="mess@live", seconds_ago=2)  # reporting
    with django_capture_on_commit_callbacks() as callbacks:
        requeued = requeue_stale_jobs(starting_worker="mess@host", alive=answering("mess@busy", "mess@live"))

    assert sorted(job.pk for job in requeued) == sorted([own.pk, gone.pk])
    assert len(callbacks) == 2  # sent to the ml queue again
    for job in (own, gone):
        job.refresh_from_db()
        assert job.status == QUEUED and job.track.status == Track.Status.PENDING
    for job in (busy, live):
        job.refresh_from_db()
        assert job.status == RUNNING and Track.objects.get(pk=job.track_id).status == Track.Status.PROCESSING


@pytest.mark.django_db
def test_not_knowing_who_answers_requeues_only_own_and_stale_leftovers(settings, tracks):
    settings.MESS_JOB_STALE_SECONDS = 300
    silent = left_running(tracks[0], worker="mess@other", seconds_ago=90)
    stale = left_running(tracks[1], worker="mess@other2", seconds_ago=400)
    requeued = requeue_stale_jobs(starting_worker="mess@host", alive=lambda: None)  # broker unreachable
    assert [job.pk for job in requeued] == [stale.pk]
    silent.refresh_from_db()
    assert silent.status == RUNNING


@pytest.fixture
def worker_env(tiny_mert):
    # The default staleness (300 s): recovery must not depend on it.
    return {"MESS_MERT_MODEL": str(tiny_mert), "MESS_MERT_PRECISION": "exact", "MESS_JOB_STALE_SECONDS": "300"}


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("use_tiny_mert")
def test_a_worker_restarted_at_once_after_being_killed_finishes_the_track_it_was_on(request):
    from tests.test_extraction_end_to_end import LAYERS, wait_until

    track = upload_tone(make_dataset(), "killed-mid-track.wav", seconds=6.0)
    # Killed 3 s ago by SIGKILL; `manage.py up` starts the same worker name again right away.
    job = left_running(track, worker=f"test-{os.getpid()}@localhost", seconds_ago=3)
    celery_app.control.purge()  # its message went down with the worker
    request.getfixturevalue("celery_worker_process")
    wait_until(lambda: Track.objects.get(pk=track.pk).status == Track.Status.READY, message="recovery", timeout=60)
    assert TrackEmbedding.objects.filter(track=track).count() == LAYERS
    job.refresh_from_db()
    assert job.status == ExtractionJob.Status.SUCCEEDED and job.attempts == 1


# --- A curator's restart -----------------------------------------------------------------


@pytest.fixture
def curator(client):
    client.force_login(make_user("curator", staff=True, curator=True), backend=BACKEND)
    return client


def auth(user):
    return {"HTTP_AUTHORIZATION": f"Token {token_for(user)}"}


@pytest.mark.django_db
def test_the_jobs_page_offers_restart_only_on_silent_running_jobs(curator, tracks):
    silent = left_running(tracks[0], worker="mess@host", seconds_ago=120)
    live = left_running(tracks[1], worker="mess@live", seconds_ago=1)
    page = curator.get("/jobs/").text
    assert f'action="/jobs/extraction/{silent.pk}/restart/"' in page
    assert f'action="/jobs/extraction/{live.pk}/restart/"' not in page
    assert f"Restart extraction job {silent.pk}" in page


@pytest.mark.django_db
def test_a_curator_restarts_a_silent_job_from_the_jobs_page(curator, tracks, django_capture_on_commit_callbacks):
    job = left_running(tracks[0], worker="mess@host", seconds_ago=120)
    with django_capture_on_commit_callbacks() as callbacks:
        response = curator.post(f"/jobs/extraction/{job.pk}/restart/")
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == QUEUED and job.track.status == Track.Status.PENDING
    assert "restarted" in [str(m) for m in get_messages(response.wsgi_request)][0]
    assert ExtractionJob.objects.filter(track=job.track).count() == 1  # the same job, not a second one


@pytest.mark.django_db
def test_a_job_whose_worker_no_longer_answers_can_be_restarted_before_it_goes_silent(
    curator, tracks, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "live_workers", answering("mess@other"))
    job = left_running(tracks[0], worker="mess@host", seconds_ago=3)
    with django_capture_on_commit_callbacks():
        curator.post(f"/jobs/extraction/{job.pk}/restart/")
    job.refresh_from_db()
    assert job.status == QUEUED


@pytest.mark.django_db
@pytest.mark.parametrize("answers", [{"mess@live"}, None], ids=["worker answers", "broker unreachable"])
def test_restarting_a_live_job_is_refused_politely(curator, tracks, monkeypatch, answers):
    monkeypatch.setattr(services, "live_workers", lambda: answers)
    job = left_running(tracks[0], worker="mess@live", seconds_ago=3)
    response = curator.post(f"/jobs/extraction/{job.pk}/restart/", follow=True)
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Job {job.pk} is still running: worker mess@live reported")
    job.refresh_from_db()
    assert job.status == RUNNING


@pytest.mark.django_db
def test_only_running_jobs_are_restarted(curator, tracks):
    job = ExtractionJob.objects.create(track=tracks[0], status=ExtractionJob.Status.FAILED, error="bad")
    response = curator.post(f"/jobs/extraction/{job.pk}/restart/", follow=True)
    assert "only a running job whose worker stopped can be restarted" in response.text
    job.refresh_from_db()
    assert job.status == ExtractionJob.Status.FAILED


@pytest.mark.django_db
def test_the_api_restarts_a_silent_job_and_refuses_a_live_one(client, tracks, monkeypatch):
    monkeypatch.setattr(services, "live_workers", answering("mess@live"))
    headers = auth(make_user("curator", staff=True, curator=True))
    silent = left_running(tracks[0], worker="mess@host", seconds_ago=120)
    live = left_running(tracks[1], worker="mess@live", seconds_ago=2)

    response = client.post(f"/api/v1/extraction-jobs/{silent.pk}/restart/", **headers)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"

    response = client.post(f"/api/v1/extraction-jobs/{live.pk}/restart/", **headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_restartable"
    assert "still running" in response.json()["error"]["message"]
    live.refresh_from_db()
    assert live.status == RUNNING


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["listener", "staff"])
def test_non_curators_cannot_restart_on_either_surface(client, tracks, who):
    user = make_user(who, staff=who == "staff")
    job = left_running(tracks[0], worker="mess@host", seconds_ago=120)
    assert client.post(f"/api/v1/extraction-jobs/{job.pk}/restart/", **auth(user)).status_code == 403
    client.force_login(user, backend=BACKEND)
    assert client.post(f"/jobs/extraction/{job.pk}/restart/").status_code == 403
    job.refresh_from_db()
    assert job.status == RUNNING
