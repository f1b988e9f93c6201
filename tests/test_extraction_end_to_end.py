"""From an uploaded file to embeddings in pgvector, with the tiny MERT-shaped checkpoint
loaded through the same code path as a real model: in-process and on a real worker."""

import time
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analysis.embeddings import load_window_features, track_vectors
from analysis.models import EmbeddingSpace, ExtractionJob, TrackEmbedding, TrackFeatures
from analysis.services import request_extraction
from catalog.models import Track
from tests.conftest import TINY_DIM, TINY_LAYERS
from messsite.celery import app as celery_app
from tests.factories import audio_bytes, make_dataset, make_user, run_queued_extraction, token_for, tone, upload_tone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_tiny_mert")]
LAYERS, DIM = TINY_LAYERS, TINY_DIM


def test_a_track_gets_one_vector_per_layer_and_its_window_features():
    track = upload_tone(make_dataset(), "twelve-seconds.wav")
    run_queued_extraction(track)

    track.refresh_from_db()
    assert track.status == Track.Status.READY, track.error
    space = EmbeddingSpace.objects.get()
    assert space.is_active and (space.num_layers, space.dim) == (LAYERS, DIM)
    assert TrackEmbedding.objects.filter(track=track, space=space).count() == LAYERS
    features = TrackFeatures.objects.get(track=track)
    # 12 s, 5 s windows every 2.5 s: 0, 2.5, 5, and one more ending at the track's end.
    assert features.window_starts == [0.0, 2.5, 5.0, 7.0]
    windows = load_window_features(features.path)
    assert windows.shape == (4, LAYERS, DIM)
    np.testing.assert_allclose(track_vectors(track, space), windows.astype(np.float32).mean(axis=0), atol=1e-2)
    job = ExtractionJob.objects.get(track=track)
    assert job.status == ExtractionJob.Status.SUCCEEDED
    assert (job.progress, job.windows_done, job.windows_total) == (100, 4, 4)
    assert job.extract_seconds > 0


def test_extraction_is_idempotent_and_forcing_replaces_everything():
    track = upload_tone(make_dataset(), "again.wav")
    run_queued_extraction(track)
    first = TrackFeatures.objects.get(track=track)

    request_extraction([track])
    run_queued_extraction(track)
    assert TrackFeatures.objects.get(track=track).path == first.path  # current: nothing recomputed

    request_extraction([track], force=True)
    run_queued_extraction(track)
    assert TrackFeatures.objects.get(track=track).path != first.path
    assert TrackEmbedding.objects.filter(track=track).count() == LAYERS
    assert ExtractionJob.objects.filter(track=track, status=ExtractionJob.Status.SUCCEEDED).count() == 3


def test_bad_audio_fails_only_its_own_track():
    dataset = make_dataset()
    good, damaged = upload_tone(dataset, "good.wav", seed=1), upload_tone(dataset, "damaged.wav", seed=2)
    # The stored file is damaged after intake accepted it (disk error, tampering...).
    path = damaged.storage.path(damaged.audio_path)
    with open(path, "r+b") as f:
        f.seek(44)
        f.write(b"\x00garbage" * 20)
        f.truncate(200)

    run_queued_extraction(damaged)
    run_queued_extraction(good)

    damaged.refresh_from_db()
    good.refresh_from_db()
    assert damaged.status == Track.Status.FAILED
    assert "damaged.wav" in damaged.error or "decode" in damaged.error.lower(), damaged.error
    assert not TrackEmbedding.objects.filter(track=damaged).exists()
    assert good.status == Track.Status.READY
    assert ExtractionJob.objects.get(track=damaged).error == damaged.error


