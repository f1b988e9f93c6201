"""The classic MIR encoder: MERT's output shape and window rule, similarity that means
something (pitch, timbre, tempo apart; harmony across timbres, down to the bass; gain
ignored where it should be), determinism, and an identity that follows the code."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analysis import classic
from analysis.classic import ANCHOR, LAYERS, ClassicEncoder
from analysis.pipeline import AudioDecodeError, resampled_length, window_starts

SR = 22050
C4, FS4 = 261.63, 369.99


@pytest.fixture(scope="module")
def encoder():
    return ClassicEncoder()


def piano(freq, seconds=6.0, beat=0.5, amplitude=0.3, sr=SR):
    """Eight harmonics falling off as 1/k, struck again every `beat` seconds and decaying."""
    t = np.arange(round(seconds * sr)) / sr
    harmonics = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, 9))
    return amplitude / 3 * harmonics * np.exp(-3 * (t % beat))


def white_noise(seconds=6.0, amplitude=0.1, seed=0):
    return amplitude * np.random.default_rng(seed).standard_normal(round(seconds * SR))


def write(tmp_path, signal, name="audio.wav", sr=SR):
    path = tmp_path / name
    sf.write(path, np.asarray(signal, dtype=np.float32), sr)
    return path


def encode(encoder, tmp_path, signal, name="audio.wav", sr=SR, **kwargs):
    options = dict(window_seconds=5.0, overlap=0.5) | kwargs
    return encoder.encode(write(tmp_path, signal, name, sr), **options)


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def layer(name):
    return list(LAYERS).index(name)


# Shape and windows ----------------------------------------------------------------------


def test_identity_attributes_describe_the_space(encoder):
    assert (encoder.encoder, encoder.model_id, encoder.sample_rate) == ("classic", "classic-mir-v2", 22050)
    assert encoder.layer_names == list(LAYERS) and encoder.num_layers == len(LAYERS) == 8
    assert encoder.dim == max(LAYERS.values()) + 1  # the anchor dimension
    assert len(encoder.weights_hash) == 64 and encoder.weights_hash == ClassicEncoder().weights_hash


def test_every_layer_is_zero_padded_to_the_common_dim(encoder, tmp_path):
    result = encode(encoder, tmp_path, piano(C4, 12.0) + white_noise(12.0, 0.01))
    assert result.window_means.dtype == np.float32 and result.window_means.shape[1:] == (8, encoder.dim)
    for index, size in enumerate(LAYERS.values()):
        assert np.all(result.window_means[:, index, size:-1] == 0)
        assert np.all(np.abs(result.window_means[:, index, :size]).max(axis=1) > 0)
    assert np.all(result.window_means[:, :, -1] == ANCHOR)
    np.testing.assert_allclose(result.track_mean, result.window_means.mean(axis=0))


@pytest.mark.parametrize("seconds, window, overlap", [(12.3, 5.0, 0.5), (10.0, 5.0, 0.5), (9.0, 3.0, 0.25)])
def test_windows_follow_the_extraction_rule(encoder, tmp_path, seconds, window, overlap):
    rate = 44100  # decoded at 44.1 kHz, analysed at 22.05 kHz
    stereo = np.stack([piano(C4, seconds, sr=rate), piano(FS4, seconds, sr=rate)], axis=1)
    result = encode(encoder, tmp_path, stereo, sr=rate, window_seconds=window, overlap=overlap)
    samples = resampled_length(round(seconds * rate), rate, SR)
    expected = np.asarray(window_starts(samples, SR, window, overlap)) / SR
    np.testing.assert_array_equal(result.window_starts, expected)
    assert len(result.window_means) == len(expected)
    assert result.window_seconds == pytest.approx(window, abs=1 / SR)
    assert result.hop_seconds == pytest.approx(window * (1 - overlap), abs=1 / SR)
    assert result.duration == pytest.approx(seconds)


def test_a_track_shorter_than_a_window_is_one_window_of_its_length(encoder, tmp_path):
    result = encode(encoder, tmp_path, piano(C4, 2.0))
    assert result.window_means.shape == (1, 8, encoder.dim)
    assert list(result.window_starts) == [0.0] and result.window_seconds == pytest.approx(2.0)
    np.testing.assert_array_equal(result.track_mean, result.window_means[0])


def test_analysing_in_chunks_changes_nothing(encoder, tmp_path, monkeypatch):
    signal = piano(C4, 8.0, beat=0.37) + white_noise(8.0, 0.02)
    whole = encode(encoder, tmp_path, signal)
    monkeypatch.setattr(classic, "CHUNK_FRAMES", 50)
    progress = []
    chunked = encode(encoder, tmp_path, signal, on_progress=lambda done, total: progress.append((done, total)))
    np.testing.assert_allclose(chunked.window_means, whole.window_means, atol=1e-5)
    assert progress[-1] == (3, 3) and progress == sorted(progress) and len(progress) > 1


def test_same_file_same_vectors(encoder, tmp_path):
    path = write(tmp_path, piano(C4) + white_noise(amplitude=0.02))
    first, second = (encoder.encode(path, window_seconds=5.0, overlap=0.5) for _ in range(2))
    np.testing.assert_array_equal(first.window_means, second.window_means)


# Similarity -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracks(encoder, tmp_path_factory):
    """Track vectors of a C and an F# piano tone, a louder and faintly noisy C, and noise."""
    folder = tmp_path_factory.mktemp("tracks")
    quiet_noise = white_noise(amplitude=10 ** (-70 / 20), seed=1)
    signals = {"c": piano(C4), "c_louder": 1.5 * piano(C4) + quiet_noise, "f_sharp": piano(FS4), "noise": white_noise()}
    return {key: encode(encoder, folder, signal, f"{key}.wav").track_mean for key, signal in signals.items()}


