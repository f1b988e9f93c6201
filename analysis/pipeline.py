"""Audio file -> layer embeddings (MERT, musicnn), in bounded memory: worker-only.

The model turns a batch of windows into per-layer window vectors (`forward_windows`);
everything else is here. Preprocessing is what MERT's Wav2Vec2FeatureExtractor expects
(musicnn takes the same windows at its own rate, unnormalised):
- decode (WAV/FLAC/OGG/MP3 via libsndfile), downmix to mono by averaging channels;
- resample to the model's rate (24 kHz) with soxr at high quality, as a stream;
- cut into windows (default 5 s, 50% overlap) and, when the model's preprocessor config
  says do_normalize, normalise each window on its own: (x - mean) / sqrt(var + 1e-7).

Windowing rule (`window_starts`): windows start every hop = window * (1 - overlap)
samples. If audio remains after the last full window, one more window is aligned to the
end of the track, so every window has full length and no audio is dropped (that window
overlaps its predecessor more than the others do). A track shorter than one window gives
a single window of its own length. The resampled length is the header's frame count
converted to the model rate, rounded half up (what soxr produces), so the number of
windows is known before decoding starts and progress can report a total.

Extraction keeps, per window, every hidden state averaged over time ([windows, L, D]) and
their mean over windows ([L, D]). A producer thread decodes, resamples and normalises
while the model runs on the previous batch; a bounded queue between them keeps memory
independent of track length. Full temporal features [windows, L, T, D] are written, only
when asked for, batch by batch into a float16 .npy memmap.
"""

import queue
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from analysis.conf import setting

# Frames decoded per read: ~1.5 s at 44.1 kHz, small next to a window, big enough for few calls.
_BLOCK_FRAMES = 1 << 16
# A file may decode a little short of its header's frame count (MP3 padding); more than
# this is a truncated file, not rounding.
_SHORTFALL_SECONDS = 1.0
_NORM_EPSILON = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm


class AudioDecodeError(Exception):
    """The file cannot be read as audio (or holds too little of it); the message says why."""


@dataclass
class Extraction:
    window_means: np.ndarray  # [windows, layers, dim] float32
    track_mean: np.ndarray  # [layers, dim] float32
    window_starts: np.ndarray  # [windows] seconds
    window_seconds: float  # length of every window (the track's length when it is shorter)
    hop_seconds: float
    duration: float  # seconds
    tags: dict | None = None  # {tag: score} of the track, from encoders that tag (musicnn)


def window_starts(num_samples, sample_rate, window_seconds, overlap):
    """Start sample of each window, by the rule in the module docstring."""
    window, hop = window_and_hop(sample_rate, window_seconds, overlap)
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


