"""star, unstar, getStarred, getStarred2, scrobble and setRating.

Stars (catalog.models.Star) are kept by Subsonic id: a song's with its track, and gone
with it; an album's or an artist's by its `al-`/`ar-` id, which names the grouping
itself (library.py), so the star returns with the album if its tracks are re-imported.
The starred lists show what exists now (in the music folder asked for), most recently
starred first. Ids are self-describing, so `id`, `albumId` and `artistId` each take
any of the three kinds.

scrobble records one Play per id, at its `time` (milliseconds since 1970, one per id) or
now; a scrobble sent again with the same time (a player retrying its offline queue) is
recorded once. `submission=false` is a "now playing" notice: accepted and not recorded,
as MESS keeps no now-playing list. MESS keeps no ratings: setRating is refused, saying so.
"""

import operator
from datetime import UTC, datetime, timedelta
from functools import reduce

from django.utils import timezone

from catalog.models import Play, Star
from catalog.subsonic.library import (
    ALBUM_PREFIX,
    ARTIST_PREFIX,
    album_child,
    album_entry,
    album_key,
    albums,
    artist_entry,
    artist_id,
    artists,
    in_folder,
    iso,
    parse_album_id,
    parse_artist_id,
    resolve_items,
    resolve_songs,
    song_entries,
    songs,
)
from catalog.subsonic.protocol import GENERIC, SubsonicError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ids(params, names=("id", "albumId", "artistId")):
    values = [value for name in names for value in params.list(name)]
    if not values:
        params.required(names[0])  # raises: error 10
    return values


# --- stars ------------------------------------------------------------------------------


def star(call):
    items = resolve_items(_ids(call.params))
    Star.objects.bulk_create(  # a second star keeps the first one's date
        [Star(user=call.user, item=item.id, track=item.track) for item in items], ignore_conflicts=True
    )
    return {}


def unstar(call):
    items = resolve_items(_ids(call.params))
    Star.objects.filter(user=call.user, item__in=[item.id for item in items]).delete()
    return {}


def get_starred2(call):
    artist_rows, album_rows, song_rows = _starred(call)
    return {"starred2": {
        "artist": [artist_entry(name, count, starred=when) for name, when, count in artist_rows],
        "album": [album_entry(row, starred=when) for row, when in album_rows],
        "song": song_rows,
    }}


def get_starred(call):
    """getStarred2's content in the folder-based shape: albums as directories."""
    artist_rows, album_rows, song_rows = _starred(call)
    return {"starred": {
        "artist": [{"id": artist_id(name), "name": name, "starred": iso(when)} for name, when, _ in artist_rows],
        "album": [album_child(row, starred=when) for row, when in album_rows],
        "song": song_rows,
    }}


def _starred(call):
    """What the caller starred that exists now (in the music folder asked for), most
    recent first: [(artist name, when, album count)], [(album row, when)], song entries."""
    tracks = in_folder(songs(), call.params)
    starred_artists, starred_albums, track_ids = {}, {}, []
    for item, track_id, when in Star.objects.filter(user=call.user).values_list("item", "track_id", "created_at"):
        if track_id is not None:
            track_ids.append(track_id)
        elif item.startswith(ALBUM_PREFIX):
            starred_albums[parse_album_id(item)] = when
        elif item.startswith(ARTIST_PREFIX):
            starred_artists[parse_artist_id(item)] = when
    found = tracks.in_bulk(track_ids)
    entries = song_entries(call.user, [found[pk] for pk in track_ids if pk in found])
    return _artist_rows(tracks, starred_artists), _album_rows(call.user, tracks, starred_albums), entries


def _album_rows(user, tracks, starred):
    if not starred:
        return []
    rows = albums(tracks.filter(reduce(operator.or_, (key.q for key in starred))), user=user)
    by_key = {album_key(row): row for row in rows}
    return [(by_key[key], when) for key, when in starred.items() if key in by_key]


def _artist_rows(tracks, starred):
    # Every artist's albums counted in one pass (as getArtist lists them), however many are starred.
    counts = artists(tracks) if starred else {}
    return [(name, when, counts[name]) for name, when in starred.items() if counts.get(name)]


# --- plays and ratings ------------------------------------------------------------------


def scrobble(call):
    tracks = resolve_songs(_ids(call.params, ("id",)))
    if not call.params.bool("submission", True):
        return {}
    times = call.params.list("time")
    if times and len(times) != len(tracks):
        raise SubsonicError(GENERIC, f"Send one 'time' per 'id' ({len(tracks)}), or none; got {len(times)}.")
    moments = [_moment(time) for time in times] if times else [timezone.now()] * len(tracks)
    plays = dict.fromkeys(zip(tracks, moments))  # each (track, moment) once, in order
    recorded = set(Play.objects.filter(
        user=call.user, track__in={track for track, _ in plays}, played_at__in=set(moments),
    ).values_list("track_id", "played_at"))
    Play.objects.bulk_create(
        Play(user=call.user, track=track, played_at=when) for track, when in plays if (track.pk, when) not in recorded
    )
    return {}


def _moment(value):
    try:
        return EPOCH + timedelta(milliseconds=int(value))  # exact, where a float would round
    except (ValueError, OverflowError):
        raise SubsonicError(GENERIC, f"Parameter 'time' must be milliseconds since 1970, not {value[:40]!r}.") from None


def set_rating(call):
    raise SubsonicError(GENERIC, "MESS keeps no ratings; star what you like instead (star).")


ENDPOINTS = {
    "star": star,
    "unstar": unstar,
    "getStarred": get_starred,
    "getStarred2": get_starred2,
    "scrobble": scrobble,
    "setRating": set_rating,
}
