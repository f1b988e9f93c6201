"""Which catalogue track each entry of an imported playlist file means, trying in turn:

1. a URL of this site naming a track by id (a stream, track page or API track URL, as
   exported by formats.py), when its host is the one the import came to;
2. the file name, against the track's stored file name (its audio_path's last part), the
   name it was uploaded under (metadata["original_name"]) and its external id's last part;
3. the words, "artist - title" or the title alone (the #EXTINF title, else the file name
   without its extension), against title, "composer - title" and "performer - title",
   ignoring case, accents and spacing.

When several tracks fit a file name or a title, the oldest (lowest id) is taken.
"""

import re
from urllib.parse import unquote, urlsplit

from django.db.models.fields.json import KeyTextTransform
from django.urls import Resolver404, resolve

from catalog.composers import folded
from catalog.models import Track

TRACK_URL_NAMES = {"catalog:track-audio", "catalog:track-detail", "track-detail"}  # the last: the API's
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DASHES = re.compile("[\u2010-\u2015\u2212]")  # hyphens and dashes people and taggers use for "-"


def match_entries(entries, host):
    """(track ids in the entries' order, the location lines of the entries no track fits).
    `host` is this site's host as the request named it (request.get_host())."""
    by_url = _tracks_by_own_url(entries, host)
    catalogue = None  # read once, and only when an entry is not one of our URLs
    matched, unmatched = [], []
    for entry in entries:
        track_id = by_url.get(entry.location)
        if track_id is None:
            catalogue = catalogue or _Catalogue()
            track_id = catalogue.find(entry)
        if track_id is None:
            unmatched.append(entry.location)
        else:
            matched.append(track_id)
    return matched, unmatched


def _tracks_by_own_url(entries, host):
    """{location: track id} for the entries that are URLs of this site naming a track that exists."""
    named = {}
    for entry in entries:
        parts = urlsplit(entry.location) if _URL.match(entry.location) else None
        if parts is None or parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            continue
        try:
            route = resolve(parts.path)
        except Resolver404:
            continue
        if route.view_name in TRACK_URL_NAMES and str(route.kwargs.get("pk", "")).isdigit():
            named[entry.location] = int(route.kwargs["pk"])
    existing = set(Track.objects.filter(pk__in=set(named.values())).values_list("pk", flat=True))
    return {location: pk for location, pk in named.items() if pk in existing}


def _file_name(location):
    """The last part of a URL's path or of a file path (POSIX or Windows), unquoted."""
    path = unquote(urlsplit(location).path) if _URL.match(location) else location
    return re.split(r"[\\/]", path)[-1]


def _key(text):
    """Text as it is compared: no case, accents, dash variants or extra spaces."""
    return " ".join(folded(_DASHES.sub("-", text)).split())


class _Catalogue:
    """Every track's file names and titles, keyed for matching: one query per import."""

    def __init__(self):
        self.by_file_name, self.by_words = {}, {}
        tracks = Track.objects.order_by("pk").values_list(
            "pk", "audio_path", "external_id", "title", "composer", "performer",
            KeyTextTransform("original_name", "metadata"),
        )  # fmt: skip
        for pk, audio_path, external_id, title, composer, performer, original_name in tracks:
            for name in (audio_path, original_name, external_id):
                if name:
                    self.by_file_name.setdefault(_key(_file_name(name)), pk)
            if not title:
                continue
            self.by_words.setdefault(_key(title), pk)
            for artist in (composer, performer):
                if artist:
                    self.by_words.setdefault(_key(f"{artist} - {title}"), pk)

    def find(self, entry):
        file_name = _file_name(entry.location)
        if found := self.by_file_name.get(_key(file_name)):
            return found
        for words in (entry.title, file_name.rpartition(".")[0] or file_name):
            key = _key(words)
            if not key:
                continue
            # "artist - title" whole, else the title after the artist.
            after_artist = key.partition(" - ")[2]
            if found := self.by_words.get(key) or (after_artist and self.by_words.get(after_artist)):
                return found
        return None
