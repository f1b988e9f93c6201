"""Finding albums and songs: album lists (getAlbumList, getAlbumList2), random songs,
songs by genre, and search (search2, search3).

- Album lists: `frequent` and `recent` are the caller's own plays (scrobbles); `highest`
  would be ratings, which MESS does not keep, so it answers `frequent`; `starred` is the
  caller's starred albums, latest first; `byYear` uses an album's latest year, and
  `fromYear` > `toYear` lists the range newest first, as the specification says.
- search matches every word of the query, ignoring case and accents ("dvorak" finds
  "Dvořák"): songs by title, performer, composer, album or work; albums by name or by the
  artist or composer of one of their songs; artists by name. An empty query (or `""`, as
  some players send it) matches everything, so that players can page through the whole
  library to sync. Only the query's first MAX_QUERY_LENGTH characters and, of those, its
  first MAX_QUERY_WORDS words count (each word costs the database a pass). Counts are
  capped at MAX_SEARCH_COUNT, far above a player's page (one that asks for 1,000 songs and
  gets fewer takes it for the end of the library), so that no call serialises a large
  library at once; a count of 0 skips that kind's query.
"""

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import CharField, Count, F, Q, Value
from django.db.models.functions import Concat, Lower

from catalog.models import Star
from catalog.subsonic.library import (
    ALBUM_NAME,
    ALBUM_ORDER,
    ALBUM_PREFIX,
    ARTIST,
    album_child,
    album_entry,
    album_key,
    albums,
    artist_entry,
    artist_folder_entry,
    artist_id,
    artists,
    contains_words,
    fold,
    in_folder,
    parse_album_id,
    song_entries,
    songs,
    sort_name,
    starred_at,
)
from catalog.subsonic.protocol import GENERIC, MISSING_PARAMETER, SubsonicError

MAX_LIST_SIZE = 500
MAX_SEARCH_COUNT = 5000
MAX_QUERY_LENGTH, MAX_QUERY_WORDS = 200, 10
ALBUM_LIST_TYPES = ("random", "newest", "highest", "frequent", "recent", "alphabeticalByName",
                    "alphabeticalByArtist", "starred", "byYear", "byGenre")


def get_album_list(call):
    rows, stars = _album_list(call)
    return {"albumList": {"album": [album_child(row, starred=stars.get(album_key(row).id)) for row in rows]}}


def get_album_list2(call):
    rows, stars = _album_list(call)
    return {"albumList2": {"album": [album_entry(row, starred=stars.get(album_key(row).id)) for row in rows]}}


def _album_list(call):
    """(album rows, the caller's stars among them) of the list `type` names, paged."""
    params = call.params
    kind = params.required("type")
    size = params.int("size", 10, maximum=MAX_LIST_SIZE)
    offset = params.int("offset", 0)
    tracks = in_folder(songs(), params)
    if kind == "starred":
        return _starred_albums(call.user, tracks, offset, size)
    rows = albums(tracks, user=call.user)
    if kind == "random":
        rows = rows.order_by("?")
    elif kind == "newest":
        rows = rows.order_by("-created", *ALBUM_ORDER)
    elif kind in ("frequent", "highest"):
        rows = rows.filter(play_count__gt=0).order_by("-play_count", *ALBUM_ORDER)
    elif kind == "recent":
        rows = rows.filter(played__isnull=False).order_by("-played", *ALBUM_ORDER)
    elif kind == "alphabeticalByArtist":
        rows = rows.order_by(Lower("album_artist"), "album_artist", *ALBUM_ORDER)
    elif kind == "byYear":
        first, last = _year(params, "fromYear"), _year(params, "toYear")
        year = F("a_year").desc() if first > last else F("a_year").asc()
        rows = rows.filter(a_year__gte=min(first, last), a_year__lte=max(first, last)).order_by(year, *ALBUM_ORDER)
    elif kind == "byGenre":
        genre = params.required("genre")
        rows = rows.alias(in_genre=Count("id", filter=Q(genre=genre))).filter(in_genre__gt=0)
    elif kind != "alphabeticalByName":  # albums() are in that order already
        raise SubsonicError(GENERIC, f"Unknown album list type {kind[:40]!r}; "
                                     f"use one of {', '.join(ALBUM_LIST_TYPES)}.")
    rows = list(rows[offset:offset + size])
    return rows, starred_at(call.user, (album_key(row).id for row in rows))


def _year(params, name):
    """A year that byYear requires: 10 when missing, 0 when not a number."""
    params.required(name)
    return params.int(name)


