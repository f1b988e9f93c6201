"""Browsing the catalogue through /rest/ as a player does: folders, indexes, artists,
albums, songs, genres, the user and the scan status, in JSON (checked against OpenSubsonic's
schemas) and in XML (checked against the Subsonic XSD)."""

import pytest

from catalog.models import Star, Track
from catalog.subsonic.library import MAX_ID_LENGTH, AlbumKey, artist_id, parse_album_id, parse_artist_id
from catalog.subsonic.protocol import SubsonicError
from tests.factories import make_user
from tests.subsonic import api_key_for, failed, ok, rest
from tests.subsonic_catalogue import call, catalogue, song  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_every_dataset_is_a_music_folder(catalogue):
    folders = call(catalogue, "getMusicFolders")["musicFolders"]["musicFolder"]
    assert folders == [{"id": catalogue.recordings.pk, "name": "Recordings"},
                       {"id": catalogue.scores.pk, "name": "Scores"}]


def test_artists_are_indexed_by_letter_without_articles(catalogue):
    artists = call(catalogue, "getArtists")["artists"]
    assert artists["ignoredArticles"] == "The El La Los Las Le Les"
    index = {letter["name"]: [(a["name"], a["albumCount"]) for a in letter["artist"]] for letter in artists["index"]}
    assert index == {
        "B": [("Bill Evans", 1)],
        "D": [("The Dave Brubeck Quartet", 1)],  # its album is the dataset's: no album tag, no work
        "J": [("Johann Sebastian Bach", 1)],  # the composer, as nobody performs
        "M": [("Miles Davis", 2)],  # the failed track on The Sampler counts for nothing
        "Q": [("Quartetto Ébène", 1)],
        "U": [("Unknown artist", 1)],
        "V": [("Various Artists", 1)],  # The Sampler has two artists
    }
    in_scores = call(catalogue, "getArtists", musicFolderId=catalogue.scores.pk)["artists"]["index"]
    assert [letter["name"] for letter in in_scores] == ["J", "U"]
    failed(rest("getArtists", catalogue.key, musicFolderId=999999), 70)
    failed(rest("getArtists", catalogue.key, musicFolderId="one"), 0)


def test_indexes_hold_the_same_artists_in_full_every_time(catalogue):
    indexes = call(catalogue, "getIndexes")["indexes"]
    names = [artist["name"] for letter in indexes["index"] for artist in letter["artist"]]
    assert names == ["Bill Evans", "The Dave Brubeck Quartet", "Johann Sebastian Bach", "Miles Davis",
                     "Quartetto Ébène", "Unknown artist", "Various Artists"]
    assert set(indexes["index"][0]["artist"][0]) == {"id", "name"}  # no ID3 album count
    catalogue.untitled.delete()  # leaves no newer timestamp, so ifModifiedSince cannot be trusted
    again = call(catalogue, "getIndexes", ifModifiedSince=indexes["lastModified"])["indexes"]
    assert [letter["name"] for letter in again["index"]] == ["B", "D", "J", "M", "Q", "V"]
    assert 0 < again["lastModified"] <= indexes["lastModified"]


def test_names_that_begin_with_no_letter_share_one_index_entry_at_the_end(catalogue):
    performers = ["¡Forward, Russia!", "★", "{Brace}", "10cc", "~tilde", "Ólafur Arnalds"]
    for number, performer in enumerate(performers, start=40):
        song(catalogue.recordings, f"Song {number}", number, performer=performer)
    for name, key in [("getArtists", "artists"), ("getIndexes", "indexes")]:
        index = call(catalogue, name)[key]["index"]
        assert [letter["name"] for letter in index] == ["B", "D", "J", "M", "O", "Q", "U", "V", "#"]
        assert [artist["name"] for artist in index[-1]["artist"]] == [
            "10cc", "{Brace}", "~tilde", "¡Forward, Russia!", "★"]


def long_name(length, start):
    """`length` different ideographs from code point `start` on (four bytes each in UTF-8
    from U+20000): the longest a field holds, and nothing the database could compress."""
    return "".join(chr(start + number * 7919 % 20000) for number in range(length))


