"""The curators' pages: jobs (progress, errors, live status, retry) and upload (drop zone,
datasets made from a typed name)."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

import analysis.jobs
from analysis.models import EmbeddingSpace, ExtractionJob, ProbeRun
from catalog.models import Dataset, Track
from tests.factories import audio_bytes, make_dataset, make_track, make_user

pytestmark = pytest.mark.django_db

RUNNING, FAILED, QUEUED = ExtractionJob.Status.RUNNING, ExtractionJob.Status.FAILED, ExtractionJob.Status.QUEUED


@pytest.fixture
def jobs():
    dataset = make_dataset()
    fugue = make_track(dataset, title="Fugue in C minor", composer="Bach")
    nocturne = make_track(dataset, title="Nocturne", data=audio_bytes(fmt="FLAC"))
    running = ExtractionJob.objects.create(
        track=fugue, status=RUNNING, progress=42.0, windows_done=21, windows_total=50, worker="w1@gpu-host"
    )
    failed = ExtractionJob.objects.create(
        track=nocturne, status=FAILED, encoder="classic", error="Decoding stopped at 0:41: the file is damaged."
    )
    return {"running": running, "failed": failed, "fugue": fugue, "nocturne": nocturne}


@pytest.fixture
def space():
    return EmbeddingSpace.objects.create(
        name="tiny", model_id="tiny", weights_hash="0" * 64, num_layers=3, dim=32,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=True,
    )


@pytest.fixture
def listener(client):
    client.force_login(make_user("listener"))
    return client


@pytest.fixture
def curator(client):
    client.force_login(make_user("curator", staff=True, curator=True))
    return client


# --- Jobs page ----------------------------------------------------------------------


def test_jobs_pages_need_a_signed_in_user(client):
    response = client.get("/jobs/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/jobs/"
    assert client.get("/jobs/status.json").status_code == 403  # asked by a script: no login page


def test_jobs_page_lists_jobs_with_progress_status_and_errors(listener, jobs):
    response = listener.get("/jobs/")
    assert response.status_code == 200
    page = response.text
    running = jobs["running"].pk
    assert f'id="job-{running}" data-kind="job" data-id="{running}" data-status="running"' in page
    assert f'<progress max="100" value="42" aria-label="Progress of extraction job {running}"' in page
    assert "42% · 21 of 50 windows" in page
    assert "worker w1@gpu-host" in page
    assert "Decoding stopped at 0:41: the file is damaged." in page
    assert f'href="/tracks/{jobs["fugue"].pk}/"' in page
    assert "Classic MIR descriptors" in page
    assert "1 running, 1 failed" in page
    assert 'data-state="polling"' in page  # something is active: the script keeps polling
    assert "Retry" not in page  # a listener cannot start work


def test_jobs_page_filters_by_status(listener, jobs):
    page = listener.get("/jobs/", {"status": "failed"}).text
    assert f'id="job-{jobs["failed"].pk}"' in page
    assert f'id="job-{jobs["running"].pk}"' not in page
    assert 'data-state="idle"' in page


def test_jobs_page_lists_probe_runs(listener, space):
    run = ProbeRun.objects.create(space=space, status=ProbeRun.Status.RUNNING, progress=70, stage="probing layer 2")
    page = listener.get("/jobs/").text
    assert f'id="probe-{run.pk}" data-kind="probe"' in page
    assert "70% · probing layer 2" in page
    assert "All tracks" in page
    assert f'href="/layers/?run={run.pk}"' not in page  # no results yet
    ProbeRun.objects.filter(pk=run.pk).update(status=ProbeRun.Status.SUCCEEDED, progress=100)
    assert f'href="/layers/?run={run.pk}"' in listener.get("/jobs/").text


def test_status_json_reports_current_progress_of_the_listed_jobs(listener, jobs):
    running, failed = jobs["running"], jobs["failed"]
    query = {"job": [running.pk, failed.pk]}
    body = listener.get("/jobs/status.json", query).json()
    by_id = {row["id"]: row for row in body["extraction_jobs"]}
    assert by_id[running.pk]["progress"] == 42.0
    assert by_id[running.pk]["progress_text"] == "42% · 21 of 50 windows"
    assert by_id[failed.pk]["error"] == "Decoding stopped at 0:41: the file is damaged."
    assert body["summary"] == "Extraction jobs: 1 running, 1 failed."
    assert body["active"] is True

    ExtractionJob.objects.filter(pk=running.pk).update(progress=88.0, windows_done=44)
    body = listener.get("/jobs/status.json", query).json()
    assert {row["id"]: row["progress"] for row in body["extraction_jobs"]}[running.pk] == 88.0

    ExtractionJob.objects.filter(pk=running.pk).update(status=ExtractionJob.Status.SUCCEEDED, progress=100)
    body = listener.get("/jobs/status.json", query).json()
    assert body["active"] is False  # the page stops polling
    assert body["summary"] == "Extraction jobs: 1 failed, 1 succeeded."


def test_the_summary_counts_every_job_and_run_not_one_page(listener, jobs, space, monkeypatch):
    """The jobs page once said "51 succeeded" for 56 jobs and a probe run: it counted one page."""
    monkeypatch.setattr(analysis.jobs, "JOBS_PER_PAGE", 3)
    for _ in range(5):
        ExtractionJob.objects.create(track=jobs["fugue"], status=ExtractionJob.Status.SUCCEEDED)
    ProbeRun.objects.create(space=space, status=ProbeRun.Status.SUCCEEDED, progress=100)
    expected = "Extraction jobs: 1 running, 1 failed, 5 succeeded. Probe runs: 1 succeeded."
    page = listener.get("/jobs/").text
    assert expected in page
    assert page.count('data-kind="job"') == 3  # one page of rows, the whole count
    assert listener.get("/jobs/status.json", {"job": [jobs["running"].pk]}).json()["summary"] == expected
    # Under a status filter, the summary counts what the filter selects, on the page and live.
    assert "Extraction jobs: 1 failed." in listener.get("/jobs/", {"status": "failed"}).text
    live = listener.get("/jobs/status.json", {"job": [jobs["failed"].pk], "status": "failed"}).json()
    assert live["summary"] == "Extraction jobs: 1 failed."


def test_status_json_refuses_ids_that_are_not_numbers(listener):
    response = listener.get("/jobs/status.json", {"job": "1;drop"})
    assert response.status_code == 400
    assert "not a job id" in response.json()["error"]["message"]


def test_a_curator_sees_retry_on_failed_jobs_only(curator, jobs):
    page = curator.get("/jobs/").text
    assert f'action="/jobs/extraction/{jobs["failed"].pk}/retry/"' in page
    assert f'action="/jobs/extraction/{jobs["running"].pk}/retry/"' not in page
    assert '<template id="start-again-job">' in page  # for rows that fail while the page is open


def test_retry_by_a_curator_queues_a_new_job_for_the_track(curator, jobs, django_capture_on_commit_callbacks):
    failed = jobs["failed"]
    with django_capture_on_commit_callbacks() as callbacks:
        response = curator.post(f"/jobs/extraction/{failed.pk}/retry/", {"next": "/jobs/?status=failed"})
    assert response.status_code == 302 and response["Location"] == "/jobs/?status=failed"
    retry = ExtractionJob.objects.exclude(pk=failed.pk).get(track=jobs["nocturne"])
    assert retry.status == QUEUED and retry.encoder == "classic"
    assert len(callbacks) == 1  # sent to the ml queue on commit
    assert Track.objects.get(pk=jobs["nocturne"].pk).status == Track.Status.PENDING
    page = curator.get("/jobs/").text
    assert f"queued again as job {retry.pk}" in page


def test_retry_is_refused_while_the_track_has_an_active_job(curator, jobs, django_capture_on_commit_callbacks):
    failed = jobs["failed"]
    pending = ExtractionJob.objects.create(track=failed.track, encoder=failed.encoder, status=QUEUED)
    with django_capture_on_commit_callbacks() as callbacks:
        response = curator.post(f"/jobs/extraction/{failed.pk}/retry/", follow=True)
    assert ExtractionJob.objects.filter(track=failed.track).count() == 2
    assert not callbacks
    assert f"already has extraction job {pending.pk} queued" in response.text
    assert 'role="alert"' in response.text


def test_retry_of_a_job_that_has_not_failed_is_refused(curator, jobs):
    response = curator.post(f"/jobs/extraction/{jobs['running'].pk}/retry/", follow=True)
    assert ExtractionJob.objects.count() == 2
    assert "only failed jobs can be retried" in response.text


def test_retry_redirects_only_to_this_site(curator, jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = curator.post(f"/jobs/extraction/{jobs['failed'].pk}/retry/", {"next": "https://evil.example/"})
    assert response["Location"] == "/jobs/"


def test_non_curators_cannot_retry(client, listener, jobs):
    url = f"/jobs/extraction/{jobs['failed'].pk}/retry/"
    assert listener.post(url).status_code == 403
    client.logout()
    assert client.post(url)["Location"].startswith("/accounts/login/")
    assert ExtractionJob.objects.count() == 2


def test_a_failed_probe_run_runs_again_with_the_same_parameters(curator, space, django_capture_on_commit_callbacks):
    dataset = make_dataset("Piano")
    failed = ProbeRun.objects.create(
        space=space, dataset=dataset, targets=["spectral_centroid"], parameters={"folds": 3},
        status=ProbeRun.Status.FAILED, error="Too few tracks with features: 2 (at least 3).",
    )
    page = curator.get("/jobs/").text
    assert "Too few tracks with features: 2 (at least 3)." in page
    assert f'action="/jobs/probes/{failed.pk}/run-again/"' in page
    with django_capture_on_commit_callbacks() as callbacks:
        curator.post(f"/jobs/probes/{failed.pk}/run-again/")
    again = ProbeRun.objects.exclude(pk=failed.pk).get()
    assert (again.space, again.dataset) == (space, dataset)
    assert (again.targets, again.parameters) == (["spectral_centroid"], {"folds": 3})
    assert again.status == ProbeRun.Status.QUEUED and again.requested_by.username == "curator"
    assert len(callbacks) == 1


def test_a_probe_run_with_a_target_that_no_longer_exists_is_not_run_again(curator, space):
    failed = ProbeRun.objects.create(space=space, targets=["retired_target"], status=ProbeRun.Status.FAILED)
    response = curator.post(f"/jobs/probes/{failed.pk}/run-again/", follow=True)
    assert "cannot run again: Unknown target(s) retired_target" in response.text
    assert ProbeRun.objects.count() == 1


def test_non_curators_cannot_run_probes_again(listener, space):
    failed = ProbeRun.objects.create(space=space, status=ProbeRun.Status.FAILED)
    assert listener.post(f"/jobs/probes/{failed.pk}/run-again/").status_code == 403
    assert ProbeRun.objects.count() == 1


# --- Upload page --------------------------------------------------------------------


def test_upload_page_needs_the_add_track_permission(client):
    response = client.get("/upload/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(make_user("listener"))
    assert client.get("/upload/").status_code == 403


def test_upload_page_has_a_drop_zone_a_labelled_file_input_and_the_datasets(curator):
    make_dataset("Piano recordings", slug="piano")
    page = curator.get("/upload/").text
    assert 'id="drop-zone"' in page
    assert '<label for="upload-files">Audio files</label>' in page
    assert '<input type="file" id="upload-files" multiple accept="audio/*"' in page
    assert '<option value="piano">Piano recordings</option>' in page  # by slug, as the API takes it
    assert 'id="upload-new_dataset"' in page
    for name in ("composer", "work", "performer"):
        assert f'<label for="upload-{name}">' in page
    assert 'id="upload-config"' in page and "/api/v1/tracks/" in page


def test_a_typed_dataset_name_becomes_a_dataset_the_api_uploads_into(curator):
    response = curator.post("/upload/", {"name": "Field recordings"})
    assert response.status_code == 200
    slug = response.json()["slug"]
    dataset = Dataset.objects.get(slug=slug)
    assert dataset.name == "Field recordings" and dataset.source_kind == Dataset.SourceKind.UPLOAD
    # The same name in another case is the same dataset, so a second batch joins the first.
    assert curator.post("/upload/", {"name": "field RECORDINGS"}).json()["slug"] == slug

    upload = SimpleUploadedFile("birdsong.wav", audio_bytes())
    response = curator.post("/api/v1/tracks/", {"file": upload, "dataset": slug, "composer": "Nature"})
    assert response.status_code == 201
    assert Track.objects.get(pk=response.json()["id"]).dataset == dataset


def test_a_dataset_needs_a_name(curator):
    response = curator.post("/upload/", {"name": "  "})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Dataset name:")
    assert not Dataset.objects.exists()


def test_only_users_who_may_add_datasets_create_them(client):
    user = make_user("uploader")
    user.user_permissions.add(Permission.objects.get(codename="add_track", content_type__app_label="catalog"))
    client.force_login(user)
    page = client.get("/upload/").text
    assert 'id="upload-new_dataset"' not in page
    assert client.post("/upload/", {"name": "Mine"}).status_code == 403
    assert not Dataset.objects.exists()