def wait_until(condition, timeout=90, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture
def worker_env(tiny_mert):
    return {"MESS_MERT_MODEL": str(tiny_mert), "MESS_MERT_PRECISION": "exact", "MESS_JOB_STALE_SECONDS": "0"}


@pytest.mark.broker
def test_an_upload_through_the_api_ends_as_vectors_in_pgvector(client, celery_worker_process):
    curator = make_user("curator", staff=True, curator=True)
    dataset = make_dataset()
    response = client.post(
        "/api/v1/tracks/",
        {"file": SimpleUploadedFile("api.wav", audio_bytes(tone(seconds=6.0))), "dataset": dataset.slug},
        HTTP_AUTHORIZATION=f"Token {token_for(curator)}",
    )
    assert response.status_code == 201, response.content
    track_id = response.json()["id"]

    wait_until(lambda: TrackEmbedding.objects.filter(track_id=track_id).count() == LAYERS, message="embeddings")
    job = ExtractionJob.objects.get(track_id=track_id)
    assert job.status == ExtractionJob.Status.SUCCEEDED and job.worker == celery_worker_process
    assert Track.objects.get(pk=track_id).status == Track.Status.READY
    jobs = client.get(
        f"/api/v1/extraction-jobs/?track={track_id}", HTTP_AUTHORIZATION=f"Token {token_for(curator)}"
    ).json()["results"]
    assert jobs[0]["progress"] == 100


@pytest.fixture
def track_left_running_by_a_killed_worker():
    """What a worker killed mid-track leaves: a running job with an old heartbeat and no rows."""
    track = upload_tone(make_dataset(), "interrupted.wav", seconds=6.0)
    ExtractionJob.objects.filter(track=track).update(
        status=ExtractionJob.Status.RUNNING, worker="killed@host", heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    Track.objects.filter(pk=track.pk).update(status=Track.Status.PROCESSING)
    celery_app.control.purge()  # its message went down with the worker
    return track


@pytest.mark.broker
def test_a_starting_worker_picks_up_a_track_whose_worker_was_killed(track_left_running_by_a_killed_worker, request):
    track = track_left_running_by_a_killed_worker
    request.getfixturevalue("celery_worker_process")  # starts after the killed worker's leftovers exist
    wait_until(lambda: Track.objects.get(pk=track.pk).status == Track.Status.READY, message="recovery")
    assert TrackEmbedding.objects.filter(track=track).count() == LAYERS
    assert ExtractionJob.objects.get(track=track).attempts >= 1


def test_a_model_that_cannot_load_fails_the_job_with_instructions(settings, tmp_path):
    settings.MESS_MERT_MODEL = str(tmp_path / "no-such-model")
    (tmp_path / "no-such-model").mkdir()
    track = upload_tone(make_dataset(), "waiting.wav")
    run_queued_extraction(track)
    track.refresh_from_db()
    assert track.status == Track.Status.FAILED
    assert track.error.startswith("The MERT model could not be loaded:") and "config.json" in track.error


def test_the_extract_command_runs_here_and_can_keep_temporal_features(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    track = upload_tone(make_dataset(), "command.wav", seconds=6.0)
    out, err = StringIO(), StringIO()
    call_command("extract", "--track", str(track.pk), "--sync", "--force", "--temporal", str(tmp_path), stdout=out, stderr=err)

    assert "1 succeeded" in out.getvalue()
    assert "window" not in err.getvalue()  # no progress bar when stderr is not a terminal
    temporal = np.load(tmp_path / f"track-{track.pk}.npy")
    # 6 s: windows at 0 and 1 s; 5 s at 75 frames/s is 374 frames after the conv front end.
    assert temporal.shape == (2, LAYERS, 374, DIM)
    assert TrackEmbedding.objects.filter(track=track).count() == LAYERS


def test_a_search_clip_is_embedded_and_its_audio_dropped(settings):
    from django.core.files.storage import default_storage

    from analysis.clips import create_clip_query
    from analysis.extraction import run_clip_query
    from analysis.models import ClipQuery

    clip = create_clip_query(SimpleUploadedFile("hum.wav", audio_bytes(tone(seconds=7.0))))
    stored_audio = clip.audio_path
    assert default_storage.exists(stored_audio)
    run_clip_query(clip.pk)

    clip.refresh_from_db()
    assert clip.status == ClipQuery.Status.SUCCEEDED, clip.error
    assert clip.space == EmbeddingSpace.objects.get(is_active=True)
    assert load_window_features(clip.features_path).shape == (2, LAYERS, DIM)
    assert clip.window_starts == [0.0, 2.0]
    assert not default_storage.exists(stored_audio) and clip.audio_path == ""


def test_a_clip_longer_than_allowed_is_refused_before_anything_is_stored(settings):
    from analysis.clips import create_clip_query
    from analysis.models import ClipQuery
    from catalog.audio import AudioRejected

    settings.MESS_CLIP_MAX_SECONDS = 5
    with pytest.raises(AudioRejected, match="search clips may be at most 5 s") as rejected:
        create_clip_query(SimpleUploadedFile("long.wav", audio_bytes(tone(seconds=8.0))))
    assert rejected.value.code == "too_long"
    assert not ClipQuery.objects.exists()
    assert not list((settings.MEDIA_ROOT).rglob("*.*"))
