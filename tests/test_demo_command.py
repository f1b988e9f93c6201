"""`manage.py demo` prepares the demo platform in one command (corpus, encoder, extraction,
probe, indexes, accounts), and a second run reuses all of it."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from huggingface_hub import constants as hub_constants

from analysis import encoder_choice
from analysis.classic import ClassicEncoder
from analysis.encoder_choice import EncoderUnavailable, choose_encoder
from analysis.models import AUTO_ENCODER, EmbeddingSpace, Encoder, ExtractionJob, ProbeRun, TrackEmbedding, TrackTags
from catalog.models import Track
from recommendations import index
from tests.conftest import child_database_url

ROOT = Path(__file__).resolve().parent.parent
LIMIT, SECONDS = 6, 6.0  # 6 tracks: the fewest a probe can fold (2 outer x 3 inner, by track)
ABSENT_MODEL = "mess-tests/absent-mert"


def run_demo(data_dir, settings, *args, **env):
    """`manage.py demo --no-serve` in its own process, on this test's database and folders."""
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--limit", str(LIMIT), "--seconds", str(SECONDS), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DATABASE_URL": child_database_url(), "MESS_DATA_DIR": str(data_dir),
             "MEDIA_ROOT": str(settings.MEDIA_ROOT), "MESS_INDEX_DIR": str(settings.MESS_INDEX_DIR),
             "MESS_TARGET_CACHE_DIR": str(settings.MESS_TARGET_CACHE_DIR), **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def index_files(settings):
    return {path: path.stat().st_mtime_ns for path in Path(settings.MESS_INDEX_DIR).glob("*.faiss")}


def test_demo_prepares_a_probed_indexed_catalogue_and_a_rerun_reuses_it(transactional_db, settings, tmp_path_factory):
    """With no network and no MERT, as on the build machines: musicnn + classic, tagged, probed."""
    data_dir = tmp_path_factory.mktemp("demo")  # short: the embedded Redis's socket lives there
    without_mert = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(data_dir / "hf-cache"),
                    "MESS_MERT_MODEL": ABSENT_MODEL, "MESS_CURATOR_PASSWORD": "curator-test-pw"}
    output = run_demo(data_dir, settings, **without_mert)

    assert "MERT is not used: " in output and "Using the musicnn+classic encoder instead" in output
    # Quiet enough that its summary and logins stay on one screen: no line per excerpt, per
    # probe target or per index layer (the full catalogue's 52 excerpts once made ~120 lines).
    assert len(output.splitlines()) <= 45, output
    assert "rendered " not in output and "Best layer per target" not in output and " layer 0: " not in output
    assert "Aspects (layers chosen" in output and "layers of " in output and " indexed (" in output
    tracks = Track.objects.filter(dataset__slug="demo")
    assert tracks.count() == LIMIT
    assert set(tracks.values_list("status", flat=True)) == {Track.Status.READY}
    space = EmbeddingSpace.objects.get(is_active=True)
    assert (space.encoder, space.model_id) == (Encoder.MUSICNN_CLASSIC, f"MTT_musicnn+{ClassicEncoder.model_id}")
    assert space.layer_names[0] == "musicnn:timbral" and space.layer_names[-1] == "classic:dynamics"
    for track in tracks:
        assert TrackEmbedding.objects.filter(space=space, track=track).count() == space.num_layers
    assert TrackTags.objects.filter(space=space, track__in=tracks).exclude(tags=[]).count() == LIMIT
    # The import queued the chosen encoder, and the demo ran those very jobs: one per track.
    succeeded = ExtractionJob.objects.filter(encoder=Encoder.MUSICNN_CLASSIC, status=ExtractionJob.Status.SUCCEEDED)
    assert succeeded.count() == LIMIT
    assert not ExtractionJob.objects.exclude(encoder=Encoder.MUSICNN_CLASSIC).exists()
    run = ProbeRun.objects.get(space=space)
    assert (run.status, run.tracks, run.parameters["folds"]) == (ProbeRun.Status.SUCCEEDED, LIMIT, 2)
    assert run.results.filter(r2__isnull=False).exists()
    indexes = index_files(settings)
    for layer in range(space.num_layers):
        assert index._path(space.pk, space.created_at, layer, space.version) in indexes

    curator = get_user_model().objects.get(username="curator")
    assert curator.is_staff and not curator.is_superuser
    assert list(curator.groups.values_list("name", flat=True)) == ["Curators"]
    assert curator.has_perm("catalog.add_track") and curator.has_perm("analysis.add_proberun")
    assert curator.check_password("curator-test-pw")
    assert (data_dir / "curator_password").read_text() == "curator-test-pw"
    assert "Login: curator / curator-test-pw" in output
    assert get_user_model().objects.get(username="admin").is_superuser
    assert "Login: admin / " in output

    began = time.monotonic()
    output = run_demo(data_dir, settings, **without_mert)
    rerun_seconds = time.monotonic() - began

    assert f"0 rendered, {LIMIT} reused" in output
    assert f"0 extracted, {LIMIT} already current" in output
    assert f"Probe run {run.pk} already covers these tracks" in output
    assert ExtractionJob.objects.count() == LIMIT
    assert ProbeRun.objects.count() == 1
    assert index_files(settings) == indexes  # mapped again, not rebuilt
    assert "Login: curator / curator-test-pw" in output
    assert rerun_seconds < 120, output

    # One more track: extracted, but the aspect map's evidence stays; probing again is asked for, not implied.
    output = run_demo(data_dir, settings, "--limit", str(LIMIT + 1), **without_mert)
    assert "1 extracted" in output and f"since probe run {run.pk}" in output and "manage.py probe" in output
    assert ProbeRun.objects.count() == 1


