"""Every write to a playlist. Each runs in one transaction holding the playlist's row lock,
so two edits at once never interleave, and leaves the positions 0..n-1 without gaps."""

import secrets
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Playlist, PlaylistEntry, Track
from catalog.playlists import formats, matching

EDITABLE_FIELDS = ("name", "description", "public")
NAME_LENGTH = Playlist._meta.get_field("name").max_length


class PlaylistError(ValueError):
    """A refused edit: `code` for clients, the message for people."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class NoSuchPosition(PlaylistError):
    def __init__(self, position, length):
        where = f"its positions run from 0 to {length - 1}" if length else "it is empty"
        super().__init__("no_such_position", f"The playlist has no position {position}: {where}.")


def may_edit(user, playlist):
    return user.is_authenticated and (user.is_staff or playlist.owner_id == user.pk)


def create_playlist(owner, *, name, description="", public=False, tracks=()):
    """A new playlist of `tracks` (track ids, in order): saved from similar results, a radio
    session, a path or a map selection alike."""
    with transaction.atomic():
        playlist = Playlist.objects.create(owner=owner, name=name, description=description, public=public)
        if tracks:
            add_tracks(playlist, tracks)
    return playlist


def update_playlist(playlist, **fields):
    """Sets any of name, description and public."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(playlist, name, value)
    playlist.save(update_fields=[*fields, "updated_at"])
    return playlist


def set_link_sharing(playlist, enabled):
    """Turns link sharing on (a new token unless it is on already) or off (the token and
    every link made with it stop working)."""
    if enabled and playlist.share_token is None:
        playlist.share_token = secrets.token_urlsafe(24)
    elif not enabled:
        playlist.share_token = None
    playlist.save(update_fields=["share_token", "updated_at"])
    return playlist


def add_tracks(playlist, track_ids, position=None):
    """Inserts the tracks at `position` (0..length; the end when None), in order."""
    track_ids = list(track_ids)
    with _locked(playlist) as length:
        position = length if position is None else position
        if not 0 <= position <= length:
            raise PlaylistError(
                "bad_position", f"Tracks can go at positions 0 to {length} (the end), not at {position}."
            )
        _check_length(length + len(track_ids))
        _require_tracks(track_ids)
        playlist.entries.filter(position__gte=position).update(position=F("position") + len(track_ids))
        PlaylistEntry.objects.bulk_create(
            PlaylistEntry(playlist=playlist, track_id=track_id, position=position + offset)
            for offset, track_id in enumerate(track_ids)
        )
    return playlist


def remove_entry(playlist, position):
    """Removes the entry at `position`; those after it move up one."""
    return remove_entries(playlist, [position])


def remove_entries(playlist, positions):
    """Removes the entries at `positions` (as numbered before any goes) and closes the gaps,
    in a few queries however many go; one position outside the playlist removes nothing."""
    positions = set(positions)
    with _locked(playlist) as length:
        outside = sorted(position for position in positions if not 0 <= position < length)
        if outside:
            raise NoSuchPosition(outside[0], length)
        playlist.entries.filter(position__in=positions).delete()
        close_gaps([playlist.pk])
    return playlist


def move_entry(playlist, position, to):
    """Moves the entry at `position` to `to`; the entries between shift by one."""
    with _locked(playlist) as length:
        if not 0 <= position < length:
            raise NoSuchPosition(position, length)
        if not 0 <= to < length:
            raise PlaylistError("bad_position", f"An entry can move to positions 0 to {length - 1}, not to {to}.")
        moved = playlist.entries.get(position=position)
        if to > position:
            playlist.entries.filter(position__gt=position, position__lte=to).update(position=F("position") - 1)
        elif to < position:
            playlist.entries.filter(position__gte=to, position__lt=position).update(position=F("position") + 1)
        PlaylistEntry.objects.filter(pk=moved.pk).update(position=to)
    return playlist


def replace_tracks(playlist, track_ids):
    """The playlist becomes exactly `track_ids`, in that order."""
    track_ids = list(track_ids)
    with _locked(playlist):
        _check_length(len(track_ids))
        _require_tracks(track_ids)
        playlist.entries.all().delete()
        PlaylistEntry.objects.bulk_create(
            PlaylistEntry(playlist=playlist, track_id=track_id, position=position)
            for position, track_id in enumerate(track_ids)
        )
    return playlist


def import_playlist(owner, file, *, host, name=""):
    """A new playlist from an M3U/M3U8 file (an uploaded file), its entries matched to tracks
    (catalog/playlists/matching.py); named `name`, else as the file names itself, else after
    the file. Returns (playlist, the location lines no track fits)."""
    limit = settings.MESS_PLAYLIST_MAX_IMPORT_BYTES
    if file.size > limit:  # before reading a byte of it
        raise PlaylistError(
            "too_large", f"The file is {file.size} bytes; playlists of at most {limit} bytes "
            "(MESS_PLAYLIST_MAX_IMPORT_BYTES) are imported.",
        )
    try:
        parsed = formats.parse_m3u(file.read())
    except formats.UnreadablePlaylist as exc:
        raise PlaylistError("unreadable_playlist", str(exc)) from exc
    if not parsed.entries:
        raise PlaylistError("empty_playlist", "The file lists no entries: it is not an M3U playlist, or an empty one.")
    _check_length(len(parsed.entries))  # before matching them: a long file is refused at once
    track_ids, unmatched = matching.match_entries(parsed.entries, host)
    if not track_ids:
        shown = "; ".join(unmatched[:5])
        raise PlaylistError(
            "nothing_matched", f"None of the file's {len(unmatched)} entries matches a track of the catalogue "
            f"(by URL, file name or title), so no playlist was made. The first: {shown}",
        )
    name = name or parsed.name or Path(file.name or "").stem or "Imported playlist"
    return create_playlist(owner, name=name[:NAME_LENGTH], tracks=track_ids), unmatched


def delete_playlist(playlist):
    playlist.delete()


def close_gaps(playlist_ids):
    """Renumbers the entries of these playlists 0..n-1 in their order, after entries went
    (remove_entries, or a deleted track taking its entries with it)."""
    if not playlist_ids:
        return
    table = PlaylistEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS entry SET position = ranked.new_position
                FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY playlist_id ORDER BY position) - 1 AS new_position
                      FROM {table} WHERE playlist_id = ANY(%s)) AS ranked
                WHERE entry.id = ranked.id AND entry.position <> ranked.new_position""",
            [list(playlist_ids)],
        )
    Playlist.objects.filter(pk__in=playlist_ids).update(updated_at=timezone.now())


@contextmanager
def _locked(playlist):
    """`with _locked(playlist) as length:` one transaction holding the playlist's row lock,
    with its entry count at the start; touches updated_at when the body succeeds."""
    with transaction.atomic():
        Playlist.objects.select_for_update().filter(pk=playlist.pk).values_list("pk").get()
        yield playlist.entries.count()
        playlist.save(update_fields=["updated_at"])


def _check_length(length):
    limit = settings.MESS_PLAYLIST_MAX_TRACKS
    if length > limit:
        raise PlaylistError(
            "too_long", f"A playlist holds at most {limit} tracks (MESS_PLAYLIST_MAX_TRACKS); this would hold {length}."
        )


def _require_tracks(track_ids):
    known = set(Track.objects.filter(pk__in=set(track_ids)).values_list("pk", flat=True))
    unknown = sorted(set(track_ids) - known)
    if unknown:
        raise PlaylistError(
            "unknown_tracks", f"No track has the id {', '.join(map(str, unknown[:20]))}"
            + (f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else "") + "; nothing was changed."
        )

