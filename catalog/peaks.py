"""Waveform peaks: a track's loudness outline, so the browser draws the waveform without
downloading or decoding the audio.

The audio is decoded block by block (memory stays bounded for a two-hour file) into
PEAK_COUNT bars, each the largest absolute sample over its stretch of time and over all
channels. Tracks are content-addressed, so the result is kept in the default storage
under the audio's sha256 and never goes stale; only the first request reads the audio.
"""

import json
import logging
import math

import numpy as np
import soundfile as sf
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_safe

from catalog.models import Track
from messsite.api_errors import json_error

logger = logging.getLogger(__name__)

PEAK_COUNT = 1600  # about one bar per pixel of a wide screen
BLOCK_FRAMES = 256 * 1024  # frames decoded at a time


class PeaksUnavailable(Exception):
    """The audio cannot be outlined; `code` is stable, the message is for people."""

    def __init__(self, code, message, status):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


PEAKS_FOLDER = "peaks"


def cached_peaks_name(track):
    return peaks_name(track.sha256)


def peaks_name(sha256):
    # The count is part of the name: a different resolution is a different file.
    return f"{PEAKS_FOLDER}/{sha256}-{PEAK_COUNT}.json"


def forget_peaks(sha256):
    """Remove the cached peaks of these bytes unless a track still has them; call it after
    the deleting transaction commits (catalog/signals.py). Peaks of another PEAK_COUNT
    are left to `manage.py clean_orphans`."""
    if not Track.objects.filter(sha256=sha256).exists():
        default_storage.delete(peaks_name(sha256))


def track_peaks_json(track):
    """The track's peaks as JSON text, from the cache or computed once and cached."""
    name = cached_peaks_name(track)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as cached:
            return cached.read().decode()
    body = json.dumps(read_peaks(track), separators=(",", ":"))
    saved = default_storage.save(name, ContentFile(body.encode()))
    if saved != name:  # a concurrent request cached the same peaks first
        default_storage.delete(saved)
    return body


def read_peaks(track):
    """{"duration", "sample_rate", "channels", "peaks"} of the track's audio, or
    PeaksUnavailable saying why not."""
    storage, name = track.storage, track.audio_path
    try:
        present = storage.exists(name)
    except SuspiciousFileOperation:
        raise PeaksUnavailable(
            "audio_unavailable", f"The audio file of track {track.pk} lies outside its storage.", 404
        ) from None
    if not present:
        raise PeaksUnavailable("audio_missing", f"The audio file of track {track.pk} is missing from storage.", 404)
    try:
        with storage.open(name, "rb") as file, sf.SoundFile(file) as audio:
            if audio.frames > 0:
                return outline(audio, PEAK_COUNT)
    except (RuntimeError, OSError) as error:  # soundfile's LibsndfileError is a RuntimeError
        logger.warning("Track %s: no waveform peaks: %s", track.pk, error)
        # libsndfile's own words, never the message that names the server's file path.
        detail = getattr(error, "error_string", None) or getattr(error, "strerror", None) or "a read error"
        raise PeaksUnavailable(
            "unreadable_audio",
            f"The audio of track {track.pk} could not be read to draw its waveform ({detail.rstrip('.')}).",
            422,
        ) from error
    raise PeaksUnavailable("unreadable_audio", f"The audio file of track {track.pk} holds no audio.", 422)


def outline(audio, count):
    """Up to `count` peaks (0 to 1) of an open SoundFile holding at least one frame,
    read in BLOCK_FRAMES blocks."""
    frames = audio.frames
    per_peak = math.ceil(frames / count)
    peaks = np.zeros(math.ceil(frames / per_peak), dtype=np.float32)
    # Blocks are whole multiples of per_peak, so every peak's stretch lies in one block.
    block_frames = per_peak * max(1, BLOCK_FRAMES // per_peak)
    position = 0
    for block in audio.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
        # Highest and lowest sample per stretch, then per frame: 3x faster than abs() first.
        starts = np.arange(0, len(block), per_peak)
        highest = np.maximum.reduceat(block, starts).max(axis=1)
        lowest = np.minimum.reduceat(block, starts).min(axis=1)
        maxima = np.maximum(highest, -lowest)
        first = position // per_peak
        # A header may promise fewer frames than the file decodes to; the surplus is left out.
        kept = maxima[: max(0, len(peaks) - first)]
        peaks[first : first + len(kept)] = kept
        position += len(block)
    return {
        "duration": frames / audio.samplerate,
        "sample_rate": audio.samplerate,
        "channels": audio.channels,
        "peaks": [round(float(peak), 4) for peak in np.clip(peaks, 0.0, 1.0)],
    }


@require_safe
def track_peaks(request, pk):
    track = Track.objects.filter(pk=pk).first()
    if track is None:
        return json_error(404, "not_found", f"There is no track {pk}.")
    # The peaks change only with the audio: a browser revalidates and gets a 304 unread.
    etag = f'"{track.sha256}-{PEAK_COUNT}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        try:
            response = HttpResponse(track_peaks_json(track), content_type="application/json")
        except PeaksUnavailable as exc:
            return json_error(exc.status, exc.code, exc.message)
    response["ETag"] = etag
    patch_cache_control(response, no_cache=True)
    return response
