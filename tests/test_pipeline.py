"""Audio file -> per-window MERT layer means, checked against a direct HubertModel forward
on independently preprocessed audio."""

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from analysis.mert import load_mert
from analysis.pipeline import AudioDecodeError, extract, window_starts
from tests.mert_checkpoint import build_checkpoint

RATE = 24000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mert")
    reference = build_checkpoint(directory)
    return load_mert(directory, device="cpu", precision="exact"), reference


def music(seconds, rate, channels=2, seed=0):
    """Two tones and a little noise, different per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(len(t))
    right = 0.3 * np.sin(2 * np.pi * 330 * t + 1) + 0.1 * rng.standard_normal(len(t))
    return np.stack([left, right][:channels], axis=1).astype(np.float32)


def write(path, audio, rate, **kwargs):
    sf.write(path, audio, rate, **kwargs)
    return path


def reference_window_means(path, reference, window_seconds=5.0, overlap=0.5):
    """What MERT's model card does, one window at a time, written out independently."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, "HQ")
    window = round(window_seconds * RATE)
    means = []
    for start in window_starts(len(mono), RATE, window_seconds, overlap):
        x = mono[start : start + window].astype(np.float64)
        x = ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)
        with torch.no_grad():
            states = reference(torch.from_numpy(x)[None], output_hidden_states=True).hidden_states
        means.append(torch.stack(states).mean(dim=2)[:, 0].numpy())
    return np.stack(means)


# Window rule -------------------------------------------------------------------------


def seconds(num_seconds, window=5.0, overlap=0.5):
    return [start / RATE for start in window_starts(round(num_seconds * RATE), RATE, window, overlap)]


def test_track_shorter_than_a_window_is_one_window():
    assert seconds(3.2) == [0.0]
    assert seconds(5.0) == [0.0]


def test_windows_that_tile_the_track_exactly_get_no_extra_window():
    assert seconds(10.0) == [0.0, 2.5, 5.0]
    assert seconds(10.0, overlap=0.0) == [0.0, 5.0]


def test_leftover_audio_gets_one_window_aligned_to_the_end():
    assert seconds(11.0) == [0.0, 2.5, 5.0, 6.0]
    assert seconds(12.0, overlap=0.0) == [0.0, 5.0, 7.0]


def test_overlap_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        window_starts(RATE * 10, RATE, 5.0, 1.0)


# Numerics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "rate", "channels"),
    [
        (dict(hidden_size=32, num_layers=2, heads=4, conv_dim=16), 44100, 2),
        (dict(hidden_size=48, num_layers=3, heads=6, conv_dim=24, intermediate=96), 16000, 1),
        (dict(hidden_size=32, num_layers=2, heads=4, conv_dim=16), RATE, 1),
    ],
)
def test_window_means_equal_a_direct_hubert_forward(tmp_path, shape, rate, channels):
    reference = build_checkpoint(tmp_path / "mert", **shape)
    model = load_mert(tmp_path / "mert", device="cpu", precision="exact")
    path = write(tmp_path / "track.wav", music(7.3, rate, channels), rate, subtype="FLOAT")

    result = extract(path, model, batch_size=2)

    expected = reference_window_means(path, reference)
    layers = shape["num_layers"] + 1
    assert result.window_means.shape == (2, layers, shape["hidden_size"])
    assert result.window_means.dtype == np.float32
    np.testing.assert_allclose(result.window_means, expected, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(result.track_mean, expected.mean(axis=0), atol=2e-5, rtol=1e-5)
    assert result.window_starts.tolist() == [0.0, 2.3]
    assert (result.window_seconds, result.hop_seconds) == (5.0, 2.5)
    assert result.duration == pytest.approx(7.3)


def test_stereo_is_the_mean_of_its_channels(tiny, tmp_path):
    model, _ = tiny
    stereo = music(6.0, 44100)
    from_stereo = extract(write(tmp_path / "stereo.wav", stereo, 44100, subtype="FLOAT"), model)
    mono = stereo.mean(axis=1)
    from_mono = extract(write(tmp_path / "mono.wav", mono, 44100, subtype="FLOAT"), model)
    np.testing.assert_allclose(from_stereo.window_means, from_mono.window_means, atol=1e-5)


def test_batch_size_does_not_change_results(tiny, tmp_path):
    model, _ = tiny
    path = write(tmp_path / "track.wav", music(12.0, 44100), 44100)
    one = extract(path, model, batch_size=1)
    three = extract(path, model, batch_size=3)
    np.testing.assert_allclose(one.window_means, three.window_means, atol=1e-5)


def test_flac_decodes_like_the_same_wav(tiny, tmp_path):
    model, _ = tiny
    audio = music(6.0, 44100)
    wav = extract(write(tmp_path / "a.wav", audio, 44100, subtype="PCM_16"), model)
    flac = extract(write(tmp_path / "a.flac", audio, 44100, subtype="PCM_16"), model)
    np.testing.assert_allclose(wav.window_means, flac.window_means, atol=1e-4)


def test_short_track_is_one_window_of_its_length(tiny, tmp_path):
    model, reference = tiny
    path = write(tmp_path / "short.wav", music(1.5, 48000), 48000, subtype="FLOAT")
    result = extract(path, model)
    assert result.window_starts.tolist() == [0.0]
    assert result.window_seconds == pytest.approx(1.5)
    np.testing.assert_allclose(result.window_means, reference_window_means(path, reference), atol=2e-5)


def test_fast_mode_stays_close_to_exact(tiny, tmp_path):
    exact_model, _ = tiny
    fast_model = load_mert(exact_model.model_id, device="cpu", precision="fast")
    path = write(tmp_path / "track.wav", music(8.0, 44100), 44100)
    exact = extract(path, exact_model).window_means.reshape(-1, exact_model.dim)
    fast = extract(path, fast_model).window_means.reshape(-1, exact_model.dim)
    cosine = (exact * fast).sum(axis=1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(fast, axis=1)
    assert cosine.min() >= 0.999


# Progress, temporal features, errors ---------------------------------------------------


def test_progress_counts_up_to_the_total(tiny, tmp_path):
    model, _ = tiny
    path = write(tmp_path / "track.wav", music(16.0, 44100), 44100)
    seen = []
    result = extract(path, model, batch_size=2, on_progress=lambda done, total: seen.append((done, total)))
    windows = len(result.window_starts)
    assert windows == 6  # 0, 2.5, ..., 10, then 11 aligned to the end
    assert seen == [(2, 6), (4, 6), (6, 6)]


def test_temporal_features_are_written_when_asked(tiny, tmp_path):
    model, _ = tiny
    path = write(tmp_path / "track.wav", music(7.0, 44100), 44100)
    result = extract(path, model, temporal_path=tmp_path / "frames.npy")
    frames = np.load(tmp_path / "frames.npy")
    assert frames.dtype == np.float16
    assert frames.shape == (2, model.num_layers, 374, model.dim)  # 5 s at 75 frames/s, less the edges
    np.testing.assert_allclose(frames.astype(np.float32).mean(axis=2), result.window_means, atol=2e-3)


def test_undecodable_file_raises_audio_decode_error(tiny, tmp_path):
    model, _ = tiny
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3 this is not audio" * 100)
    with pytest.raises(AudioDecodeError, match="song.mp3 could not be decoded"):
        extract(path, model)


def test_audio_too_short_for_one_frame_raises_audio_decode_error(tiny, tmp_path):
    model, _ = tiny
    path = write(tmp_path / "blip.wav", music(0.01, 44100), 44100)
    with pytest.raises(AudioDecodeError, match="needs at least"):
        extract(path, model)
