"""Classic MIR descriptors as an encoder: no download, a baseline for MERT. Worker-only (librosa).

`ClassicEncoder.encode` returns what MERT extraction returns (`analysis.pipeline.Extraction`,
windows by the same rule, `window_starts`), so the same code stores it as its own
EmbeddingSpace. Audio is decoded as MERT's is (mono, soxr HQ) but at 22050 Hz; frame
features (STFT frames of 2048 samples every 512, frame t centred on sample t * 512; the
chroma's constant-Q frames share those centres) are computed once for the whole track, a
chunk of frames at a time so memory stays bounded (the constant-Q transform reads 1.5 s of
context either side of its chunk, more than its longest filter reaches, so chunking
changes nothing); a window summarises the frames whose centres fall inside it; the track
vector is the mean of the window vectors, as MERT's is.

Layers are descriptor groups:

  0 mfcc            38  mean, std of asinh(MFCC 1-19 / 10) (timbre; c0 is loudness: layer 7)
  1 mfcc_delta      38  log2(0.1 + mean |x| / ref) for delta (ref 1) and delta-delta
                        (ref 0.3) of MFCC 1-19: how fast timbre moves
  2 chroma          24  mean, std of chroma centred on its mean over the 12 classes; chroma:
                        |constant-Q transform| 65 Hz-4 kHz (C2-B7), 36 bins per octave,
                        A440, folded to 12 classes, each frame scaled to its largest class = 1
                        (harmony that holds across instruments and SoundFonts: see below)
  3 contrast        14  mean, std of (spectral contrast in dB - 20) / 10, 7 octave bands
  4 tonnetz         12  mean, std of the 6 tonal-centroid coordinates of that chroma
  5 spectral_shape  10  mean, std of log2 centroid / 1.5 kHz, log2 bandwidth / 1.5 kHz,
                        log2 rolloff(85%) / 4 kHz, (flatness dB + 25) / 10, log2 ZCR / 0.05
  6 rhythm          25  onset-envelope autocorrelation at 25 tempi (30-480 BPM, 6 per
                        octave; 1 at lag 0); zero where the envelope is flat
  7 dynamics         8  median level (dBFS + 30) / 10, (p90 - median) / 10, (p10 - median) / 10,
                        std / 10, mean |frame-to-frame change| / 3 dB, fraction of silent frames,
                        mean and std of log2(0.5 + onset strength): how hard notes attack

Cosine similarity needs dimensions of comparable size, centred near what is typical, and
no training data is at hand to standardise them; so each descriptor is mapped, frame by
frame, by a fixed and documented transform (log frequencies in octaves around a typical
value, dB around a typical level, asinh for signed cepstra, centred chroma) to a signed
value that stays within about +-7 on any audio. A std shares its mean's unit, so a steady
sound contributes nothing there. Each frame's spectrum is floored 80 dB below its own
peak: a gain change then moves only MFCC c0 and the level, and quiet noise floors weigh
nothing. Layers 0-5 summarise the frames louder than -80 dBFS; a window without any has
zero vectors there (zero stands for "typical" in these units). Features are not the
probing targets (analysis/targets.py) one to one: those are plain per-window statistics
in linear units; here the units, frames and summaries differ.

All layers of a space share one dim: every group is zero-padded to the largest (38),
plus one last dimension holding a small constant (ANCHOR) in every vector. Zero padding
changes neither dot products nor norms, so it leaves cosine unchanged; the anchor barely
moves it, but keeps every vector away from zero, where cosine is undefined (FAISS would
score a zero vector 0, pgvector NaN): a silent window is then like other silent windows.

Why constant-Q chroma (v2; v1 folded the 2048-sample STFT): an STFT bin is 10.8 Hz wide,
more than a semitone below about 180 Hz, so bass notes smear over neighbouring classes
and how much depends on the instrument's spectrum. Measured on the demo corpus's 52
excerpts rendered with three other General-MIDI SoundFonts (FluidR3, MuseScore General,
OPL-3 FM), ranking the tracks of one rendering by cosine for "the same work in the other",
the v1 chroma's mean average precision was 0.92-0.96 (0.90-0.95 with the same ensemble's
track left out), v2's is 0.99-1.00, plain mean chroma_cqt's 0.98-1.00; a 3 s window as
the query finds its work's tracks with 0.69 (v1 0.61, mean chroma_cqt 0.65). Three bins
per semitone make the folded classes tolerant of tuning (20 cents off barely moves them);
a per-track tuning estimate would need a second pass over a chunked track. Log
compression of the chroma measured no better, and pitch-class co-occurrence (the mean
outer product of frame chroma, also at a 1 s lag) no better than the centred mean and std
at 3-6 times the dims, so they are not layers.

The space's identity (`weights_hash`) hashes this file and librosa's version: features
change with either. Bump `model_id` as well when a change is meant to be a new baseline.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np

from analysis.pipeline import Extraction, mono_stream, open_audio, window_and_hop, window_starts

SAMPLE_RATE = 22050
N_FFT = 2048
HOP = 512
N_MELS = 128
N_MFCC = 20
FLOOR_DB = 80.0  # below each frame's peak
SILENCE_DBFS = -80.0
ANCHOR = 0.05  # in every vector's last dimension: never a zero vector (see the docstring)
CHUNK_FRAMES = 2048  # ~48 s of audio per STFT call: ~25 MB of spectra at a time
CQT_FMIN = librosa.note_to_hz("C2")  # 65.4 Hz; six octaves up to B7, 3.95 kHz
CQT_BINS_PER_OCTAVE = 36
CQT_BINS = 6 * CQT_BINS_PER_OCTAVE
# Context read either side of a chunk: more than half the longest constant-Q filter (0.4 s
# at 65 Hz) plus the resampling filters' reach; a multiple of HOP, so the chunk's frames fall
# on the track's.
CQT_MARGIN = 64 * HOP
CQ_TO_CHROMA = librosa.filters.cq_to_chroma(CQT_BINS, bins_per_octave=CQT_BINS_PER_OCTAVE, n_chroma=12, fmin=CQT_FMIN)
TEMPI = 30 * 2 ** (np.arange(25) / 6)  # BPM
TEMPO_LAGS = 60 * SAMPLE_RATE / HOP / TEMPI  # in frames
FLAT_ONSET = 1e-3  # onset-envelope std (dB) below which a window has no rhythm to speak of
LAYERS = {
    "mfcc": 38,
    "mfcc_delta": 38,
    "chroma": 24,
    "contrast": 14,
    "tonnetz": 12,
    "spectral_shape": 10,
    "rhythm": 25,
    "dynamics": 8,
}


def source_fingerprint():
    """sha256 of this module's code and librosa's version."""
    return hashlib.sha256(Path(__file__).read_bytes() + librosa.__version__.encode()).hexdigest()


class ClassicEncoder:
    """Stands where a loaded MERT model does when a space is named and a track encoded."""

    encoder = "classic"
    model_id = "classic-mir-v2"
    revision = None  # the code's version is in weights_hash
    sample_rate = SAMPLE_RATE
    layer_names = list(LAYERS)
    num_layers = len(LAYERS)
    dim = max(LAYERS.values()) + 1  # the last: ANCHOR
    layer_dims = [dim] * len(LAYERS)  # every layer holds the ANCHOR in the last dimension
    min_samples = N_FFT  # one full analysis frame
    own_windows = None  # the platform's

    def __init__(self):
        self.weights_hash = source_fingerprint()

    def encode(self, path, *, window_seconds, overlap, on_progress=None, name=None):
        """Extraction of the audio file at `path`; `name` is what error messages call it.
        on_progress(windows_done, windows_total) follows the frame analysis, chunk by chunk."""
        name = name or Path(path).name
        y, duration = self._decode(path, name)
        starts = np.asarray(window_starts(len(y), SAMPLE_RATE, window_seconds, overlap))
        window, hop = window_and_hop(SAMPLE_RATE, window_seconds, overlap)
        length = min(len(y), window)
        # Frames centred in [start, start + length): first and one-past-last frame of each window.
        first, stop = -(-starts // HOP), -(-(starts + length) // HOP)
        count = len(starts)

        def analysed(frames_done):
            if on_progress is not None:
                on_progress(int(np.searchsorted(stop, frames_done, side="right")), count)

        frames = _frame_features(y, analysed)
        window_means = np.zeros((count, self.num_layers, self.dim), dtype=np.float32)
        window_means[:, :, -1] = ANCHOR
        for row, (a, b) in enumerate(zip(first, stop)):
            for layer, vector in enumerate(_layers(frames, a, b)):
                window_means[row, layer, : len(vector)] = vector  # the rest stays zero padding
        if on_progress is not None:
            on_progress(count, count)
        return Extraction(
            window_means=window_means,
            track_mean=window_means.mean(axis=0),
            window_starts=starts.astype(np.float64) / SAMPLE_RATE,
            window_seconds=length / SAMPLE_RATE,
            hop_seconds=hop / SAMPLE_RATE,
            duration=duration,
        )

    def _decode(self, path, name):
        """Mono float32 at SAMPLE_RATE, decoded as MERT extraction decodes, and the duration."""
        with open_audio(path, SAMPLE_RATE, self.min_samples, name, needs="the classic encoder") as opened:
            audio, total, duration = opened
            y = np.concatenate(list(mono_stream(audio, SAMPLE_RATE, total, name)))
        return y, duration


@dataclass
class _Frames:
    """Per-frame descriptors of a track, already in the units of the module docstring."""

    voiced: np.ndarray  # [n] bool: louder than SILENCE_DBFS
    timbre: np.ndarray  # [19, n]
    timbre_change: np.ndarray  # [38, n] |delta| / 1, |delta-delta| / 0.3
    chroma: np.ndarray  # [12, n]
    contrast: np.ndarray  # [7, n]
    tonnetz: np.ndarray  # [6, n]
    shape: np.ndarray  # [5, n]
    onset: np.ndarray  # [n] onset strength (dB)
    level: np.ndarray  # [n] dBFS


def _frame_features(y, on_chunk):
    """_Frames of the whole track; on_chunk(frames_done) after each chunk but the last."""
    n = 1 + len(y) // HOP
    chunks = []
    for a in range(0, n, CHUNK_FRAMES):
        b = min(n, a + CHUNK_FRAMES)
        # The samples of frames a..b-1, zeros past the ends of the track (librosa's centred framing).
        samples = _padded(y, a * HOP - N_FFT // 2, (b - 1) * HOP + N_FFT // 2)
        context = _padded(y, a * HOP - CQT_MARGIN, (b - 1) * HOP + CQT_MARGIN)
        chunks.append((*_local_features(samples), _chroma(context, b - a)))
        if b < n:
            on_chunk(b)
    mel_db, contrast, shape, level, chroma = (np.concatenate(part, axis=-1) for part in zip(*chunks))

    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)[1:]  # c0 is loudness
    # "nearest" works for any number of frames; "interp" needs at least `width`.
    delta = np.abs(librosa.feature.delta(mfcc, width=9, mode="nearest"))
    delta2 = np.abs(librosa.feature.delta(mfcc, width=9, order=2, mode="nearest"))
    return _Frames(
        voiced=level > SILENCE_DBFS,
        timbre=np.arcsinh(mfcc / 10),
        timbre_change=np.vstack([delta / 1.0, delta2 / 0.3]),
        chroma=chroma - chroma.mean(axis=0),
        contrast=(contrast - 20) / 10,
        tonnetz=librosa.feature.tonnetz(chroma=chroma),
        shape=shape,
        onset=librosa.onset.onset_strength(S=mel_db, sr=SAMPLE_RATE),
        level=level,
    )


def _padded(y, start, stop):
    """y[start:stop], zeros where that reaches past either end of the track."""
    return np.pad(y[max(start, 0) : stop], (max(-start, 0), max(stop - len(y), 0)))


def _chroma(context, count):
    """Chroma [12, count] of the `count` frames centred CQT_MARGIN, CQT_MARGIN + HOP, ... into
    `context` (which holds CQT_MARGIN samples either side of them)."""
    cqt = np.abs(
        librosa.cqt(context, sr=SAMPLE_RATE, hop_length=HOP, fmin=CQT_FMIN, n_bins=CQT_BINS,
                    bins_per_octave=CQT_BINS_PER_OCTAVE, tuning=0.0)
    )
    first = CQT_MARGIN // HOP
    chroma = CQ_TO_CHROMA @ cqt[:, first : first + count]
    return chroma / np.maximum(chroma.max(axis=0), 1e-10)  # a frame of silence stays zero


def _local_features(samples):
    """Descriptors that need only their own frame: mel dB, contrast, shape, level."""
    magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=HOP, center=False))
    power = _floored(magnitude**2)
    spectrum_db = 10 * np.log10(power)
    mel_db = 10 * np.log10(_floored(librosa.feature.melspectrogram(S=power, sr=SAMPLE_RATE, n_mels=N_MELS)))
    # Given dB and linear=True, librosa's contrast is the mean dB of each band's loudest
    # bins minus that of its quietest, on this frame's own floor.
    contrast = librosa.feature.spectral_contrast(S=spectrum_db, sr=SAMPLE_RATE, linear=True)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=SAMPLE_RATE)
    bandwidth = librosa.feature.spectral_bandwidth(S=magnitude, sr=SAMPLE_RATE, centroid=centroid)[0]
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, sr=SAMPLE_RATE, roll_percent=0.85)[0]
    flatness_db = spectrum_db.mean(axis=0) - 10 * np.log10(power.mean(axis=0))  # geometric / arithmetic mean
    frames = librosa.util.frame(samples, frame_length=N_FFT, hop_length=HOP)
    zcr = np.count_nonzero(np.diff(np.signbit(frames), axis=0), axis=0) / N_FFT
    rms = np.sqrt(np.einsum("ij,ij->j", frames, frames) / N_FFT)
    shape = np.stack(
        [
            np.log2(np.maximum(centroid[0], 50) / 1500),  # 50 Hz floors: a frame of silence or DC
            np.log2(np.maximum(bandwidth, 50) / 1500),
            np.log2(np.maximum(rolloff, 50) / 4000),
            (flatness_db + 25) / 10,
            np.log2(np.maximum(zcr, 0.002) / 0.05),
        ]
    )
    level = 20 * np.log10(np.maximum(rms, 10 ** (SILENCE_DBFS / 20)))
    return mel_db, contrast, shape, level


def _floored(power):
    """Power floored FLOOR_DB below each frame's peak (and at 1e-10, for silence)."""
    return np.maximum(power, np.maximum(power.max(axis=0) * 10 ** (-FLOOR_DB / 10), 1e-10))


