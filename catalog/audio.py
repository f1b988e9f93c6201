"""Audio file validation: what a file is, and whether MESS accepts it.

The format checks read headers and a few thousand frames. The content check (no NaN or
infinite samples, not digital silence) streams through all of the decoded audio block by
block, so memory stays flat whatever the length; see `_check_content` for what it costs.
No torch/librosa: this runs in the web process.
"""

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from django.conf import settings

# libsndfile format name -> content type served to browsers. Every sample coding libsndfile
# decodes in these containers is accepted: 8- to 32-bit integer and float PCM, 24-bit FLAC,
# Vorbis and Opus in OGG, MPEG layer III.
ACCEPTED_FORMATS = {
    "WAV": "audio/wav", "AIFF": "audio/aiff", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg",
}  # fmt: skip
# libsndfile names WAVE_FORMAT_EXTENSIBLE files (what sox and most editors write for 24- and
# 32-bit or multichannel audio) "WAVEX"; they are WAV files to people and players alike.
# AIFF-C (compressed or float AIFF) reads as "AIFF" already.
_SAME_FORMAT = {"WAVEX": "WAV"}
# Extension of the stored (content-addressed) file, by format.
EXTENSIONS = {"WAV": "wav", "AIFF": "aiff", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}
# What a folder import picks up: every name these formats are saved under.
AUDIO_SUFFIXES = {f".{ext}" for ext in EXTENSIONS.values()} | {".aif", ".aifc", ".opus"}

# Frames decoded at each end of a file: enough to cross several MP3/OGG packets.
_CHECK_FRAMES = 4096
# Frames per block of the content scan: 64 Ki frames is 512 KB of float32 stereo.
_SCAN_FRAMES = 65536
# A file whose every sample's magnitude is below this (full scale = 1.0) is refused as
# silent: 1e-4 is -80 dBFS, about 3 LSB of 16-bit audio, so dither alone counts as silence.
SILENCE_PEAK = 1e-4

# (offset, magic bytes, what a curator should be told the file is, rejection code).
_SIGNATURES = [
    (0, b"%PDF", "a PDF document", "not_audio"),
    (0, b"PK\x03\x04", "a ZIP archive", "not_audio"),
    (0, b"\x1f\x8b", "a gzip archive", "not_audio"),
    (0, b"\x89PNG", "a PNG image", "not_audio"),
    (0, b"\xff\xd8\xff", "a JPEG image", "not_audio"),
    (0, b"GIF8", "a GIF image", "not_audio"),
    (0, b"MThd", "a MIDI file (notes, not recorded audio)", "not_audio"),
    # MP4/M4A is audio, just not one libsndfile decodes.
    (4, b"ftyp", "an MP4/M4A (AAC) file", "unsupported_format"),
]


@dataclass(frozen=True)
class AudioInfo:
    format: str
    duration: float
    sample_rate: int
    channels: int
    frames: int


class AudioRejected(Exception):
    """A file MESS will not take, with a machine-readable code and a message for people."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def check_size(size, name):
    """Refuse empty and oversized files; cheap, so callers run it before reading anything."""
    if size == 0:
        raise AudioRejected("empty", f"{name} is empty (0 bytes).")
    limit = settings.MESS_MAX_UPLOAD_BYTES
    if size > limit:
        raise AudioRejected(
            "too_large", f"{name} is {human_size(size)}; files may be at most {human_size(limit)}."
        )


def probe(path, name=None):
    """Describe the audio at `path`, or raise AudioRejected saying why it is not acceptable.

    `name` is the file name shown in messages (an upload's temp file has a meaningless one).
    """
    path = Path(path)
    name = name or path.name
    check_size(path.stat().st_size, name)
    with _open(path, name) as audio:
        fmt = _SAME_FORMAT.get(audio.format, audio.format)
        if fmt not in ACCEPTED_FORMATS:
            raise _unsupported(name, f"is {fmt} audio")
        if fmt == "WAV":
            _check_wav_data_chunk(path, name)
        if audio.frames == 0:
            # What a truncated OGG reports: its length lives in the last page, now gone.
            raise AudioRejected("corrupt", f"{name} has a {fmt} header but no audio that can be decoded.")
        info = AudioInfo(
            format=fmt,
            duration=audio.frames / audio.samplerate,
            sample_rate=audio.samplerate,
            channels=audio.channels,
            frames=audio.frames,
        )
        _check_duration(info, name)
        _check_decodes(audio, name)
        _check_content(audio, name)
    return info


def human_size(size):
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def human_duration(seconds):
    if seconds < 60:
        return f"{round(seconds, 1):g} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {secs} s" if hours else f"{minutes} min {secs} s"


def _accepted_list():
    *first, last = ACCEPTED_FORMATS
    return f"{', '.join(first)} or {last}"


def _unsupported(name, what):
    return AudioRejected(
        "unsupported_format", f"{name} {what}, which MESS does not accept; convert it to {_accepted_list()}."
    )


def _open(path, name):
    try:
        return sf.SoundFile(path)
    except sf.LibsndfileError as exc:
        looks_like = _sniff(path)
        if looks_like:
            description, code = looks_like
            if code == "unsupported_format":
                raise _unsupported(name, f"looks like {description}") from exc
            raise AudioRejected(code, f"{name} is not audio: it looks like {description}.") from exc
        if exc.code == 3:  # SF_ERR_MALFORMED_FILE: a known audio header, broken after it.
            raise AudioRejected("corrupt", f"{name} is damaged: its header cannot be read ({_detail(exc)}).") from exc
        raise AudioRejected(
            "not_audio", f"{name} is not an audio file MESS can read (accepted: {_accepted_list()})."
        ) from exc


def _sniff(path):
    """(description, code) for a few common non-audio files, or None when unknown."""
    with open(path, "rb") as f:
        head = f.read(512)
    for offset, magic, description, code in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return description, code
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")  # a multi-byte character cut at byte 512
    if not all(ch.isprintable() or ch.isspace() for ch in text.lstrip("\ufeff")):
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page", "not_audio"
    return "a text file", "not_audio"


def _check_wav_data_chunk(path, name):
    """libsndfile silently shortens a truncated WAV; compare the declared data size instead."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        riff = f.read(12)
        endian = {b"RIFF": "<", b"RIFX": ">"}.get(riff[:4])
        if endian is None or riff[8:12] != b"WAVE":
            return  # RF64/W64 or unusual variants: libsndfile validated them itself.
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise AudioRejected("corrupt", f"{name} is damaged: it has no audio data chunk.")
            chunk_id, chunk_size = header[:4], struct.unpack(f"{endian}I", header[4:])[0]
            if chunk_id == b"data":
                break
            f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)  # chunks are word-aligned
        present = size - f.tell()
    # 0 and 0xFFFFFFFF are placeholders written by streaming recorders: nothing to compare.
    if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > present:
        raise AudioRejected(
            "corrupt",
            f"{name} is truncated: its header declares {chunk_size} bytes of audio "
            f"but only {present} are present.",
        )