def test_auto_picks_mert_when_its_weights_load(use_tiny_mert, tiny_mert):
    said = []
    assert choose_encoder(AUTO_ENCODER, said.append) == (
        Encoder.MERT_CLASSIC, "MERT's weights load here; the classic layers add harmony"
    )
    assert said == [f"Trying MERT ({tiny_mert})..."]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_network(settings, tmp_path, monkeypatch):
    """MERT's weights are in no cache, and the Hub does not answer."""
    settings.MESS_MERT_MODEL = ABSENT_MODEL
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")


def test_without_network_auto_falls_back_to_musicnn_and_classic_at_once_and_mert_is_refused(no_network):
    began = time.monotonic()
    encoder, why = choose_encoder(AUTO_ENCODER, lambda message: None)
    assert time.monotonic() - began < 10  # the Hub client alone retries for half a minute
    assert encoder == Encoder.MUSICNN_CLASSIC
    assert why.startswith(f"MERT is not used: {ABSENT_MODEL} is not in the Hugging Face cache")
    assert "The Hugging Face Hub does not answer here" in why
    assert why.endswith("musicnn's pretrained weights ship with MESS; the classic layers add harmony.")

    for refused in (Encoder.MERT, Encoder.MERT_CLASSIC):  # a stack needs every member
        with pytest.raises(EncoderUnavailable, match=f"MERT cannot be used here: {ABSENT_MODEL} is not in"):
            choose_encoder(refused, lambda message: None)
    for asked in (Encoder.MUSICNN, Encoder.MUSICNN_CLASSIC, Encoder.CLASSIC):
        assert choose_encoder(asked, lambda message: None) == (asked, "asked for")


def test_without_musicnn_auto_falls_back_to_classic_and_musicnn_is_refused(no_network, monkeypatch):
    monkeypatch.setattr(encoder_choice, "find_spec", lambda name: None)  # its wheel is not installed
    encoder, why = choose_encoder(AUTO_ENCODER, lambda message: None)
    assert encoder == Encoder.CLASSIC
    assert why.startswith(f"MERT is not used: {ABSENT_MODEL} is not in the Hugging Face cache")
    assert "Nor is musicnn: its wheel is not installed: pip install --no-deps -r requirements/musicnn.txt" in why

    for refused in (Encoder.MUSICNN, Encoder.MUSICNN_CLASSIC):
        with pytest.raises(EncoderUnavailable, match="musicnn cannot be used here: its wheel is not installed"):
            choose_encoder(refused, lambda message: None)