def test_the_longest_names_make_ids_that_open_everywhere(catalogue):
    length = {name: Track._meta.get_field(name).max_length for name in ("album", "work", "composer", "performer")}
    tracks = [
        song(catalogue.recordings, "Long album", 30, album=long_name(length["album"], 0x4E00),
             performer=long_name(length["performer"], 0x20000)),
        song(catalogue.scores, "Long work", 31, work=long_name(length["work"], 0x20000),
             composer=long_name(length["composer"], 0x21000)),
    ]
    for track in tracks:
        entry = call(catalogue, "getSong", id=track.pk)["song"]
        album = call(catalogue, "getAlbum", id=entry["albumId"])["album"]
        assert [song["id"] for song in album["song"]] == [str(track.pk)]
        artist = call(catalogue, "getArtist", id=entry["artistId"])["artist"]
        assert [album["id"] for album in artist["album"]] == [entry["albumId"]]
        for value in (entry["albumId"], entry["artistId"]):
            assert rest("getCoverArt", catalogue.key, id=value, size=16)["Content-Type"] == "image/png"
        # The long work's id (~2.7 KB) is past what an entry of a B-tree index on it can hold.
        ok(rest("star", catalogue.key, id=str(track.pk), albumId=entry["albumId"], artistId=entry["artistId"]))
    starred = call(catalogue, "getStarred2")["starred2"]
    assert len(starred["song"]) == len(starred["album"]) == len(starred["artist"]) == 2


def test_ids_as_long_as_the_fields_allow_are_read_and_longer_ones_refused():
    # Control characters take six bytes each in JSON, the most any character takes.
    key = AlbumKey(2**40, "work", "\x01" * Track._meta.get_field("work").max_length,
                   "\x1f" * Track._meta.get_field("composer").max_length)
    assert parse_album_id(key.id) == key and len(key.id) <= MAX_ID_LENGTH
    name = "\x02" * Track._meta.get_field("performer").max_length
    assert parse_artist_id(artist_id(name)) == name
    with pytest.raises(SubsonicError):
        parse_album_id(key.id + "A" * (MAX_ID_LENGTH - len(key.id) + 1))


def artist_named(catalogue, name):
    index = call(catalogue, "getArtists")["artists"]["index"]
    return next(artist for letter in index for artist in letter["artist"] if artist["name"] == name)


def test_an_artists_albums_open_with_get_album(catalogue):
    miles = artist_named(catalogue, "Miles Davis")
    artist = call(catalogue, "getArtist", id=miles["id"])["artist"]
    assert artist["albumCount"] == 2 and [album["name"] for album in artist["album"]] == ["Kind of Blue", "The Sampler"]
    sampler = call(catalogue, "getAlbum", id=artist["album"][1]["id"])["album"]
    assert [song["title"] for song in sampler["song"]] == ["So What", "Blue in Green"]
    assert sampler["artist"] == "Various Artists" and sampler["artistId"] == artist_id("Various Artists")
    various = call(catalogue, "getArtist", id=sampler["artistId"])["artist"]
    assert [album["id"] for album in various["album"]] == [sampler["id"]]
    bill = call(catalogue, "getArtist", id=sampler["song"][1]["artistId"])["artist"]  # a song's artist opens too
    assert bill["name"] == "Bill Evans" and [album["name"] for album in bill["album"]] == ["The Sampler"]


def test_unknown_and_malformed_artists_are_not_found(catalogue):
    failed(rest("getArtist", catalogue.key, id=artist_id("Nobody")), 70)
    failed(rest("getArtist", catalogue.key, id="ar-%%%"), 70)
    failed(rest("getArtist", catalogue.key, id=str(catalogue.lento.pk)), 70)
    failed(rest("getArtist", catalogue.key), 10)


def test_an_album_lists_its_songs_by_track_number_then_title(catalogue):
    album_id = call(catalogue, "getSong", id=catalogue.lento.pk)["song"]["albumId"]
    album = call(catalogue, "getAlbum", id=album_id)["album"]
    assert [song["title"] for song in album["song"]] == ["Allegro ma non troppo", "Lento", "Finale"]
    assert (album["name"], album["artist"], album["songCount"], album["year"], album["genre"]) == (
        "American Quartet", "Quartetto Ébène", 3, 2010, "Classical")
    assert album["duration"] == sum(song["duration"] for song in album["song"])
    assert {song["parent"] for song in album["song"]} == {album_id}


def test_a_work_and_a_dataset_stand_for_albums_when_tracks_have_no_album(catalogue):
    work = call(catalogue, "getAlbum", id=call(catalogue, "getSong", id=catalogue.fugue.pk)["song"]["albumId"])
    assert (work["album"]["name"], work["album"]["artist"]) == ("BWV 846", "Johann Sebastian Bach")
    assert [song["title"] for song in work["album"]["song"]] == ["Prelude in C", "Fugue in C"]
    rest_of_scores = call(catalogue, "getSong", id=catalogue.untitled.pk)["song"]
    assert (rest_of_scores["album"], rest_of_scores["artist"]) == ("Scores", "Unknown artist")
    album = call(catalogue, "getAlbum", id=rest_of_scores["albumId"])["album"]
    assert [song["title"] for song in album["song"]] == ["Untitled"]  # the work's tracks are not in it


