"""getPlaylists, getPlaylist, createPlaylist, updatePlaylist and deletePlaylist: the site's
playlists (catalog/playlists/), read through its selectors and written through its
services, so a playlist made in a player is the one on the site, and the other way round.

A playlist's id is its pk; `comment` is the site's description; its coverArt is its first
song's album's. Who may do what is the site's rule: one reads one's own playlists and the
public ones (staff: every one), and a playlist one may not read is not found (70); only
its owner, or staff, changes it (50 otherwise). Entries whose track failed are not songs
(library.songs()) and are not listed; `songIndexToRemove` counts the songs as getPlaylist
lists them, before the update, and createPlaylist with a `playlistId` makes the playlist
exactly the songs sent.
"""

from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from catalog.models import Playlist, PlaylistEntry
from catalog.playlists import services
from catalog.playlists.selectors import listed_playlists, visible_playlists
from catalog.subsonic.library import album_of, iso, parse_pk, resolve_songs, song_entries, songs
from catalog.subsonic.protocol import GENERIC, MISSING_PARAMETER, NOT_AUTHORISED, NOT_FOUND, SubsonicError, not_found

# How the services' refusals read in the protocol; any other is error 0.
REFUSALS = {"unknown_tracks": NOT_FOUND, "no_such_position": NOT_FOUND}


def get_playlists(call):
    user = call.user
    username = call.params.get("username")
    if username and username != user.get_username():
        if not user.is_staff:
            raise SubsonicError(NOT_AUTHORISED, "Only staff may list another user's playlists.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise not_found("User")
    playlists = list(_with_song_counts(listed_playlists(user)).annotate(first_track=Subquery(
        _song_rows(OuterRef("pk")).values("track_id")[:1]
    )))
    firsts = songs().in_bulk({playlist.first_track for playlist in playlists} - {None})
    return {"playlists": {"playlist": [
        _playlist_entry(call.user, playlist, firsts.get(playlist.first_track)) for playlist in playlists
    ]}}


def get_playlist(call):
    return {"playlist": _with_songs(call.user, _readable(call.user, call.params.required("id")))}


def create_playlist(call):
    """A new playlist of the songs sent, or with `playlistId` that playlist's songs replaced."""
    params = call.params
    tracks = [track.pk for track in resolve_songs(params.list("songId"))]
    if "playlistId" in params:
        playlist = _editable(call.user, params.get("playlistId"))
        with transaction.atomic(), _refusals():
            if "name" in params:
                services.update_playlist(playlist, name=_name(params.get("name")))
            services.replace_tracks(playlist, tracks)
    else:
        if "name" not in params:
            raise SubsonicError(MISSING_PARAMETER, "Required parameter 'name' (or 'playlistId') is missing.")
        with _refusals():
            playlist = services.create_playlist(call.user, name=_name(params.get("name")), tracks=tracks)
    return {"playlist": _with_songs(call.user, _readable(call.user, str(playlist.pk)))}


def update_playlist(call):
    params = call.params
    playlist = _editable(call.user, params.required("playlistId"))
    fields = {}
    if "name" in params:
        fields["name"] = _name(params.get("name"))
    if params.get("comment") is not None:  # an empty comment clears the description
        fields["description"] = params.get("comment")
    if params.bool("public") is not None:
        fields["public"] = params.bool("public")
    added = [track.pk for track in resolve_songs(params.list("songIdToAdd"))]
    indexes = {_index(value) for value in params.list("songIndexToRemove")}
    with transaction.atomic(), _refusals():
        # Locked before the indexes are read, so that they are the ones the edit applies to.
        Playlist.objects.select_for_update().filter(pk=playlist.pk).values_list("pk").get()
        positions = list(_song_rows(playlist.pk).values_list("position", flat=True))
        missing = sorted(index for index in indexes if index >= len(positions))
        if missing:
            raise SubsonicError(NOT_FOUND, f"The playlist has no song at index {missing[0]}: it holds "
                                           f"{len(positions)} songs, from index 0; nothing was changed.")
        if fields:
            services.update_playlist(playlist, **fields)
        if indexes:
            services.remove_entries(playlist, [positions[index] for index in indexes])
        if added:
            services.add_tracks(playlist, added)
    return {}


def delete_playlist(call):
    services.delete_playlist(_editable(call.user, call.params.required("id")))
    return {}


# --- reading ----------------------------------------------------------------------------


def _readable(user, value):
    """The playlist `value` names, if `user` may read it, with song count and duration;
    SubsonicError 70 otherwise."""
    pk = parse_pk(value)
    playlist = _with_song_counts(visible_playlists(user)).filter(pk=pk).first() if pk is not None else None
    if playlist is None:
        raise not_found("Playlist")
    return playlist


def _editable(user, value):
    playlist = _readable(user, value)
    if not services.may_edit(user, playlist):
        raise SubsonicError(NOT_AUTHORISED, "Only the playlist's owner may change it.")
    return playlist


def _song_rows(playlist):
    """The entries of `playlist` (a pk or an expression) that are songs, in order."""
    return PlaylistEntry.objects.filter(playlist=playlist, track__in=songs()).order_by("position")


def _with_song_counts(playlists):
    """The selectors' playlists with their track_count and duration counting songs only:
    annotating the same names replaces the site's aggregates rather than adding two more."""
    is_song = Q(entries__track__in=songs())
    return playlists.annotate(
        track_count=Count("entries", filter=is_song),
        duration=Coalesce(Sum("entries__track__duration", filter=is_song), 0.0),
    )


def _with_songs(user, playlist):
    tracks = [entry.track for entry in _song_rows(playlist.pk).select_related("track__dataset")]
    return {**_playlist_entry(user, playlist, tracks[0] if tracks else None), "entry": song_entries(user, tracks)}


def _playlist_entry(user, playlist, first_track):
    """A playlist (annotated by _with_song_counts) as a Subsonic `Playlist`."""
    return {
        "id": str(playlist.pk),
        "name": playlist.name,
        "comment": playlist.description or None,
        "owner": playlist.owner.get_username(),
        "public": playlist.public,
        "songCount": playlist.track_count,
        "duration": round(playlist.duration),
        "created": iso(playlist.created_at),
        "changed": iso(playlist.updated_at),
        "coverArt": album_of(first_track).id if first_track is not None else None,
        "readonly": not services.may_edit(user, playlist),  # OpenSubsonic
    }


# --- writing ----------------------------------------------------------------------------


def _name(value):
    name = value.strip()
    if not name:
        raise SubsonicError(MISSING_PARAMETER, "A playlist's name cannot be blank.")
    if len(name) > services.NAME_LENGTH:
        raise SubsonicError(GENERIC, f"A playlist's name holds at most {services.NAME_LENGTH} characters.")
    return name


def _index(value):
    index = parse_pk(value)
    if index is None:
        raise SubsonicError(GENERIC, f"Parameter 'songIndexToRemove' must be a song's index (0 or more), "
                                     f"not {value[:40]!r}.")
    return index


@contextmanager
def _refusals():
    try:
        yield
    except services.PlaylistError as exc:
        raise SubsonicError(REFUSALS.get(exc.code, GENERIC), exc.message) from None


ENDPOINTS = {
    "getPlaylists": get_playlists,
    "getPlaylist": get_playlist,
    "createPlaylist": create_playlist,
    "updatePlaylist": update_playlist,
    "deletePlaylist": delete_playlist,
}