def _layers(f, a, b):
    """One vector per layer (LAYERS order, unpadded) for frames a..b-1."""
    voiced = np.flatnonzero(f.voiced[a:b]) + a

    def mean_std(x):
        x = x[:, voiced]
        return np.concatenate([x.mean(axis=1), x.std(axis=1)])

    if len(voiced):
        spectral = [
            mean_std(f.timbre),
            # Log of the mean: a few frames without change do not swamp the rest.
            np.log2(0.1 + f.timbre_change[:, voiced].mean(axis=1)),
            mean_std(f.chroma),
            mean_std(f.contrast),
            mean_std(f.tonnetz),
            mean_std(f.shape),
        ]
    else:  # silence: zero is "typical" in these units, and says nothing
        spectral = [np.zeros(size) for size in list(LAYERS.values())[:6]]
    return [*spectral, _rhythm(f.onset[a:b]), _dynamics(f.level[a:b], f.onset[a:b])]


def _rhythm(onset):
    """Autocorrelation of the onset envelope at TEMPO_LAGS."""
    x = onset - onset.mean()
    acf = np.zeros(int(TEMPO_LAGS.max()) + 2)
    if x.std() > FLAT_ONSET:
        # Zero-padded to twice its length, so no lag wraps around.
        full = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)
        usable = min(len(acf), len(x))
        acf[:usable] = full[:usable] / full[0]
    return np.interp(TEMPO_LAGS, np.arange(len(acf)), acf)


def _dynamics(level, onset):
    p10, p50, p90 = np.percentile(level, [10, 50, 90])
    change = np.abs(np.diff(level)).mean() if len(level) > 1 else 0.0
    attack = np.log2(0.5 + onset)
    return np.array(
        [(p50 + 30) / 10, (p90 - p50) / 10, (p10 - p50) / 10, level.std() / 10, change / 3,
         np.mean(level <= SILENCE_DBFS), attack.mean(), attack.std()]
    )
