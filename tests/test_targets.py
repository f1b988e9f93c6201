"""Proxy targets for probing: known answers on generated audio and MIDI, window
alignment, caching, and failures that say what went wrong."""

import numpy as np
import pytest
import soundfile as sf

from analysis import targets
from analysis.target_specs import TARGETS, target_names
from analysis.targets import TargetError, cached_targets, compute_targets
from tests.factories import write_midi

SR = 22050


def tone(freq, seconds, amplitude=0.3):
    t = np.arange(round(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * freq * t)


def clicks(rate, seconds):
    y = np.zeros(round(seconds * SR))
    y[round(SR / rate / 2) :: round(SR / rate)] = 0.9
    return y


def write(tmp_path, y, name="audio.wav", sr=SR):
    path = tmp_path / name
    sf.write(path, np.asarray(y, dtype=np.float32), sr)
    return path


def track(table, name):
    return table.track[table.names.index(name)]


def column(table, name):
    return table.windows[:, table.names.index(name)]


def test_registry_names_every_target_once_with_aspect_unit_and_description():
    names = target_names()
    assert len(names) == len(set(names)) >= 20
    assert all(spec.aspect and spec.unit and spec.description for spec in TARGETS)
    assert {spec.aspect for spec in TARGETS} >= {
        "brightness", "timbre", "harmony", "rhythm", "dynamics", "articulation", "structure"
    }
    midi = ["note_density", "velocity_spread", "pedal_ratio"]
    assert [n for n in names if n in midi] == midi
    assert target_names(include_midi=False) == [n for n in names if n not in midi]


def test_pure_tone_centroid_is_its_frequency_and_a_higher_tone_is_brighter(tmp_path):
    low = compute_targets(write(tmp_path, tone(1000, 2), "low.wav"), [0.0], 2.0)
    high = compute_targets(write(tmp_path, tone(3000, 2), "high.wav"), [0.0], 2.0)
    assert track(low, "spectral_centroid") == pytest.approx(1000, rel=0.03)
    assert column(low, "spectral_centroid")[0] == pytest.approx(1000, rel=0.03)
    for name in ("spectral_centroid", "spectral_rolloff"):
        assert track(high, name) > 2 * track(low, name)


@pytest.mark.parametrize("rate", [2, 5])
def test_click_train_onset_density_is_its_rate(tmp_path, rate):
    table = compute_targets(write(tmp_path, clicks(rate, 6)), [0.0, 2.0, 4.0], 2.0)
    assert track(table, "onset_density") == pytest.approx(rate, rel=0.1)
    np.testing.assert_allclose(column(table, "onset_density"), rate, rtol=0.15)
    assert np.isfinite(track(table, "attack_sharpness"))


def test_click_train_at_two_per_second_is_120_bpm(tmp_path):
    table = compute_targets(write(tmp_path, clicks(2, 6)), [0.0, 3.0], 3.0)
    assert track(table, "tempo") == pytest.approx(120, rel=0.05)


def test_rms_level_of_a_sine_is_its_rms_in_dbfs(tmp_path):
    table = compute_targets(write(tmp_path, tone(440, 2, amplitude=0.5)), [0.0], 2.0)
    assert track(table, "rms_level") == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    assert track(table, "dynamic_range") == pytest.approx(0, abs=0.5)


def test_louder_copy_has_higher_rms_level_by_the_gain(tmp_path):
    y = tone(440, 2, amplitude=0.05) + 0.01 * np.random.default_rng(0).standard_normal(2 * SR)
    quiet = compute_targets(write(tmp_path, y, "quiet.wav"), [0.0, 1.0], 1.0)
    loud = compute_targets(write(tmp_path, y * 10 ** (12 / 20), "loud.wav"), [0.0, 1.0], 1.0)
    assert track(loud, "rms_level") - track(quiet, "rms_level") == pytest.approx(12, abs=0.1)
    np.testing.assert_allclose(column(loud, "rms_level") - column(quiet, "rms_level"), 12, atol=0.1)
    assert track(loud, "spectral_centroid") == pytest.approx(track(quiet, "spectral_centroid"), rel=0.01)


def test_windows_follow_the_extraction_layout_and_see_a_change_halfway(tmp_path):
    # 5.5 s at 2 s windows with 50% overlap: starts every second, the last aligned to the end.
    y = np.concatenate([tone(500, 2.75), tone(2000, 2.75)])
    starts = [0.0, 1.0, 2.0, 3.0, 3.5]
    table = compute_targets(write(tmp_path, y), starts, 2.0)
    assert table.windows.shape == (len(starts), len(table.names))
    assert table.windows.dtype == np.float32 and table.track.dtype == np.float32
    centroid = column(table, "spectral_centroid")
    assert centroid[0] == pytest.approx(500, rel=0.05)
    assert centroid[-1] == pytest.approx(2000, rel=0.05)
    assert np.all(np.diff(centroid) > 0)
    # The window centred on the change is the most novel.
    assert np.argmax(column(table, "novelty")) == 2


def test_a_short_track_is_one_window_equal_to_the_track(tmp_path):
    y = tone(800, 0.7)
    table = compute_targets(write(tmp_path, y), [0.0], len(y) / SR)
    assert table.windows.shape[0] == 1
    audio = target_names(include_midi=False)
    index = [table.names.index(n) for n in audio]
    np.testing.assert_allclose(table.windows[0, index], table.track[index], rtol=1e-4, equal_nan=True)


def test_silence_gives_finite_or_nan_values_never_an_error(tmp_path):
    y = np.concatenate([np.zeros(2 * SR), tone(440, 1)])
    table = compute_targets(write(tmp_path, y), [0.0, 1.5], 1.5)
    assert not np.isinf(table.windows).any() and not np.isinf(table.track).any()
    silent = table.windows[0]
    assert np.isnan(silent[table.names.index("spectral_centroid")])
    assert silent[table.names.index("rms_level")] == pytest.approx(targets.SILENCE_DB)
    assert silent[table.names.index("onset_density")] == 0
    assert np.isfinite(column(table, "spectral_centroid")[1])


def test_midi_targets_count_notes_velocities_and_pedal(tmp_path):
    notes = [(i * 0.25, 0.2, 40 if i % 2 else 80) for i in range(16)]  # 4 notes/s for 4 s
    midi = write_midi(tmp_path / "score.mid", notes, pedal=[(1.0, 127), (3.5, 0)])
    table = compute_targets(write(tmp_path, tone(440, 4)), [0.0, 2.0], 2.0, midi_path=midi)
    np.testing.assert_allclose(column(table, "note_density"), [4, 4])
    np.testing.assert_allclose(column(table, "velocity_spread"), [20, 20])
    np.testing.assert_allclose(column(table, "pedal_ratio"), [0.5, 0.75], atol=0.02)
    assert track(table, "note_density") == pytest.approx(4)
    assert track(table, "pedal_ratio") == pytest.approx(0.625, abs=0.02)


def test_midi_without_pedal_or_notes_in_a_window(tmp_path):
    midi = write_midi(tmp_path / "score.mid", [(0.5, 0.5, 64)], pedal=[])
    table = compute_targets(write(tmp_path, tone(440, 4)), [0.0, 2.0], 2.0, midi_path=midi)
    np.testing.assert_allclose(column(table, "note_density"), [0.5, 0])
    assert np.isnan(column(table, "velocity_spread")).all()
    np.testing.assert_array_equal(column(table, "pedal_ratio"), [0, 0])


def test_without_midi_the_midi_columns_are_nan(tmp_path):
    table = compute_targets(write(tmp_path, tone(440, 2)), [0.0], 2.0)
    for name in ("note_density", "velocity_spread", "pedal_ratio"):
        assert np.isnan(track(table, name)) and np.isnan(column(table, name)).all()
    assert np.isfinite(track(table, "spectral_centroid"))


def test_cache_returns_the_stored_table_until_the_target_code_changes(tmp_path, monkeypatch):
    audio = write(tmp_path, tone(440, 2))
    cache = tmp_path / "cache"
    first = cached_targets(audio, "abc", [0.0, 1.0], 1.0, cache)
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob("*.tmp"))

    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(targets, "compute_targets", fail)
    again = cached_targets(audio, "abc", [0.0, 1.0], 1.0, cache)
    assert again.names == first.names
    np.testing.assert_array_equal(again.windows, first.windows)
    np.testing.assert_array_equal(again.track, first.track)

    with pytest.raises(AssertionError, match="recomputed"):
        cached_targets(audio, "def", [0.0, 1.0], 1.0, cache)  # other audio
    with pytest.raises(AssertionError, match="recomputed"):
        cached_targets(audio, "abc", [0.0, 0.5, 1.0], 1.0, cache)  # other windows
    monkeypatch.setattr(targets, "TARGETS_VERSION", "another version")
    with pytest.raises(AssertionError, match="recomputed"):
        cached_targets(audio, "abc", [0.0, 1.0], 1.0, cache)


def test_a_damaged_cache_file_is_recomputed(tmp_path):
    audio = write(tmp_path, tone(440, 2))
    cache = tmp_path / "cache"
    first = cached_targets(audio, "abc", [0.0], 2.0, cache)
    (stored,) = cache.glob("*.npz")
    stored.write_bytes(stored.read_bytes()[:100])
    np.testing.assert_array_equal(cached_targets(audio, "abc", [0.0], 2.0, cache).track, first.track)


def test_corrupt_files_raise_target_error_naming_the_file(tmp_path):
    garbage = tmp_path / "broken.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(TargetError, match="broken.wav"):
        compute_targets(garbage, [0.0], 1.0)
    bad_midi = tmp_path / "broken.mid"
    bad_midi.write_bytes(b"MThd but nothing sensible after it")
    with pytest.raises(TargetError, match="broken.mid"):
        compute_targets(write(tmp_path, tone(440, 1)), [0.0], 1.0, midi_path=bad_midi)