def _check_duration(info, name):
    minimum = settings.MESS_MIN_DURATION_SECONDS
    maximum = settings.MESS_MAX_DURATION_SECONDS
    if info.duration < minimum:
        raise AudioRejected(
            "too_short",
            f"{name} is {human_duration(info.duration)} long; tracks must be at least {human_duration(minimum)}.",
        )
    if info.duration > maximum:
        raise AudioRejected(
            "too_long",
            f"{name} is {human_duration(info.duration)} long; tracks may be at most {human_duration(maximum)}.",
        )


def _check_decodes(audio, name):
    """Decode a short stretch at the start and at the end: truncation shows up at the end."""
    count = min(audio.frames, _CHECK_FRAMES)
    for position, where in ((0, "start"), (audio.frames - count, "end")):
        try:
            audio.seek(position)
            decoded = len(audio.read(count, dtype="float32"))
        except sf.LibsndfileError as exc:
            raise _undecodable(name, where, _detail(exc)) from exc
        if decoded < count:
            raise _undecodable(name, where, "the audio stops before its declared length")


def _check_content(audio, name):
    """Refuse audio with NaN/infinite samples ("non_finite") or none at or above
    SILENCE_PEAK ("silent"), decoding `_SCAN_FRAMES` at a time into one reused buffer.

    Every file is decoded to the end, whatever its coding: one NaN anywhere is enough to
    refuse it, and a block that does not decode is damage (FLAC loses sync there). Of the
    accepted codings only float WAV (FLOAT, DOUBLE) stores NaN or infinity as such; integer
    PCM and FLAC cannot, and the encoders of the lossy ones do not write them (LAME aborts,
    Vorbis and Opus encode finite sound), but their decoders compute in floating point
    from what a file says, so a hostile one is checked the same way. Measured on a
    10-minute stereo file (44.1 kHz, Opus 48 kHz): float WAV ~20 ms, 16-bit WAV ~70 ms,
    FLAC ~0.35 s, MP3 ~0.4 s, Vorbis ~0.6 s, Opus ~2 s.
    """
    buffer = np.empty((_SCAN_FRAMES, audio.channels), dtype="float32")
    peak = 0.0
    try:
        audio.seek(0)
        while True:
            block = audio.read(_SCAN_FRAMES, dtype="float32", out=buffer)
            if not len(block):
                break
            block_peak = float(np.max(np.abs(block)))  # NaN propagates; inf stays inf
            if not np.isfinite(block_peak):
                first = audio.tell() - len(block) + int(np.argmin(np.isfinite(block).all(axis=1)))
                raise AudioRejected(
                    "non_finite",
                    f"{name} contains invalid samples (NaN or infinite values), the first at "
                    f"{human_duration(first / audio.samplerate)}; export it again from the original recording.",
                )
            peak = max(peak, block_peak)
    except sf.LibsndfileError as exc:
        raise _undecodable(name, "middle", _detail(exc)) from exc
    if peak < SILENCE_PEAK:
        raise AudioRejected(
            "silent",
            f"{name} is silent: no sample reaches -80 dBFS (peak {_dbfs(peak)}), so there is nothing to analyse.",
        )


def _dbfs(peak):
    return "zero" if peak == 0 else f"{20 * np.log10(peak):.0f} dBFS"


def _undecodable(name, where, detail):
    return AudioRejected(
        "corrupt", f"{name} is damaged or truncated near the {where}; it cannot be decoded ({detail})."
    )


def _detail(exc):
    return exc.error_string.rstrip(".")
