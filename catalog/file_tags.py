"""A track's descriptive fields from the tags embedded in its file, read with mutagen: ID3
(MP3, and WAV or AIFF files with an ID3 chunk) and Vorbis comments (FLAC, Ogg Vorbis, Opus).
MP4 atoms never get here: MESS does not accept MP4/M4A audio (libsndfile cannot decode it).

Tags are hints, never a reason to refuse a file: unreadable tags give no fields, and a value
that does not fit its field (a year that is no year, a title longer than the column) is cut
to fit or left out.
"""

import logging
import re

import mutagen
from django.core.exceptions import ValidationError
from django.db import models
from mutagen._vorbis import VCommentDict  # documented API, despite the module's name
from mutagen.id3 import ID3

from catalog.models import Track

logger = logging.getLogger(__name__)

# Track field -> tag names, the first present wins. The artist is the performer (see
# Track.performer). ID3 has no work frame of its own: Picard and iTunes write TXXX:WORK
# or TIT1 (the "content group", which classical taggers use for the work).
ID3_FRAMES = {
    "title": ("TIT2",), "composer": ("TCOM",), "work": ("TXXX:WORK", "TIT1"), "performer": ("TPE1",),
    "album": ("TALB",), "year": ("TDRC",), "genre": ("TCON",), "track_number": ("TRCK",),
}  # fmt: skip
VORBIS_NAMES = {
    "title": ("title",), "composer": ("composer",), "work": ("work",), "performer": ("artist", "performer"),
    "album": ("album",), "year": ("date", "year"), "genre": ("genre",), "track_number": ("tracknumber",),
}  # fmt: skip

_LEADING_NUMBER = re.compile(r"\s*(\d+)")  # "2004-05-01" -> 2004, "3/12" -> 3


def read_tags(path):
    """{field: value} for the descriptive fields the file's tags give; {} when it has none
    or they cannot be read."""
    try:
        texts = _tag_texts(path)
    # mutagen raises more than MutagenError on damaged tags (struct, Unicode, index
    # errors); whatever it is, the audio was already validated and is imported without.
    except Exception:
        logger.warning("Ignoring the unreadable tags of %s", path, exc_info=True)
        return {}
    fields = {name: _fit(name, text) for name, text in texts.items()}
    return {name: value for name, value in fields.items() if value not in (None, "")}


def _tag_texts(path):
    tags = getattr(mutagen.File(path), "tags", None)
    if isinstance(tags, ID3):
        lookup, table = (lambda key: _id3_texts(tags.get(key))), ID3_FRAMES
    elif isinstance(tags, VCommentDict):
        lookup, table = (lambda key: tags[key] if key in tags else []), VORBIS_NAMES
    else:
        return {}
    texts = {}
    for field, keys in table.items():
        for key in keys:
            # Several values (two performers, say) become one: "A; B".
            text = "; ".join(value.strip() for value in lookup(key) if value.strip())
            if text:
                texts[field] = text
                break
    return texts


def _id3_texts(frame):
    if frame is None:
        return []
    if frame.FrameID == "TCON":
        return frame.genres  # "(13)" and other ID3v1 genre numbers, as names
    return [str(text) for text in frame.text]  # TDRC holds timestamps


def _fit(name, text):
    field = Track._meta.get_field(name)
    if isinstance(field, models.IntegerField):
        match = _LEADING_NUMBER.match(text)
        value = int(match[1]) if match else None
    else:
        value = text[: field.max_length]
    try:
        return field.clean(value, None)
    except ValidationError:
        return None