def test_unknown_and_malformed_albums_are_not_found(catalogue):
    album_id = call(catalogue, "getSong", id=catalogue.lento.pk)["song"]["albumId"]
    Track.objects.filter(album="American Quartet").delete()
    failed(rest("getAlbum", catalogue.key, id=album_id), 70)
    failed(rest("getAlbum", catalogue.key, id="al-bm90IGpzb24"), 70)
    failed(rest("getAlbum", catalogue.key, id=artist_id("Miles Davis")), 70)
    failed(rest("getAlbum", catalogue.key), 10)


def test_a_song_carries_its_album_artist_and_the_callers_marks(catalogue):
    Star.objects.create(user=catalogue.user, item=str(catalogue.so_what.pk), track=catalogue.so_what)
    entry = call(catalogue, "getSong", id=catalogue.so_what.pk)["song"]
    assert (entry["title"], entry["artist"], entry["album"], entry["track"], entry["year"]) == (
        "So What", "Miles Davis", "The Sampler", 1, 1959)
    assert entry["starred"] and entry["isDir"] is False
    broken = Track.objects.get(title="Broken")
    failed(rest("getSong", catalogue.key, id=broken.pk), 70)
    failed(rest("getSong", catalogue.key, id="nine"), 70)
    arabic_digits = str(catalogue.lento.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    failed(rest("getSong", catalogue.key, id=arabic_digits), 70)  # digits, but not the id's spelling
    failed(rest("getSong", catalogue.key), 10)


def test_the_folder_view_goes_artist_then_album_then_songs(catalogue):
    miles = artist_named(catalogue, "Miles Davis")
    directory = call(catalogue, "getMusicDirectory", id=miles["id"])["directory"]
    assert directory["name"] == "Miles Davis"
    assert [(child["title"], child["isDir"]) for child in directory["child"]] == [
        ("Kind of Blue", True), ("The Sampler", True)]
    sampler = call(catalogue, "getMusicDirectory", id=directory["child"][1]["id"])["directory"]
    assert sampler["name"] == "The Sampler" and sampler["parent"] == artist_id("Various Artists")
    assert [(child["title"], child["isDir"]) for child in sampler["child"]] == [
        ("So What", False), ("Blue in Green", False)]
    failed(rest("getMusicDirectory", catalogue.key, id=catalogue.lento.pk), 70)  # a song is not a directory
    failed(rest("getMusicDirectory", catalogue.key, id=catalogue.recordings.pk), 70)
    failed(rest("getMusicDirectory", catalogue.key), 10)


def test_genres_count_their_songs_and_albums(catalogue):
    genres = call(catalogue, "getGenres")["genres"]["genre"]
    assert genres == [
        {"value": "Baroque", "songCount": 2, "albumCount": 1},
        {"value": "Classical", "songCount": 3, "albumCount": 1},
        {"value": "Jazz", "songCount": 3, "albumCount": 2},
    ]


def test_the_user_may_stream_download_and_keep_playlists(catalogue):
    user = call(catalogue, "getUser", username="ann")["user"]
    assert user["username"] == "ann" and user["adminRole"] is False
    assert user["streamRole"] and user["downloadRole"] and user["playlistRole"] and user["scrobblingEnabled"]
    assert not (user["uploadRole"] or user["jukeboxRole"] or user["shareRole"] or user["settingsRole"])
    assert sorted(user["folder"]) == sorted([catalogue.recordings.pk, catalogue.scores.pk])
    make_user("bob")
    failed(rest("getUser", catalogue.key, username="bob"), 50)
    failed(rest("getUser", catalogue.key), 10)
    admin = api_key_for(make_user("root", staff=True))
    assert ok(rest("getUser", admin, username="bob"), "getUser")["user"]["adminRole"] is False
    failed(rest("getUser", admin, username="nobody"), 70)


def test_scanning_means_tracks_still_waiting_for_analysis(catalogue):
    status = call(catalogue, "getScanStatus")["scanStatus"]
    assert status == {"scanning": False, "count": 10}
    Track.objects.filter(pk=catalogue.untitled.pk).update(status=Track.Status.PROCESSING)
    assert call(catalogue, "getScanStatus")["scanStatus"]["scanning"] is True


def test_nothing_is_ever_playing_now(catalogue):
    assert call(catalogue, "getNowPlaying")["nowPlaying"] == {"entry": []}
