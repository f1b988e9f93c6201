"""Musical proxy targets computed from audio, for layer probing: worker-only (librosa).

Each target is a number per extraction window and per track. Windows are given as the
extraction made them (`window_starts` in seconds, `window_seconds`, see
analysis/pipeline.py): a window covers [start, start + window_seconds), the last one is
already aligned to the end of the track, and a track shorter than a window is one window.

The audio is decoded once (mono, 22050 Hz), frame-level features are computed once for
the whole track (STFT frames of 2048 samples every 512, ~23 ms), and each window's value
aggregates the frames whose centres fall inside it; the track's value aggregates all
frames the same way. So a window's value is what the track-level rule gives on that
stretch, with context (tempogram, novelty kernel) reaching a few seconds past its edges.

NaN marks an undefined value: spectral, timbre, harmony and novelty targets of a window
whose frames are all silent (RMS below -80 dBFS), tempo, pulse clarity and attack
sharpness where there is no onset, velocity spread under two notes, MIDI targets without
a MIDI file. Probes drop the rows where their target is NaN.

MIDI targets read a score-aligned MIDI file (same time axis as the audio) with mido.
Imports librosa: web code must not import this module (the registry included).
Cached tables of older versions stay in the cache folder until someone clears it.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import mido
import numpy as np
import soundfile as sf
import soxr
from scipy.ndimage import uniform_filter1d

from analysis import target_specs
from analysis.target_specs import target_names


class TargetError(Exception):
    """The audio or MIDI file cannot be read; the message says which and why."""


_SOURCE = Path(__file__).read_bytes() + Path(target_specs.__file__).read_bytes()
# Values change when this code or librosa changes; cached tables are keyed by this.
TARGETS_VERSION = hashlib.sha256(_SOURCE + librosa.__version__.encode()).hexdigest()[:16]

N_FFT = 2048
HOP = 512
SILENCE_DB = -80.0
WINDOW_TOLERANCE_SECONDS = 0.1  # decoders differ by a few samples at the end of a file
_N_MFCC = 20
_TEMPO_SECONDS = 8.0  # autocorrelation window, librosa's default for tempo estimation
_TONNETZ_SMOOTH_SECONDS = 0.5  # frame-to-frame tonnetz jitter is not harmonic change
_BLOCK_FRAMES = 11  # novelty blocks of ~0.25 s
_NOVELTY_HALF = 8  # kernel reaches 8 blocks (~2 s) each side

# Krumhansl & Kessler (1982) probe-tone profiles, C major and C minor.
_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
_MINOR = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]
_KEYS = np.array([np.roll(profile, shift) for profile in (_MAJOR, _MINOR) for shift in range(12)])
_KEYS = (_KEYS - _KEYS.mean(axis=1, keepdims=True)) / _KEYS.std(axis=1, keepdims=True)


@dataclass
class TargetTable:
    names: list  # column names, in TARGETS order
    windows: np.ndarray  # [windows, targets] float32, NaN where undefined
    track: np.ndarray  # [targets] float32


@dataclass
class _Frames:
    """Frame-level features of one track; column t is centred at t * HOP / sr seconds."""

    sr: int
    rms_db: np.ndarray  # [n]
    voiced: np.ndarray  # [n] bool: louder than SILENCE_DB
    spectral: np.ndarray  # [6, n] centroid, rolloff, bandwidth, contrast, flatness dB, chroma entropy
    mfcc: np.ndarray  # [_N_MFCC, n]
    chroma: np.ndarray  # [12, n]
    tonal_speed: np.ndarray  # [n] tonnetz distance per second
    onset_env: np.ndarray  # [n]
    onsets: np.ndarray  # frame indices
    tempogram: np.ndarray  # [lags, n]
    novelty: np.ndarray  # [n]
    pedal: np.ndarray | None  # [n] bool, sustain down
    notes: np.ndarray | None  # [notes, 2] onset seconds, velocity


def compute_targets(audio_path, window_starts, window_seconds, midi_path=None, sample_rate=22050):
    """TargetTable of every target for each window and for the whole track."""
    starts = np.asarray(window_starts, dtype=np.float64)
    if starts.ndim != 1 or not len(starts) or window_seconds <= 0:
        raise ValueError(f"need at least one window start and a positive length, not {starts!r}, {window_seconds}")
    y = _decode(audio_path, sample_rate)
    duration, reach = len(y) / sample_rate, starts[-1] + window_seconds
    if duration < reach - WINDOW_TOLERANCE_SECONDS:
        raise TargetError(f"{Path(audio_path).name} decodes to {duration:.1f} s but its windows reach {reach:.1f} s; "
                          "the file is damaged or not the audio that was extracted.")
    frames = _frame_features(y, sample_rate, midi_path)
    n = len(frames.rms_db)
    times = np.arange(n) * HOP / sample_rate
    names = target_names()
    windows = np.full((len(starts), len(names)), np.nan, dtype=np.float32)
    for row, start in enumerate(starts):
        end = start + window_seconds
        a, b = np.searchsorted(times, [start, end])
        if a < b:
            values = _summarise(frames, slice(a, b), start, end)
            windows[row] = [values[name] for name in names]
    track = _summarise(frames, slice(0, n), 0.0, len(y) / sample_rate)
    return TargetTable(names=names, windows=windows, track=np.array([track[name] for name in names], dtype=np.float32))


def cached_targets(audio_path, audio_sha256, window_starts, window_seconds, cache_dir, midi_path=None):
    """compute_targets, kept as an .npz in cache_dir until the audio, MIDI, window layout
    or TARGETS_VERSION changes. An unreadable cache file is recomputed."""
    midi_sha = hashlib.sha256(Path(midi_path).read_bytes()).hexdigest() if midi_path else None
    layout = [[round(float(s), 4) for s in window_starts], round(float(window_seconds), 4), midi_sha, TARGETS_VERSION]
    digest = hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{audio_sha256}-{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return TargetTable(names=[str(n) for n in data["names"]], windows=data["windows"], track=data["track"])
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):  # missing or damaged: compute afresh
        pass
    table = compute_targets(audio_path, window_starts, window_seconds, midi_path=midi_path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, names=np.array(table.names), windows=table.windows, track=table.track)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return table


def _decode(path, sample_rate):
    """Mono float32 at sample_rate."""
    name = Path(path).name
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:  # soundfile's LibsndfileError is a RuntimeError
        raise TargetError(f"{name} could not be decoded as audio: {error}") from error
    if not len(audio):
        raise TargetError(f"{name} holds no audio.")
    if not np.isfinite(audio).all():
        raise TargetError(f"{name} holds non-finite samples; the file is damaged.")
    y = audio.mean(axis=1)
    if rate != sample_rate:
        y = soxr.resample(y, rate, sample_rate, quality="HQ")
    return y


def _frame_features(y, sr, midi_path):
    # Shorter than one FFT frame: pad with silence so every feature has a frame.
    y = np.pad(y, (0, max(0, N_FFT - len(y))))
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = magnitude**2
    # From the samples, not the (Hann-windowed) spectrum, so a full-scale sine reads -3 dBFS.
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    rms_db = 20 * np.log10(np.maximum(rms, 10 ** (SILENCE_DB / 20)))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=128))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=_N_MFCC)
    # A440 assumed: estimating tuning per track is slow and jitters the pitch classes.
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    probabilities = chroma / np.maximum(chroma.sum(axis=0), 1e-12)
    entropy = -(probabilities * np.log2(np.maximum(probabilities, 1e-12))).sum(axis=0)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr)
    spectral = np.stack(
        [
            centroid[0],
            librosa.feature.spectral_rolloff(S=magnitude, sr=sr, roll_percent=0.85)[0],
            librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, centroid=centroid)[0],
            librosa.feature.spectral_contrast(S=magnitude, sr=sr).mean(axis=0),
            10 * np.log10(librosa.feature.spectral_flatness(S=magnitude)[0]),
            entropy,
        ]
    )
    fps = sr / HOP
    tonnetz = uniform_filter1d(librosa.feature.tonnetz(chroma=chroma), round(_TONNETZ_SMOOTH_SECONDS * fps), axis=1)
    tonal_speed = np.concatenate([[0.0], np.linalg.norm(np.diff(tonnetz, axis=1), axis=0) * fps])
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    tempogram = librosa.feature.tempogram(
        onset_envelope=onset_env, sr=sr, hop_length=HOP, win_length=round(_TEMPO_SECONDS * fps)
    )
    pedal, notes = _midi_frames(midi_path, len(rms_db), sr) if midi_path else (None, None)
    return _Frames(
        sr=sr,
        rms_db=rms_db,
        voiced=rms_db > SILENCE_DB,
        spectral=spectral,
        mfcc=mfcc,
        chroma=chroma,
        tonal_speed=tonal_speed,
        onset_env=onset_env,
        onsets=onsets,
        tempogram=tempogram,
        novelty=_novelty(np.vstack([mfcc[1:13], chroma]), len(rms_db)),
        pedal=pedal,
        notes=notes,
    )


def _novelty(features, n):
    """Foote novelty per frame: how much more alike the blocks within each side of a
    frame are than blocks across it (cosine similarity of z-scored features)."""
    features = (features - features.mean(axis=1, keepdims=True)) / (features.std(axis=1, keepdims=True) + 1e-9)
    count = -(-n // _BLOCK_FRAMES)
    blocks = np.pad(features, ((0, 0), (0, count * _BLOCK_FRAMES - n)), mode="edge")
    blocks = blocks.reshape(len(features), count, _BLOCK_FRAMES).mean(axis=2)
    blocks /= np.linalg.norm(blocks, axis=0, keepdims=True) + 1e-9
    # Mirrored ends: no boundary evidence past the edges of the track.
    padded = np.pad(blocks, ((0, 0), (_NOVELTY_HALF, _NOVELTY_HALF)), mode="symmetric")
    shifted = [padded[:, k : k + count] for k in range(2 * _NOVELTY_HALF)]  # offsets -H..H-1
    within = np.zeros(count)
    across = np.zeros(count)
    for i in range(2 * _NOVELTY_HALF):
        for j in range(i + 1, 2 * _NOVELTY_HALF):
            similarity = np.einsum("dn,dn->n", shifted[i], shifted[j])
            if (i < _NOVELTY_HALF) == (j < _NOVELTY_HALF):
                within += similarity
            else:
                across += similarity
    pairs_within = _NOVELTY_HALF * (_NOVELTY_HALF - 1)  # both sides together
    novelty = within / pairs_within - across / _NOVELTY_HALF**2
    return np.repeat(novelty, _BLOCK_FRAMES)[:n]


def _midi_frames(path, n, sr):
    """Sustain-pedal state per frame and [onset seconds, velocity] per note."""
    try:
        notes, pedal_events = [], []
        now = 0.0
        for message in mido.MidiFile(path):  # message.time: seconds since the previous one
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                notes.append((now, message.velocity))
            elif message.type == "control_change" and message.control == 64:
                pedal_events.append((now, message.value >= 64))
    except Exception as error:  # mido raises a zoo of types (OSError, EOFError, ValueError, KeyError...)
        raise TargetError(f"{Path(path).name} could not be read as MIDI: {error}") from error
    pedal = np.zeros(n, dtype=bool)
    if pedal_events:
        events = np.array(pedal_events, dtype=np.float64)
        # The last pedal event at or before each frame sets its state.
        latest = np.searchsorted(events[:, 0], np.arange(n) * HOP / sr, side="right") - 1
        pedal = (latest >= 0) & (events[np.maximum(latest, 0), 1] > 0)
    return pedal, np.array(notes, dtype=np.float64).reshape(-1, 2)


def _summarise(f, frames, start, end):
    """Every target over the frames `frames` (a non-empty slice), which span [start, end) seconds."""
    seconds = end - start
    voiced = f.voiced[frames]
    values = {}
    nan = float("nan")

    def voiced_mean(x):
        x = x[..., frames][..., voiced]
        return x.mean(axis=-1) if x.shape[-1] else np.full(x.shape[:-1], nan)

    spectral = voiced_mean(f.spectral)
    for k, name in enumerate(["spectral_centroid", "spectral_rolloff", "spectral_bandwidth", "spectral_contrast"]):
        values[name] = spectral[k]
    values["spectral_flatness"], values["chroma_entropy"] = spectral[4], spectral[5]
    mfcc = voiced_mean(f.mfcc)
    for k in range(1, 5):
        values[f"mfcc_{k}"] = mfcc[k]
    timbre = f.mfcc[1:13, frames][:, voiced]
    values["mfcc_std"] = timbre.std(axis=1).mean() if timbre.shape[1] else nan

    chroma = f.chroma[:, frames][:, voiced].sum(axis=1)
    if chroma.std() > 0:
        values["key_clarity"] = (_KEYS @ ((chroma - chroma.mean()) / chroma.std())).max() / 12
    else:
        values["key_clarity"] = nan
    values["harmonic_change_rate"] = voiced_mean(f.tonal_speed)

    onsets = f.onsets[(f.onsets >= frames.start) & (f.onsets < frames.stop)]
    values["onset_density"] = len(onsets) / seconds
    values["attack_sharpness"] = f.onset_env[onsets].mean() * f.sr / HOP if len(onsets) else nan
    tempogram = f.tempogram[:, frames]
    if len(onsets):
        values["tempo"] = librosa.feature.tempo(tg=tempogram, sr=f.sr, hop_length=HOP)[0]
        bpms = librosa.tempo_frequencies(len(tempogram), sr=f.sr, hop_length=HOP)
        values["pulse_clarity"] = tempogram.mean(axis=1)[(bpms >= 30) & (bpms <= 300)].max()
    else:
        values["tempo"] = values["pulse_clarity"] = nan

    rms_db = f.rms_db[frames]
    values["rms_level"] = 10 * np.log10(np.mean(10 ** (rms_db / 10)))
    values["dynamic_range"] = np.subtract(*np.percentile(rms_db, [95, 5]))
    values["novelty"] = voiced_mean(f.novelty)

    if f.notes is None:
        values["note_density"] = values["velocity_spread"] = values["pedal_ratio"] = nan
    else:
        inside = f.notes[(f.notes[:, 0] >= start) & (f.notes[:, 0] < end)]
        values["note_density"] = len(inside) / seconds
        values["velocity_spread"] = inside[:, 1].std() if len(inside) >= 2 else nan
        values["pedal_ratio"] = f.pedal[frames].mean()
    return values
