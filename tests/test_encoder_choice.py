"""Which encoder extraction uses: the active space's, whatever the MESS_ENCODER of the
process asking; with no active space, MESS_ENCODER, where "auto" leaves the choice to the
worker, which makes it once, records it on the job, and says why."""

import logging
from io import StringIO

import pytest
from django.core.management import call_command
from huggingface_hub import constants as hub_constants

from analysis import encoder_choice, extraction
from analysis.models import EmbeddingSpace, Encoder, ExtractionJob, TrackEmbedding
from analysis.services import activate_space, request_extraction
from catalog.models import Track
from tests.factories import make_dataset, make_track, run_queued_extraction, tone, upload_tone, write_audio

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_choice():
    """Each test is a new worker process: "auto" not yet resolved."""
    extraction.auto_choice.cache_clear()
    yield
    extraction.auto_choice.cache_clear()


@pytest.fixture
def without_mert(settings, tmp_path, monkeypatch):
    settings.MESS_MERT_MODEL = "mess-tests/absent-mert"
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)


def test_a_folder_import_from_a_shell_with_another_encoder_queues_the_active_spaces(settings, tmp_path):
    activate_space(extraction.space_for(extraction.load_encoder("classic")))
    settings.MESS_ENCODER = "mert"  # the shell's, not the server's
    folder = tmp_path / "music"
    for name in ("a.wav", "b.flac"):
        write_audio(folder / name, tone(seconds=2.0))
    call_command("import_dataset", "folder", str(folder), stdout=StringIO(), stderr=StringIO())
    call_command("extract", "--dataset", "music", stdout=StringIO())  # joins the import's jobs

    assert Track.objects.count() == 2
    assert sorted(ExtractionJob.objects.values_list("encoder", flat=True)) == ["classic", "classic"]


def test_with_no_active_space_requests_follow_mess_encoder(settings):
    track = make_track()
    settings.MESS_ENCODER = "auto"
    [auto] = request_extraction([track])
    settings.MESS_ENCODER = "musicnn"
    [musicnn] = request_extraction([track])
    assert (auto.encoder, musicnn.encoder) == ("auto", "musicnn")


@pytest.mark.parametrize("wheel, chosen", [(True, Encoder.MUSICNN_CLASSIC), (False, Encoder.CLASSIC)])
def test_auto_jobs_record_the_encoder_the_worker_chose_once(settings, without_mert, monkeypatch, caplog, wheel, chosen):
    settings.MESS_ENCODER = "auto"
    if not wheel:
        monkeypatch.setattr(encoder_choice, "find_spec", lambda name: None)
    probes = []
    real_probe = encoder_choice.mert_problem
    monkeypatch.setattr(encoder_choice, "mert_problem", lambda say: probes.append(1) or real_probe(say))
    dataset = make_dataset()
    tracks = [upload_tone(dataset, f"{i}.wav", seconds=6.0, seed=i) for i in range(2)]
    assert set(ExtractionJob.objects.values_list("encoder", flat=True)) == {"auto"}

    with caplog.at_level(logging.INFO, logger="analysis.extraction"):
        for track in tracks:
            run_queued_extraction(track)

    assert len(probes) == 1  # MERT is probed once per process, not per job
    assert f"MESS_ENCODER=auto: the {chosen} encoder runs" in caplog.text and "MERT is not used" in caplog.text
    for job in ExtractionJob.objects.all():
        assert (job.status, job.encoder, job.space.encoder) == ("succeeded", chosen, chosen), job.error
    space = EmbeddingSpace.objects.get()
    assert space.is_active and TrackEmbedding.objects.filter(space=space).count() == 2 * space.num_layers


def test_an_auto_job_joins_the_active_job_of_the_encoder_chosen(settings):
    track = make_track()
    settings.MESS_ENCODER = "auto"
    [auto] = request_extraction([track], force=True)
    [classic] = request_extraction([track], encoder="classic")
    settings.MESS_ENCODER = "classic"  # the worker's

    extraction.run_extraction_job(auto.pk, worker="in-process")

    auto.refresh_from_db()
    classic.refresh_from_db()
    assert (auto.status, auto.encoder) == ("succeeded", "classic")
    assert (classic.status, classic.force) == ("queued", True)  # it does the work, as asked
    assert not TrackEmbedding.objects.exists()
