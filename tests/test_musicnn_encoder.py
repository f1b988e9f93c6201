"""musicnn as an encoder: its own space, windows and layers, tags stored with the
embeddings, a clear failure when its weights are not installed."""

import numpy as np
import pytest

from analysis.extraction import run_extraction_job
from analysis.models import EmbeddingSpace, TrackEmbedding, TrackFeatures, TrackTags
from analysis.musicnn import encoder as musicnn
from analysis.musicnn.checkpoint import CheckpointError, read_checkpoint
from analysis.musicnn.network import OUTPUTS
from analysis.services import request_extraction
from analysis.tags import TAG_THRESHOLD
from tests.factories import audio_bytes, make_dataset, noise, tone, upload_tone, write_audio

pytestmark = pytest.mark.django_db


def extract_musicnn(*tracks):
    for job in request_extraction(tracks, encoder="musicnn"):
        run_extraction_job(job.pk, worker="in-process")


def test_the_wheels_checkpoints_are_read_without_tensorflow():
    for model in musicnn.MODELS:
        variables = read_checkpoint(f"{musicnn.wheel_directory() / model}/")
        assert variables["conv2d/kernel"].shape == (7, 38, 1, 204)  # timbral 7 x 38 bands
        assert variables["conv2d_5/kernel"].shape == (7, 561, 1, 64)  # first mid-end layer
        assert variables["dense_1/kernel"].shape == (200, 50)  # penultimate -> 50 tags
        assert all(np.isfinite(value).all() for value in variables.values())
    labels = musicnn.tag_names(musicnn.wheel_directory(), "MTT_LABELS")
    assert len(labels) == 50 and labels[:3] == ["guitar", "classical", "slow"]


def test_a_damaged_checkpoint_is_refused_in_words(tmp_path):
    (tmp_path / "model.index").write_bytes(b"not a table" * 10)
    with pytest.raises(CheckpointError, match="not a LevelDB table"):
        read_checkpoint(tmp_path / "model")
    with pytest.raises(CheckpointError, match="No checkpoint index"):
        read_checkpoint(tmp_path / "missing")


def test_musicnn_fills_its_own_space_with_its_windows_layers_and_tags():
    track = upload_tone(make_dataset(), "a.wav", seconds=7.0)
    extract_musicnn(track)
    space = EmbeddingSpace.objects.get(encoder="musicnn")
    assert space.model_id == "MTT_musicnn" and space.layer_names == list(OUTPUTS)
    assert (space.num_layers, space.dim, space.sample_rate) == (9, 753, 16000)
    assert (space.window_seconds, space.overlap) == (pytest.approx(2.992), 0.0)  # musicnn's 3 s patches
    features = TrackFeatures.objects.get(track=track, space=space)
    # Two patches end to end, then one aligned to the end of the 7 s track.
    assert features.window_starts == pytest.approx([0.0, 2.992, 7.0 - 2.992], abs=1e-3)
    assert TrackEmbedding.objects.filter(track=track, space=space).count() == 9

    tags = TrackTags.objects.get(track=track, space=space)
    assert len(tags.scores) == 50 and "piano" in tags.scores and all(0 <= s <= 1 for s in tags.scores.values())
    assert tags.tags == sorted((t for t, s in tags.scores.items() if s >= TAG_THRESHOLD), key=lambda t: -tags.scores[t])
    taggram = np.asarray(TrackEmbedding.objects.get(track=track, space=space, layer=8).vector)
    # The stored tag scores are the taggram layer's track mean; the padding stays zero.
    assert taggram[:50] == pytest.approx([tags.scores[label] for label in musicnn.load_musicnn().labels], abs=1e-4)
    assert not taggram[50:].any()


def test_tags_follow_the_sound():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.intake import ingest_upload

    dataset = make_dataset()
    sine = upload_tone(dataset, "tone.wav", seconds=6.0)
    hiss = ingest_upload(dataset, SimpleUploadedFile("noise.wav", audio_bytes(noise(seconds=6.0, seed=3) * 5)))
    extract_musicnn(sine, hiss)
    sine_scores, hiss_scores = (TrackTags.objects.get(track=track).scores for track in (sine, hiss))
    # Loud white noise is nothing like a sine tone in musicnn's ears: some tag differs a lot.
    assert max(abs(sine_scores[t] - hiss_scores[t]) for t in sine_scores) > 0.05


def test_a_short_track_is_one_window_of_its_own_length(tmp_path):
    encoder = musicnn.load_musicnn()
    path = write_audio(tmp_path / "short.wav", tone(seconds=1.2, sample_rate=16000), sample_rate=16000)
    result = encoder.encode(path, window_seconds=encoder.own_windows[0], overlap=0.0)
    assert result.window_means.shape == (1, 9, 753) and result.window_seconds == pytest.approx(1.2)
    assert np.isfinite(result.window_means).all()


def test_loud_audio_gives_finite_features(tmp_path):
    """musicnn's own extractor casts the mel to float16, which overflows on loud bins."""
    encoder = musicnn.load_musicnn()
    loud = np.clip(3 * tone(seconds=4.0, freq=110.0, sample_rate=16000, amplitude=1.0), -1, 1)
    path = write_audio(tmp_path / "loud.wav", loud, sample_rate=16000)
    result = encoder.encode(path, window_seconds=encoder.own_windows[0], overlap=0.0)
    assert np.isfinite(result.window_means).all()


def test_non_finite_audio_is_refused_in_words_not_stored_as_nan(tmp_path):
    import soundfile as sf

    from analysis.pipeline import AudioDecodeError

    samples = tone(seconds=4.0, sample_rate=16000).astype(np.float32)
    samples[20000:20100] = np.nan
    path = tmp_path / "damaged.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    encoder = musicnn.load_musicnn()
    with pytest.raises(AudioDecodeError, match="damaged.wav holds non-finite samples"):
        encoder.encode(path, window_seconds=encoder.own_windows[0], overlap=0.0)


def test_an_unknown_model_or_a_missing_wheel_is_explained(monkeypatch):
    with pytest.raises(musicnn.MusicnnLoadError, match="MESS_MUSICNN_MODEL must be one of"):
        musicnn.load_musicnn("GTZAN_musicnn")
    monkeypatch.setattr(musicnn.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(musicnn.MusicnnLoadError, match="pip install --no-deps musicnn"):
        musicnn.wheel_directory()


@pytest.mark.django_db(transaction=True)  # the passage index is built on its own connection
def test_probing_and_passages_work_on_musicnns_windows(client, settings):
    from analysis.probing import run_probe
    from analysis.services import request_probe
    from tests.test_probing import TARGETS, add_tracks

    settings.MESS_ENCODER = "musicnn"  # what the uploads queue, and add_tracks runs here
    dataset = make_dataset("Tones")
    add_tracks(dataset, 6)
    space = EmbeddingSpace.objects.get(encoder="musicnn", is_active=True)
    run = request_probe(space, targets=TARGETS, parameters={"folds": 2}, queue=False)
    run_probe(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.results.count() == 9 * len(TARGETS)  # every musicnn layer against every target
    assert run.windows == 6 * 3  # 8 s tracks: two 2.992 s windows, one aligned to the end

    track = dataset.tracks.order_by("pk").first()
    response = client.get(f"/api/v1/tracks/{track.pk}/passages/", {"start": 0, "end": 2, "layer": 7, "k": 3})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results and all(r["end"] - r["start"] == pytest.approx(2.992, abs=1e-3) for r in results)
