"""The track page: waveform peaks served from a cache, and the controls the page's script drives."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
from django.contrib.staticfiles import finders
from django.core.files.storage import default_storage

from analysis.models import EmbeddingSpace
from catalog import peaks
from tests.factories import audio_bytes, make_dataset, make_track, run_queued_extraction, tone, upload_tone

pytestmark = pytest.mark.django_db


def peaks_of(client, track, **headers):
    return client.get(f"/tracks/{track.pk}/peaks.json", **headers)


def test_peaks_outline_a_tone_with_its_duration(client):
    track = upload_tone(make_dataset(), "tone.wav", seconds=12.0)
    response = peaks_of(client, track)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["duration"] == pytest.approx(12.0)
    assert (body["sample_rate"], body["channels"]) == (22050, 1)
    assert 1500 <= len(body["peaks"]) <= peaks.PEAK_COUNT
    assert all(0.0 <= peak <= 1.0 for peak in body["peaks"])


def test_peaks_follow_the_loudness_over_time(client):
    # Two seconds of silence, then two of a 0.5 tone: the outline must show the step where it is.
    signal = np.concatenate([np.zeros(44100), tone(seconds=2.0, amplitude=0.5)])
    track = make_track(data=audio_bytes(signal))
    outline = np.array(peaks_of(client, track).json()["peaks"])
    half = len(outline) // 2
    assert outline[: half - 1].max() == 0.0
    assert outline[half + 1 :].min() > 0.45
    assert outline.max() == pytest.approx(0.5, abs=0.01)


def test_peaks_read_in_blocks_equal_the_peaks_of_the_whole_signal(monkeypatch, tmp_path):
    """Blocks far smaller than a peak's stretch, and larger: the same outline as all at once."""
    rng = np.random.default_rng(1)
    signal = rng.uniform(-1, 1, size=(10_007, 2)).astype(np.float32) * np.linspace(0, 1, 10_007)[:, None]
    path = tmp_path / "stereo.wav"
    sf.write(path, signal, 8000, subtype="FLOAT")
    per_peak = -(-len(signal) // 100)
    level = np.abs(signal).max(axis=1)
    expected = [level[i : i + per_peak].max() for i in range(0, len(level), per_peak)]
    for block_frames in (7, 5000):
        monkeypatch.setattr(peaks, "BLOCK_FRAMES", block_frames)
        with sf.SoundFile(path) as audio:
            outline = peaks.outline(audio, 100)
        assert outline["peaks"] == pytest.approx(expected, abs=1e-4)
        assert outline["duration"] == pytest.approx(10_007 / 8000)
        assert outline["channels"] == 2


def test_peaks_are_computed_once_then_served_from_the_cache(client):
    track = make_track()
    first = peaks_of(client, track)
    assert first.status_code == 200
    assert default_storage.exists(f"peaks/{track.sha256}-{peaks.PEAK_COUNT}.json")

    # With the audio gone, only the cache can answer: the second request does not read it.
    default_storage.delete(track.audio_path)
    second = peaks_of(client, track)
    assert second.status_code == 200
    assert second.json() == first.json()

    # A browser holding the peaks revalidates them for free.
    assert first["ETag"] == f'"{track.sha256}-{peaks.PEAK_COUNT}"'
    assert "no-cache" in first["Cache-Control"]
    assert peaks_of(client, track, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


@pytest.mark.usefixtures("use_tiny_mert")
def test_extraction_outlines_the_waveform_so_the_page_never_waits_for_it():
    track = upload_tone(make_dataset(), "extracted.wav", seconds=6)
    assert not default_storage.exists(peaks.cached_peaks_name(track))
    run_queued_extraction(track)
    cached = json.loads(default_storage.open(peaks.cached_peaks_name(track)).read())
    assert cached["duration"] == pytest.approx(6.0)


def test_missing_audio_gives_a_readable_error(client):
    track = make_track()
    default_storage.delete(track.audio_path)
    response = peaks_of(client, track)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "audio_missing"
    assert error["message"] == f"The audio file of track {track.pk} is missing from storage."


def test_undecodable_audio_gives_a_readable_error_and_caches_nothing(client):
    track = make_track()
    with default_storage.open(track.audio_path, "wb") as broken:
        broken.write(b"this is not audio at all" * 100)
    response = peaks_of(client, track)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unreadable_audio"
    assert error["message"] == (
        f"The audio of track {track.pk} could not be read to draw its waveform (Format not recognised)."
    )
    assert not default_storage.exists(f"peaks/{track.sha256}-{peaks.PEAK_COUNT}.json")


def test_peaks_of_an_unknown_track_are_a_json_404(client):
    response = client.get("/tracks/999999/peaks.json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture
def page(client):
    track = make_track(title="Fugue in C minor")
    return track, client.get(f"/tracks/{track.pk}/").text


def test_the_page_has_a_player_over_a_waveform_that_seeks(page):
    track, text = page
    assert (
        f'<audio controls preload="metadata" src="/tracks/{track.pk}/audio" aria-label="Play Fugue in C minor"></audio>'
        in text
    )
    assert re.search(r'<div id="waveform" class="waveform" role="slider" tabindex="0"', text)
    assert 'aria-label="Position in Fugue in C minor"' in text
    assert '<span id="current-time">0:00</span> / <span id="total-time">0:02</span>' in text
    assert '<p id="waveform-status" class="hint" role="status">' in text


def test_the_page_has_labelled_similarity_and_passage_controls(page):
    _, text = page
    assert '<div id="aspect-tabs" class="tabs" role="tablist" aria-label="Musical aspect" data-state="loading">' in text
    assert '<label for="diversity">Diversity</label>' in text
    assert '<input type="range" id="diversity" min="0" max="1" step="0.1" value="0"' in text
    assert '<output id="diversity-value" for="diversity" aria-hidden="true">0.0</output>' in text
    assert '<label for="layer-choice">Compare by</label>' in text
    assert '<select id="layer-choice" disabled>' in text  # no embedding space yet: no layers
    assert '<ol id="similar-results" class="results" data-state="loading"' in text
    assert '<label for="passage-start">Start (seconds)</label>' in text
    assert '<label for="passage-end">End (seconds)</label>' in text
    # The default span is the first five seconds, or the whole track when it is shorter.
    assert 'id="passage-end" name="end" min="0" max="2.0" step="0.1" value="2.0"' in text
    assert '<button type="submit" id="find-passages">Find similar passages</button>' in text
    assert '<ol id="passage-results" class="results" data-state="idle"' in text
    assert '<audio id="preview-audio" controls preload="none" aria-label="Preview"></audio>' in text


def test_the_page_data_names_urls_that_answer_json(client, page):
    track, text = page
    data = json.loads(re.search(r'<script id="track-page-data" type="application/json">(.*?)</script>', text).group(1))
    assert data["id"] == track.pk
    assert data["urls"]["trackPage"].replace("{pk}", str(track.pk)) == f"/tracks/{track.pk}/"
    assert client.get(data["urls"]["peaks"]).status_code == 200
    # No embedding space yet: the APIs refuse with a message the page shows as it is.
    for name in ("aspects", "similar"):
        refused = client.get(data["urls"][name])
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == "No embedding space is active yet: extract some tracks first."
    assert client.get(data["urls"]["passages"], {"start": 0, "end": 1}).status_code == 404


def test_the_page_loads_nothing_from_another_host_and_every_asset_exists(page):
    _, text = page
    references = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert references
    assert not [ref for ref in references if re.match(r"(?i)(https?:)?//", ref)]
    assets = [ref.removeprefix("/static/") for ref in references if ref.startswith("/static/")]
    assert {"catalog/track.css", "catalog/track.js", "vendor/wavesurfer/wavesurfer.min.js",
            "vendor/wavesurfer/plugins/regions.min.js"} <= set(assets)
    assert all(finders.find(asset) for asset in assets)


def test_the_layers_to_compare_by_are_those_of_the_active_space(client):
    EmbeddingSpace.objects.create(
        name="classic", encoder="classic", model_id="classic", weights_hash="0" * 64, num_layers=3, dim=39,
        sample_rate=22050, window_seconds=5, overlap=0.5, layer_names=["mfcc", "", "chroma"], is_active=True,
    )
    text = client.get(f"/tracks/{make_track().pk}/").text
    options = re.search(r'<select id="layer-choice">(.*?)</select>', text, re.S).group(1)
    assert re.findall(r'<option value="(\d*)">([^<]*)</option>', options) == [
        ("", "The aspect's layers"), ("0", "Layer 0: mfcc"), ("1", "Layer 1"), ("2", "Layer 2: chroma"),
    ]
