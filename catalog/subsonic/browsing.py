"""Browsing the catalogue: music folders, artist indexes, directories, artists, albums,
songs and genres, both by folder (getIndexes, getMusicDirectory) and by tags (getArtists,
getArtist, getAlbum); and the few facts about the server a player asks for (getUser,
getScanStatus, getNowPlaying).

How tracks become songs, albums and artists is library.py's business. Here:
- a music folder is a dataset; the folder view is artist -> albums -> songs, the same
  groupings as the tag view (MESS has no file tree a player should see);
- indexes group artists by the first letter of their name, leading articles ignored
  ("The Köln Concert" under K), accents too ("Ébène" under E), "#" for the rest;
- getNowPlaying is always empty: MESS does not track what is playing, only what was played
  (scrobble).
"""

from itertools import groupby

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Max

from catalog.models import Dataset, Track
from catalog.subsonic.library import (
    ALBUM_IDENTITY,
    ALBUM_PREFIX,
    ARTIST_PREFIX,
    IGNORED_ARTICLES,
    album_child,
    album_entry,
    album_key,
    albums,
    artist_entry,
    artist_folder_entry,
    artist_id,
    artists,
    by_artist,
    in_folder,
    parse_album_id,
    parse_artist_id,
    parse_song_id,
    song_entries,
    songs,
    sort_name,
    starred_at,
)
from catalog.subsonic.protocol import NOT_AUTHORISED, SubsonicError, not_found


def get_music_folders(call):
    return {"musicFolders": {"musicFolder": [
        {"id": pk, "name": name} for pk, name in Dataset.objects.values_list("pk", "name")
    ]}}


def get_indexes(call):
    """The artists by letter, always in full: `ifModifiedSince` is ignored, since a deleted
    track leaves no timestamp behind to say that the index changed."""
    tracks = in_folder(songs(), call.params)
    modified = tracks.aggregate(last=Max("updated_at"))["last"]
    index = [{**letter, "artist": list(map(artist_folder_entry, letter["artist"]))}
             for letter in _artist_index(call.user, tracks)]
    return {"indexes": {
        "lastModified": round(modified.timestamp() * 1000) if modified else 0,
        "ignoredArticles": " ".join(IGNORED_ARTICLES),
        "index": index,
    }}


def get_artists(call):
    index = _artist_index(call.user, in_folder(songs(), call.params))
    return {"artists": {"ignoredArticles": " ".join(IGNORED_ARTICLES), "index": index}}


def _artist_index(user, tracks):
    """[{name: letter, artist: [ArtistID3]}] of the artists among `tracks`, by letter."""
    counts = artists(tracks)
    stars = starred_at(user, map(artist_id, counts))
    ordered = sorted(counts, key=_index_order)
    return [
        {"name": letter, "artist": [artist_entry(name, counts[name], starred=stars.get(artist_id(name)))
                                    for name in names]}
        for letter, names in groupby(ordered, key=index_letter)
    ]


def _index_order(name):
    # By letter first, "#" last: sorting by name alone would put names that begin with a
    # symbol outside ASCII ("¡Forward", "★") after "z", and "#" would come twice.
    letter = index_letter(name)
    return letter == "#", letter, sort_name(name), name


def index_letter(name):
    """The letter `name` is indexed under: its sort name's first, or "#" if not a letter."""
    first = sort_name(name)[:1].upper()
    return first if first.isalpha() else "#"


def get_music_directory(call):
    """An artist's directory holds its albums; an album's, its songs."""
    value = call.params.required("id")
    if value.startswith(ARTIST_PREFIX):
        artist, rows, stars = _artist(call)
        return {"directory": {
            "id": artist["id"], "name": artist["name"], "starred": artist["starred"],
            "child": [album_child(row, starred=stars.get(album_key(row).id)) for row in rows],
        }}
    if value.startswith(ALBUM_PREFIX):
        album = _album(call)
        return {"directory": {
            "id": album["id"], "parent": album["artistId"], "name": album["name"], "starred": album["starred"],
            "playCount": album["playCount"], "child": album["song"],
        }}
    raise not_found("Directory")


def get_artist(call):
    artist, rows, stars = _artist(call)
    return {"artist": {**artist, "album": [album_entry(row, starred=stars.get(album_key(row).id)) for row in rows]}}


def _artist(call):
    """(ArtistID3, its album rows, the caller's stars among them) for the artist `id`
    names; 70 for one with no songs."""
    name = parse_artist_id(call.params.required("id"))
    rows = list(albums(user=call.user).filter(by_artist(name)))
    if not rows:
        raise not_found("Artist")
    stars = starred_at(call.user, [artist_id(name), *(album_key(row).id for row in rows)])
    return artist_entry(name, len(rows), starred=stars.get(artist_id(name))), rows, stars


def get_album(call):
    return {"album": _album(call)}


def _album(call):
    """The album `id` names as an AlbumID3 with its songs in track order."""
    key = parse_album_id(call.params.required("id"))
    row = albums(key.tracks(), user=call.user).first()
    if row is None:
        raise not_found("Album")
    tracks = key.tracks().order_by(F("track_number").asc(nulls_last=True), "title", "id")
    entry = album_entry(row, starred=starred_at(call.user, [key.id]).get(key.id))
    return {**entry, "song": song_entries(call.user, tracks)}


def get_song(call):
    return {"song": song_entries(call.user, [parse_song_id(call.params.required("id"))])[0]}


def get_genres(call):
    rows = (songs().exclude(genre="").values("genre")
            .annotate(songs=Count("id"), albums=Count(ALBUM_IDENTITY, distinct=True)).order_by("genre"))
    return {"genres": {"genre": [
        {"value": row["genre"], "songCount": row["songs"], "albumCount": row["albums"]} for row in rows
    ]}}


def get_user(call):
    """The caller's own account; an administrator (staff) may ask for anyone's. Through a
    player, every listener may stream, download, keep playlists and record plays."""
    username = call.params.required("username")
    if username != call.user.get_username() and not call.user.is_staff:
        raise SubsonicError(NOT_AUTHORISED, "Only an administrator may look at another user.")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise not_found("User")
    return {"user": {
        "username": user.get_username(),
        "email": user.email or None,
        "scrobblingEnabled": True,
        "adminRole": user.is_staff,
        "settingsRole": False,
        "downloadRole": True,
        "uploadRole": False,
        "playlistRole": True,
        "coverArtRole": False,
        "commentRole": False,
        "podcastRole": False,
        "streamRole": True,
        "jukeboxRole": False,
        "shareRole": False,
        "videoConversionRole": False,
        "folder": list(Dataset.objects.values_list("pk", flat=True)),
    }}


def get_scan_status(call):
    """MESS does not scan folders; its equivalent is the analysis of newly added tracks."""
    busy = Track.objects.filter(status__in=[Track.Status.PENDING, Track.Status.PROCESSING]).exists()
    return {"scanStatus": {"scanning": busy, "count": songs().count()}}


def get_now_playing(call):
    return {"nowPlaying": {"entry": []}}  # MESS records plays, not what is playing now


ENDPOINTS = {
    "getMusicFolders": get_music_folders,
    "getIndexes": get_indexes,
    "getMusicDirectory": get_music_directory,
    "getArtists": get_artists,
    "getArtist": get_artist,
    "getAlbum": get_album,
    "getSong": get_song,
    "getGenres": get_genres,
    "getUser": get_user,
    "getScanStatus": get_scan_status,
    "getNowPlaying": get_now_playing,
}