def window_and_hop(sample_rate, window_seconds, overlap):
    """Window length and hop in samples."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    window = round(window_seconds * sample_rate)
    if window <= 0:
        raise ValueError(f"window_seconds must be positive, not {window_seconds}")
    return window, max(1, round(window * (1 - overlap)))


def resampled_length(frames, from_rate, to_rate):
    """Samples soxr produces for `frames` input frames: frames * to / from, rounded half up."""
    return (2 * frames * to_rate + from_rate) // (2 * from_rate)


def normalise(window):
    """Zero mean, unit variance, as Wav2Vec2FeatureExtractor(do_normalize=True); float32."""
    window = window.astype(np.float64)
    return ((window - window.mean()) / np.sqrt(window.var() + _NORM_EPSILON)).astype(np.float32)


def extract(
    path, model, *, window_seconds=None, overlap=None, batch_size=None, on_progress=None, temporal_path=None, name=None
):
    """Layer embeddings of the audio file at `path` (see the module docstring).

    `name` is what error messages call the file (a stored file's name is a hash).
    on_progress(windows_done, windows_total) is called after each batch. With
    temporal_path, per-frame hidden states are also saved there as float16 [W, L, T, D].
    """
    window_seconds = window_seconds or setting("MERT_WINDOW_SECONDS")
    overlap = setting("MERT_OVERLAP") if overlap is None else overlap
    batch_size = batch_size or setting("MERT_BATCH_SIZE")  # the encoder passes its own
    rate = model.sample_rate
    name = name or Path(path).name

    with open_audio(path, rate, model.min_samples, name) as (audio, total, duration):
        starts = window_starts(total, rate, window_seconds, overlap)
        window, hop = window_and_hop(rate, window_seconds, overlap)
        length = min(total, window)
        count = len(starts)

        windows = queue.Queue(maxsize=2 * batch_size)
        stop = threading.Event()
        producer = threading.Thread(
            target=_produce,
            args=(_windows(mono_stream(audio, rate, total, name), starts, length), model.do_normalize, windows, stop),
            name=f"decode {name}",
            daemon=True,
        )
        producer.start()
        window_means = np.empty((count, model.num_layers, model.dim), dtype=np.float32)
        temporal = None
        done = 0
        try:
            while done < count:
                batch = np.stack(_take(windows, min(batch_size, count - done)))
                means, frames = model.forward_windows(batch, keep_frames=temporal_path is not None)
                window_means[done : done + len(batch)] = means
                if frames is not None:
                    if temporal is None:
                        temporal = np.lib.format.open_memmap(
                            temporal_path, mode="w+", dtype=np.float16, shape=(count, *frames.shape[1:])
                        )
                    temporal[done : done + len(batch)] = frames
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, count)
        finally:
            stop.set()
            producer.join()
            if temporal is not None:
                temporal.flush()
                del temporal

    return Extraction(
        window_means=window_means,
        track_mean=window_means.mean(axis=0),
        window_starts=np.asarray(starts, dtype=np.float64) / rate,
        window_seconds=length / rate,
        hop_seconds=hop / rate,
        duration=duration,
    )


@contextmanager
def open_audio(path, rate, min_samples, name, needs="the model"):
    """(open SoundFile, its length in samples at `rate`, its duration in seconds), or
    AudioDecodeError when it cannot be decoded or is shorter than `min_samples`."""
    try:
        audio = sf.SoundFile(path)
    except (RuntimeError, OSError) as error:  # soundfile's LibsndfileError is a RuntimeError
        raise AudioDecodeError(f"{name} could not be decoded as audio: {error}") from error
    with audio:
        total = resampled_length(audio.frames, audio.samplerate, rate)
        duration = audio.frames / audio.samplerate
        if total < min_samples:
            raise AudioDecodeError(
                f"{name} holds {duration:.3f} s of audio; {needs} needs at least {min_samples / rate:.3f} s."
            )
        yield audio, total, duration


def mono_stream(audio, rate, total, name):
    """Mono float32 chunks at `rate`, exactly `total` samples in all."""
    resampler = None
    if audio.samplerate != rate:
        resampler = soxr.ResampleStream(audio.samplerate, rate, 1, dtype="float32", quality="HQ")
    produced = 0
    last = False
    while not last:
        try:
            block = audio.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        except RuntimeError as error:
            raise AudioDecodeError(f"{name} could not be decoded past {produced / rate:.1f} s: {error}") from error
        last = len(block) < _BLOCK_FRAMES
        if not np.isfinite(block).all():  # NaN or inf would pass through every encoder into the vectors
            raise AudioDecodeError(f"{name} holds non-finite samples; the file is damaged.")
        chunk = block.mean(axis=1, dtype=np.float32)
        if resampler is not None:
            chunk = resampler.resample_chunk(chunk, last=last)
        chunk = chunk[: total - produced]
        produced += len(chunk)
        yield chunk
    shortfall = total - produced
    if shortfall > _SHORTFALL_SECONDS * rate:
        raise AudioDecodeError(
            f"{name} ends after {produced / rate:.1f} s although its header promises "
            f"{total / rate:.1f} s; the file is probably truncated."
        )
    if shortfall > 0:
        yield np.zeros(shortfall, dtype=np.float32)


def _windows(chunks, starts, length):
    """Cut a chunk stream into windows of `length` samples at `starts` (ascending)."""
    buffer = np.empty(0, dtype=np.float32)
    offset = 0  # stream position of buffer[0]
    pending = iter(starts)
    start = next(pending)
    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        while start is not None and start + length <= offset + len(buffer):
            yield buffer[start - offset : start - offset + length]
            start = next(pending, None)
        # Drop what no later window needs.
        drop = len(buffer) if start is None else start - offset
        if drop > 0:
            buffer = buffer[drop:]
            offset += drop


def _produce(windows, do_normalize, out, stop):
    """Producer thread: feed `out` with windows, or with the exception that stopped it."""
    try:
        for window in windows:
            if not _put(out, normalise(window) if do_normalize else np.ascontiguousarray(window), stop):
                return
    except BaseException as error:  # handed to the consumer, which raises it
        _put(out, error, stop)


def _put(out, item, stop):
    """Put unless the consumer has stopped listening; False when it has."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _take(windows, count):
    batch = []
    while len(batch) < count:
        item = windows.get()
        if isinstance(item, BaseException):
            raise item
        batch.append(item)
    return batch