def test_pitch_class_separates_c_from_f_sharp_in_the_harmony_layers(tracks):
    for name in ("chroma", "tonnetz"):
        same = cosine(tracks["c"][layer(name)], tracks["c_louder"][layer(name)])
        other = cosine(tracks["c"][layer(name)], tracks["f_sharp"][layer(name)])
        assert same > 0.99 and other < 0.3, name


# Two progressions of four one-second chords, played twice: C Am F G and C minor's Cm Ab Fm G
# (sharing C, F, G and the G chord), each chord's lowest note a bass in octave 3 or 2.
PROGRESSION = ((48, 60, 64, 67), (45, 57, 60, 64), (41, 57, 60, 65), (43, 55, 59, 62))
OTHER_PROGRESSION = ((48, 60, 63, 67), (44, 56, 60, 63), (41, 56, 60, 65), (43, 55, 59, 62))
# The same in the bass register (65-100 Hz fifths), where an STFT bin is wider than a semitone.
BASS_LINE = ((36, 43), (33, 40), (29, 36), (31, 38))
OTHER_BASS_LINE = ((36, 43), (32, 39), (29, 36), (31, 38))


def chords(progression, harmonics, transpose=0, cents=0.0, seconds=1.0):
    """Each chord struck and decaying; a note is its first `harmonics` harmonics at 1/k (1: a
    sine; 12: a bright, sawtooth-like tone whose harmonics fall in other pitch classes)."""
    t = np.arange(round(seconds * SR)) / SR
    envelope = np.minimum(1, t / 0.02) * np.exp(-1.5 * t)
    played = []
    for chord in progression:
        tone = 0
        for note in chord:
            freq = 440 * 2 ** ((note + transpose - 69 + cents / 100) / 12)
            partials = [k for k in range(1, harmonics + 1) if k * freq < SR / 2]
            tone = tone + sum(np.sin(2 * np.pi * k * freq * t) / k for k in partials)
        played.append(tone * envelope)
    signal = np.concatenate(played * 2)
    return 0.3 * signal / np.abs(signal).max()


