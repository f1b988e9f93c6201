"""stream, download and getCoverArt.

stream and download serve the original file, as the site's player does
(catalog/streaming.py: single byte ranges, validators, 304/416, HEAD, a redirect for
object storage). MESS does not transcode, so `maxBitRate` and `format` are accepted and
ignored (every answer is what `format=raw` asks for), and `timeOffset` is not supported
(the transcodeOffset extension is not advertised): players seek with Range requests. A
stream is not a play; players report plays with `scrobble`.

Cover art is drawn, not stored: a tile whose colours and pattern derive from the cover id
alone, so an album looks the same in every player and on every call, and needs no file.
So a well-formed album or artist id gets its tile without a look-up (a grid of artists
would otherwise read the catalogue once per tile); a song's cover is its album's. It is
written as a PNG by hand (zlib and struct; the web process has no imaging library).
"""

import colorsys
import hashlib
import struct
import zlib
from urllib.parse import quote

import numpy as np
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control

from catalog.streaming import AudioUnavailable, serve_track
from catalog.subsonic.library import (
    ALBUM_PREFIX,
    ARTIST_PREFIX,
    album_of,
    artist_id,
    parse_album_id,
    parse_artist_id,
    parse_song_id,
)
from catalog.subsonic.protocol import NOT_FOUND, SubsonicError

DEFAULT_SIZE, MIN_SIZE, MAX_SIZE = 600, 16, 1200
ART_VERSION = 1  # part of the ETag: change it when the drawing changes
ART_MAX_AGE = 30 * 24 * 3600
GRID = 5  # the pattern's cells per side


def stream(call):
    return _audio(call, attachment=False)


def download(call):
    return _audio(call, attachment=True)


def _audio(call, *, attachment):
    track = parse_song_id(call.params.required("id"))
    try:
        response = serve_track(call.request, track)
    except AudioUnavailable as exc:
        raise SubsonicError(NOT_FOUND, str(exc)) from None
    if attachment:
        response["Content-Disposition"] = _attachment(track.file_name)
    return response


def _attachment(file_name):
    # The name in printable ASCII for old clients, and in full for the rest (RFC 6266).
    ascii_name = "".join(char if " " <= char <= "~" and char not in '"\\' else "_" for char in file_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"


def get_cover_art(call):
    cover_id = _cover_id(call.params.required("id"))
    size = call.params.int("size", DEFAULT_SIZE, minimum=MIN_SIZE, maximum=MAX_SIZE)
    etag = '"' + hashlib.sha256(f"{ART_VERSION}:{size}:{cover_id}".encode()).hexdigest()[:32] + '"'
    response = get_conditional_response(call.request, etag=etag)
    if response is None:
        response = HttpResponse(png(cover_tile(cover_id, size)), content_type="image/png")
    response["ETag"] = etag
    # The picture follows from the id alone; private, as the URL carries the caller's key.
    patch_cache_control(response, private=True, max_age=ART_MAX_AGE)
    return response


def _cover_id(value):
    """The id whose tile `value` shows, as library.py spells it: an album's or artist's own,
    not looked up; a song's album's, for a song that exists; SubsonicError 70 otherwise."""
    if value.startswith(ALBUM_PREFIX):
        return parse_album_id(value).id
    if value.startswith(ARTIST_PREFIX):
        return artist_id(parse_artist_id(value))
    # A song's cover is its album's: the same picture wherever the album shows.
    return album_of(parse_song_id(value)).id


def cover_tile(cover_id, size):
    """A size x size RGB image (uint8): a diagonal gradient between two colours and a
    mirrored GRID x GRID pattern in a third, all read from the id's SHA-256."""
    digest = hashlib.sha256(cover_id.encode()).digest()
    hue = digest[0] / 256
    start = _colour(hue, 0.55, 0.45)
    end = _colour((hue + 0.08 + digest[1] / 256 * 0.17) % 1, 0.65, 0.25)
    ink = _colour((hue + 0.5) % 1, 0.35, 0.92)

    steps = np.arange(size, dtype=np.float32)
    t = ((steps[:, None] + steps[None, :]) / max(2 * (size - 1), 1))[..., None]
    image = start + (end - start) * t

    # Left half and middle column from the digest's bits, mirrored onto the right half.
    half = (GRID + 1) // 2
    bits = int.from_bytes(digest[2:6], "big")
    left = np.array([[bits >> (row * half + col) & 1 for col in range(half)] for row in range(GRID)], dtype=bool)
    cells = np.concatenate([left, left[:, : GRID - half][:, ::-1]], axis=1)
    margin = size / 8
    cell = ((steps - margin) // ((size - 2 * margin) / GRID)).astype(int)  # each row's (and column's) cell
    inside = (cell >= 0) & (cell < GRID)
    cell = cell.clip(0, GRID - 1)
    image[inside[:, None] & inside[None, :] & cells[cell][:, cell]] = ink
    return image.round().astype(np.uint8)


def _colour(hue, saturation, value):
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255


def png(image):
    """PNG bytes of an RGB image (height x width x 3, uint8)."""
    height, width, _ = image.shape
    # Filter "Sub" on every row: each byte minus the same channel of the pixel to its left,
    # so a gradient's rows become near-constant and compress well.
    filtered = image.copy()
    filtered[:, 1:] -= image[:, :-1]  # uint8 arithmetic wraps modulo 256, as the filter wants
    raw = np.concatenate([np.ones((height, 1), dtype=np.uint8), filtered.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    data = zlib.compress(raw.tobytes(), 6)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


ENDPOINTS = {
    "stream": stream,
    "download": download,
    "getCoverArt": get_cover_art,
}
