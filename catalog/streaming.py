"""Seekable audio: serve a track's bytes with HTTP range requests (RFC 9110, section 14).

Browsers' <audio> elements seek by asking for byte ranges, so local files are served
here with single-range support and validators (ETag, Last-Modified) for caches. Files
in object storage (S3) are not proxied: the client is redirected to a short-lived
presigned URL and the bucket answers the range requests itself. serve_track does this for
the site's player (track_audio) and for Subsonic players (catalog/subsonic/media.py) alike.
"""

import logging
import os
import re
import stat

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.http import require_safe

from catalog.audio import ACCEPTED_FORMATS
from catalog.models import Track

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
# One range only: a list ("bytes=0-1,5-9") does not match and is answered in full.
# Numbers longer than 18 digits exceed any file; such a header is ignored like a malformed one.
_SINGLE_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    pass


def byte_range(header, size):
    """The inclusive (first, last) byte positions a Range header asks for, or None to
    send the whole file.

    RFC 9110 lets a server ignore a Range header, so malformed ones and multiple ranges
    get a plain 200: players ask for one range at a time, and the full body is always a
    correct answer. Raises RangeNotSatisfiable when the range starts past the end.
    """
    match = _SINGLE_RANGE.fullmatch(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    first, last = int(first), int(last) if last else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


def if_range_allows(request, etag, last_modified):
    """If-Range: honour the Range only if the client's copy is still current (strong match)."""
    validator = request.headers.get("If-Range")
    if validator is None:
        return True
    if validator.startswith(('"', "W/")):
        return validator == etag  # weak tags never match (strong comparison)
    return parse_http_date_safe(validator) == last_modified


def _chunks(path, offset, length):
    # Opened lazily: the WSGI server closes the generator (and with it the file) when the
    # client goes away, and a HEAD or 304 never opens the file at all.
    with open(path, "rb") as file:
        file.seek(offset)
        while length > 0:
            chunk = file.read(min(CHUNK_SIZE, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


class AudioUnavailable(Exception):
    """The track exists but its file cannot be served; the message says why, for people."""


def _local_file(track):
    """(absolute path, size, mtime) of a track's file in a filesystem storage."""
    try:
        # FileSystemStorage.path joins safely: a name that escapes the root raises.
        path = track.storage.path(track.audio_path)
    except SuspiciousFileOperation:
        logger.warning("Track %s: audio path %r escapes its storage root", track.pk, track.audio_path)
        raise AudioUnavailable(f"The audio file of track {track.pk} lies outside its storage and is not served.") from None
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        logger.warning("Track %s: audio file %s is missing", track.pk, path)
        raise AudioUnavailable(f"The audio file of track {track.pk} is missing from storage.")
    return path, info.st_size, int(info.st_mtime)


@require_safe
def track_audio(request, pk):
    track = get_object_or_404(Track, pk=pk)
    try:
        return serve_track(request, track)
    except AudioUnavailable as exc:
        return HttpResponseNotFound(str(exc), content_type="text/plain; charset=utf-8")


def serve_track(request, track):
    """The response to a GET or HEAD (or a POST, which Subsonic players may send) for the
    track's audio: the file or the Range asked for, 304/412 for conditional requests, 416
    for a range past the end, or a redirect to object storage. Raises AudioUnavailable
    when the file cannot be served; each caller answers that in its own protocol."""
    if not isinstance(track.storage, FileSystemStorage):
        # django-storages presigns the URL for AUDIO_URL_EXPIRY_SECONDS; the redirect
        # itself must not be cached longer than the URL lives.
        response = HttpResponseRedirect(track.storage.url(track.audio_path))
        response["Cache-Control"] = "no-store"
        return response

    path, size, mtime = _local_file(track)
    etag = f'"{track.sha256}"'
    validators = {"ETag": etag, "Last-Modified": http_date(mtime), "Accept-Ranges": "bytes"}

    not_modified = get_conditional_response(request, etag=etag, last_modified=mtime)
    if not_modified is not None:  # 304, or 412 for a failed If-Match / If-Unmodified-Since
        for name, value in validators.items():
            not_modified[name] = value
        return not_modified

    first, last = 0, size - 1
    status = 200
    if "Range" in request.headers and if_range_allows(request, etag, mtime):
        try:
            asked = byte_range(request.headers["Range"], size)
        except RangeNotSatisfiable:
            response = HttpResponse(
                "The requested range lies beyond the end of the file.",
                status=416,
                content_type="text/plain; charset=utf-8",
            )
            response["Content-Range"] = f"bytes */{size}"
            response["Accept-Ranges"] = "bytes"
            return response
        if asked is not None:
            (first, last), status = asked, 206

    length = last - first + 1
    body = () if request.method == "HEAD" else _chunks(path, first, length)
    response = StreamingHttpResponse(
        body, status=status, content_type=ACCEPTED_FORMATS.get(track.format, "application/octet-stream")
    )
    for name, value in validators.items():
        response[name] = value
    response["Content-Length"] = str(length)
    if status == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response