@pytest.fixture(scope="module")
def progressions(encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("progressions")
    signals = {
        "sine": chords(PROGRESSION, 1),
        "bright": chords(PROGRESSION, 12),
        "other": chords(OTHER_PROGRESSION, 12),
        "semitone_up": chords(PROGRESSION, 12, transpose=1),
        "20_cents_sharp": chords(PROGRESSION, 12, cents=20),
        "bass_sine": chords(BASS_LINE, 1),
        "bass_bright": chords(BASS_LINE, 12),
        "other_bass": chords(OTHER_BASS_LINE, 1),
        "bass_semitone_up": chords(BASS_LINE, 1, transpose=1),
    }
    return {key: encode(encoder, folder, signal, f"{key}.wav").track_mean for key, signal in signals.items()}


@pytest.mark.parametrize("name", ["chroma", "tonnetz"])
def test_harmony_layers_hear_the_progression_not_the_timbre(progressions, name):
    def similarity(a, b):
        return cosine(progressions[a][layer(name)], progressions[b][layer(name)])

    across_timbres = similarity("sine", "bright")
    assert across_timbres > 0.97
    assert across_timbres - similarity("bright", "other") > 0.1  # another progression, same timbre
    assert similarity("bright", "semitone_up") < 0.5  # the key matters
    assert similarity("bright", "20_cents_sharp") > 0.98  # tuning barely does


@pytest.mark.parametrize("name", ["chroma", "tonnetz"])
def test_harmony_layers_resolve_bass_notes(progressions, name):
    def similarity(a, b):
        return cosine(progressions[a][layer(name)], progressions[b][layer(name)])

    across_timbres = similarity("bass_sine", "bass_bright")
    assert across_timbres > 0.95 and across_timbres - similarity("bass_sine", "other_bass") > 0.05
    assert similarity("bass_sine", "bass_semitone_up") < 0.5


def test_timbre_layers_separate_a_tone_from_noise(tracks):
    for name in ("mfcc", "spectral_shape", "contrast"):
        same = cosine(tracks["c"][layer(name)], tracks["c_louder"][layer(name)])
        noise = cosine(tracks["c"][layer(name)], tracks["noise"][layer(name)])
        assert noise < 0.5 and same - noise > 0.45, name


def test_a_louder_copy_stays_put_in_timbre_and_harmony(tracks):
    for name in ("mfcc", "chroma", "tonnetz"):
        assert cosine(tracks["c"][layer(name)], tracks["c_louder"][layer(name)]) > 0.99, name
    # ...and moves the level by its gain, not the spread of levels around it.
    dynamics = tracks["c_louder"][layer("dynamics")] - tracks["c"][layer("dynamics")]
    assert dynamics[0] == pytest.approx(20 * np.log10(1.5) / 10, abs=0.01) and np.abs(dynamics[1:6]).max() < 0.01


def test_rhythm_layer_hears_tempo_not_pitch(encoder, tmp_path):
    rhythm = layer("rhythm")
    at_120 = encode(encoder, tmp_path, piano(C4, beat=0.5), "a.wav").track_mean[rhythm]
    at_120_other_pitch = encode(encoder, tmp_path, piano(FS4, beat=0.5), "b.wav").track_mean[rhythm]
    at_90 = encode(encoder, tmp_path, piano(C4, beat=2 / 3), "c.wav").track_mean[rhythm]
    assert cosine(at_120, at_120_other_pitch) > 0.99
    assert cosine(at_120, at_90) < 0.5


def test_values_stay_on_a_common_scale(encoder, tmp_path):
    """No dimension dwarfs the others, whatever the audio: tones, noise, clicks, silence."""
    clicks = np.zeros(round(6 * SR))
    clicks[:: SR // 4] = 0.9
    silence_then_tone = np.concatenate([np.zeros(round(6 * SR)), piano(C4, 6.0, amplitude=0.9)])
    for signal in (piano(C4), white_noise(amplitude=0.5), clicks, silence_then_tone, piano(55.0, amplitude=0.01)):
        result = encode(encoder, tmp_path, signal)
        assert np.isfinite(result.window_means).all() and np.abs(result.window_means).max() < 10


def test_a_silent_window_is_only_its_anchor_except_dynamics(encoder, tmp_path):
    result = encode(encoder, tmp_path, np.concatenate([np.zeros(round(6 * SR)), piano(C4, 6.0)]))
    silent = result.window_means[0]
    assert np.all(silent[: layer("dynamics"), :-1] == 0) and np.all(silent[:, -1] == ANCHOR)
    assert silent[layer("dynamics"), 5] == 1  # every frame is silent
    assert np.abs(result.window_means[-1, : layer("dynamics")]).max(axis=1).min() > 0


# Failures and identity -----------------------------------------------------------------


def test_undecodable_file_raises_audio_decode_error_naming_it(encoder, tmp_path):
    path = tmp_path / "stored-hash.wav"
    path.write_bytes(b"RIFF this is not audio")
    with pytest.raises(AudioDecodeError, match="song.wav could not be decoded"):
        encoder.encode(path, window_seconds=5.0, overlap=0.5, name="song.wav")


def test_audio_shorter_than_one_frame_raises_audio_decode_error(encoder, tmp_path):
    path = write(tmp_path, piano(C4, 0.05), "blip.wav")
    with pytest.raises(AudioDecodeError, match=r"blip.wav holds 0.050 s of audio"):
        encoder.encode(path, window_seconds=5.0, overlap=0.5)


def test_weights_hash_follows_the_code_and_librosa(tmp_path, monkeypatch):
    original = ClassicEncoder().weights_hash
    edited = tmp_path / "classic.py"
    edited.write_bytes(Path(classic.__file__).read_bytes() + b"\n# a changed feature\n")
    monkeypatch.setattr(classic, "__file__", str(edited))
    assert ClassicEncoder().weights_hash != original
    monkeypatch.undo()
    monkeypatch.setattr(classic.librosa, "__version__", "0.0.0")
    assert ClassicEncoder().weights_hash != original