def _starred_albums(user, tracks, offset, size):
    """The albums `user` starred among `tracks`, the latest starred first."""
    stars = dict(Star.objects.filter(user=user, item__startswith=ALBUM_PREFIX).values_list("item", "created_at"))
    keys = [parse_album_id(item) for item in stars]
    if not keys:
        return [], stars
    rows = sorted(albums(tracks.filter(reduce(or_, (key.q for key in keys))), user=user),
                  key=lambda row: stars[album_key(row).id], reverse=True)
    return rows[offset:offset + size], stars


def get_random_songs(call):
    params = call.params
    tracks = in_folder(songs(), params)
    if params.get("genre"):
        tracks = tracks.filter(genre=params.get("genre"))
    if params.int("fromYear") is not None:
        tracks = tracks.filter(year__gte=params.int("fromYear"))
    if params.int("toYear") is not None:
        tracks = tracks.filter(year__lte=params.int("toYear"))
    size = params.int("size", 10, maximum=MAX_LIST_SIZE)
    return {"randomSongs": {"song": song_entries(call.user, tracks.order_by("?")[:size])}}


def get_songs_by_genre(call):
    params = call.params
    tracks = in_folder(songs(), params).filter(genre=params.required("genre"))
    count, offset = params.int("count", 10, maximum=MAX_LIST_SIZE), params.int("offset", 0)
    return {"songsByGenre": {"song": song_entries(call.user, tracks[offset:offset + count])}}


def search3(call):
    found = _search(call)
    return {"searchResult3": {
        "artist": found.artists,
        "album": [album_entry(row, starred=starred) for row, starred in found.albums],
        "song": found.songs,
    }}


def search2(call):
    found = _search(call)
    return {"searchResult2": {
        "artist": list(map(artist_folder_entry, found.artists)),
        "album": [album_child(row, starred=starred) for row, starred in found.albums],
        "song": found.songs,
    }}


@dataclass(frozen=True)
class Found:
    artists: list  # ArtistID3 entries
    albums: list  # (row of albums(), when the caller starred it or None)
    songs: list  # song entries


def _search(call):
    """What `query` matches, each kind paged by its own count and offset."""
    params = call.params
    if "query" not in params:
        raise SubsonicError(MISSING_PARAMETER, "Required parameter 'query' is missing.")
    query = params.get("query")[:MAX_QUERY_LENGTH].replace('"', " ").replace("*", " ")  # `""`, Lucene's `term*`
    words = query.split()[:MAX_QUERY_WORDS]
    tracks = in_folder(songs(), params)

    def page(kind):
        """The slice of `kind`'s matches asked for; None for none at all."""
        offset = params.int(f"{kind}Offset", 0)
        count = params.int(f"{kind}Count", 20, maximum=MAX_SEARCH_COUNT)
        return slice(offset, offset + count) if count else None

    names, counts = [], {}
    if artist_page := page("artist"):
        counts = artists(tracks)
        folded = [fold(word) for word in words]
        names = sorted((name for name in counts if all(word in fold(name) for word in folded)),
                       key=lambda name: (sort_name(name), name))[artist_page]

    rows = []
    if album_page := page("album"):
        matching = albums(tracks, user=call.user)
        album_text = Concat(ALBUM_NAME, Value("\n"), ARTIST, Value("\n"), "composer", output_field=CharField())
        for number, word in enumerate(words):  # each word in its name, or a song's artist or composer
            matching = matching.alias(**{f"hits{number}": Count("id", filter=contains_words(album_text, [word]))})
            matching = matching.filter(**{f"hits{number}__gt": 0})
        rows = list(matching[album_page])

    matched = []
    if song_page := page("song"):
        song_text = Concat("title", Value("\n"), "performer", Value("\n"), "composer", Value("\n"), "album",
                           Value("\n"), "work", output_field=CharField())
        matched = tracks.filter(contains_words(song_text, words))[song_page]

    stars = starred_at(call.user, [*map(artist_id, names), *(album_key(row).id for row in rows)])
    return Found(
        [artist_entry(name, counts[name], starred=stars.get(artist_id(name))) for name in names],
        [(row, stars.get(album_key(row).id)) for row in rows],
        song_entries(call.user, matched),
    )


ENDPOINTS = {
    "getAlbumList": get_album_list,
    "getAlbumList2": get_album_list2,
    "getRandomSongs": get_random_songs,
    "getSongsByGenre": get_songs_by_genre,
    "search2": search2,
    "search3": search3,
}
