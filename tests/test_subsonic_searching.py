"""Finding albums and songs through /rest/ as a player does: album lists, random songs, songs
by genre, search2 and search3, in JSON (checked against OpenSubsonic's schemas) and in XML
(checked against the Subsonic XSD)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Play, Star
from catalog.subsonic import searching
from catalog.subsonic.searching import MAX_QUERY_LENGTH, MAX_QUERY_WORDS
from tests.factories import make_user
from tests.subsonic import failed, rest
from tests.subsonic_catalogue import call, catalogue, song  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def names(catalogue, name="getAlbumList2", **params):
    """The names of the albums of a list; getAlbumList's are directories, with titles."""
    key, field = ("albumList2", "name") if name == "getAlbumList2" else ("albumList", "title")
    return [album[field] for album in call(catalogue, name, **params)[key]["album"]]


def album_id(catalogue, track):
    return call(catalogue, "getSong", id=track.pk)["song"]["albumId"]


def test_albums_list_by_name_by_artist_and_newest_first(catalogue):
    by_name = ["American Quartet", "BWV 846", "Kind of Blue", "Recordings", "Scores", "The Sampler"]
    assert names(catalogue, type="alphabeticalByName", size=20) == by_name
    assert names(catalogue, "getAlbumList", type="alphabeticalByName", size=20) == by_name
    # Album artists: Bach, Miles Davis, Quartetto Ébène, The Dave Brubeck Quartet, Unknown artist, Various Artists.
    assert names(catalogue, type="alphabeticalByArtist", size=20) == [
        "BWV 846", "Kind of Blue", "American Quartet", "Recordings", "Scores", "The Sampler"]
    # An album is as new as its first track; the fixture adds them in this order.
    assert names(catalogue, type="newest", size=20) == [
        "Scores", "BWV 846", "Recordings", "Kind of Blue", "The Sampler", "American Quartet"]


def test_album_lists_page_and_keep_to_a_music_folder(catalogue):
    assert names(catalogue, type="alphabeticalByName", size=2, offset=2) == ["Kind of Blue", "Recordings"]
    assert names(catalogue, type="alphabeticalByName") == names(catalogue, type="alphabeticalByName", size=10)
    assert names(catalogue, type="alphabeticalByName", size=0) == []
    assert names(catalogue, type="alphabeticalByName", musicFolderId=catalogue.scores.pk) == ["BWV 846", "Scores"]
    random = names(catalogue, type="random", size=4)
    assert len(random) == len(set(random)) == 4


def test_album_lists_by_year_either_way_and_by_genre(catalogue):
    assert names(catalogue, type="byYear", fromYear=1950, toYear=1965) == ["Kind of Blue", "The Sampler"]
    assert names(catalogue, type="byYear", fromYear=1965, toYear=1950) == ["The Sampler", "Kind of Blue"]
    assert names(catalogue, type="byGenre", genre="Jazz") == ["Kind of Blue", "The Sampler"]
    assert names(catalogue, type="byGenre", genre="Baroque") == ["BWV 846"]
    failed(rest("getAlbumList2", catalogue.key, type="byYear", fromYear=1950), 10)
    failed(rest("getAlbumList2", catalogue.key, type="byGenre"), 10)


def test_frequent_recent_and_highest_follow_the_callers_own_plays(catalogue):
    now = timezone.now()
    for minutes, track in [(50, catalogue.lento), (40, catalogue.lento), (30, catalogue.allegro),
                           (5, catalogue.so_what), (20, catalogue.blue)]:
        Play.objects.create(user=catalogue.user, track=track, played_at=now - timedelta(minutes=minutes))
    bob = make_user("bob")  # someone else's plays do not count
    Play.objects.bulk_create(Play(user=bob, track=catalogue.prelude, played_at=now) for _ in range(5))
    frequent = call(catalogue, "getAlbumList2", type="frequent")["albumList2"]["album"]
    assert [(album["name"], album["playCount"]) for album in frequent] == [("American Quartet", 3), ("The Sampler", 2)]
    assert names(catalogue, type="highest") == ["American Quartet", "The Sampler"]  # no ratings in MESS
    recent = call(catalogue, "getAlbumList2", type="recent")["albumList2"]["album"]
    assert [album["name"] for album in recent] == ["The Sampler", "American Quartet"]
    assert recent[0]["played"] > recent[1]["played"]


def test_starred_albums_latest_first(catalogue):
    sampler, work = album_id(catalogue, catalogue.so_what), album_id(catalogue, catalogue.fugue)
    Star.objects.create(user=catalogue.user, item=sampler)
    Star.objects.create(user=catalogue.user, item=work)
    Star.objects.create(user=catalogue.user, item=str(catalogue.lento.pk), track=catalogue.lento)  # a song
    Star.objects.create(user=make_user("bob"), item=album_id(catalogue, catalogue.lento))
    starred = call(catalogue, "getAlbumList2", type="starred")["albumList2"]["album"]
    assert [album["id"] for album in starred] == [work, sampler] and all(album["starred"] for album in starred)
    assert names(catalogue, "getAlbumList", type="starred", offset=1) == ["The Sampler"]


def test_album_list_types_are_checked(catalogue):
    failed(rest("getAlbumList2", catalogue.key), 10)
    failed(rest("getAlbumList2", catalogue.key, type="loudest"), 0)
    failed(rest("getAlbumList", catalogue.key, type="newest", size="ten"), 0)


def test_the_folder_shaped_album_list_holds_directories(catalogue):
    albums = call(catalogue, "getAlbumList", type="alphabeticalByName", size=1)["albumList"]["album"]
    assert albums == [{**albums[0], "isDir": True, "title": "American Quartet", "artist": "Quartetto Ébène"}]
    assert albums[0]["parent"] == albums[0]["artistId"]


def titles(songs):
    return sorted(song["title"] for song in songs)


def test_random_songs_filter_by_genre_years_and_folder(catalogue):
    def random(**params):
        return call(catalogue, "getRandomSongs", **params)["randomSongs"]["song"]

    assert len(random()) == 10 and len(random(size=3)) == 3
    assert "Broken" not in titles(random(size=50))  # a failed track is not a song
    assert titles(random(genre="Jazz")) == ["Blue in Green", "Freddie Freeloader", "So What"]
    assert titles(random(fromYear=1960)) == ["Allegro ma non troppo", "Blue in Green", "Finale", "Lento"]
    assert titles(random(toYear=1960)) == ["Freddie Freeloader", "So What"]
    assert titles(random(fromYear=1960, toYear=2000)) == ["Blue in Green"]
    assert titles(random(musicFolderId=catalogue.scores.pk)) == ["Fugue in C", "Prelude in C", "Untitled"]


def test_songs_by_genre_page(catalogue):
    def by_genre(**params):
        return call(catalogue, "getSongsByGenre", **params)["songsByGenre"]["song"]

    jazz = by_genre(genre="Jazz")
    assert titles(jazz) == ["Blue in Green", "Freddie Freeloader", "So What"]
    assert by_genre(genre="Jazz", count=2, offset=1) == jazz[1:]
    assert by_genre(genre="Jazz", musicFolderId=catalogue.scores.pk) == []
    failed(rest("getSongsByGenre", catalogue.key), 10)


def search(catalogue, query, name="search3", **params):
    found = call(catalogue, name, query=query, **params)["searchResult3" if name == "search3" else "searchResult2"]
    return {kind: found.get(kind, []) for kind in ("artist", "album", "song")}


def test_search_ignores_accents_and_case(catalogue):
    dvorak = search(catalogue, "dvorak")
    assert dvorak["artist"] == []  # the quartet plays: it is the artist, Dvořák the composer
    assert [album["name"] for album in dvorak["album"]] == ["American Quartet"]
    assert titles(dvorak["song"]) == ["Allegro ma non troppo", "Finale", "Lento"]
    ebene = search(catalogue, "EBENE")
    assert [(artist["name"], artist["albumCount"]) for artist in ebene["artist"]] == [("Quartetto Ébène", 1)]
    assert len(ebene["song"]) == 3
    assert search(catalogue, "Dvořák")["song"] == dvorak["song"]


def test_search_needs_every_word_somewhere(catalogue):
    found = search(catalogue, "miles blue")
    assert [album["name"] for album in found["album"]] == ["Kind of Blue"]  # its name and its artist
    assert titles(found["song"]) == ["Freddie Freeloader"]
    assert found["artist"] == []
    work = search(catalogue, "bwv 846")
    assert titles(work["song"]) == ["Fugue in C", "Prelude in C"] and [a["name"] for a in work["album"]] == ["BWV 846"]
    assert search(catalogue, "quartet")["artist"][0]["name"] == "The Dave Brubeck Quartet"
    assert len(search(catalogue, "dvo*")["song"]) == 3  # a prefix as some players write it
    assert search(catalogue, "%") == search(catalogue, "_") == {"artist": [], "album": [], "song": []}


def test_an_empty_search_pages_through_everything(catalogue):
    everything = search(catalogue, "", artistCount=100, albumCount=100, songCount=100)
    assert (len(everything["artist"]), len(everything["album"]), len(everything["song"])) == (7, 6, 10)
    assert search(catalogue, '""', artistCount=100, albumCount=100, songCount=100) == everything
    pages = [search(catalogue, "", songCount=4, songOffset=offset, artistCount=0, albumCount=0) for offset in (0, 4, 8)]
    assert [song["id"] for page in pages for song in page["song"]] == [song["id"] for song in everything["song"]]
    assert all(page["artist"] == [] and page["album"] == [] for page in pages)
    second = search(catalogue, "", artistCount=2, artistOffset=2, albumCount=2, albumOffset=4)
    assert second["artist"] == everything["artist"][2:4] and second["album"] == everything["album"][4:6]
    scores = search(catalogue, "", musicFolderId=catalogue.scores.pk)
    assert titles(scores["song"]) == ["Fugue in C", "Prelude in C", "Untitled"]
    failed(rest("search3", catalogue.key), 10)


def test_only_the_first_words_of_a_long_query_count(catalogue):
    miles = ["Freddie Freeloader", "So What"]
    assert titles(search(catalogue, " ".join(["miles"] * MAX_QUERY_WORDS))["song"]) == miles
    assert search(catalogue, " ".join(["miles"] * (MAX_QUERY_WORDS - 1) + ["nowhere"]))["song"] == []
    assert titles(search(catalogue, " ".join(["miles"] * MAX_QUERY_WORDS + ["nowhere"]))["song"]) == miles
    assert titles(search(catalogue, "miles".ljust(MAX_QUERY_LENGTH) + "nowhere")["song"]) == miles


def test_counts_are_capped(catalogue, monkeypatch):
    monkeypatch.setattr(searching, "MAX_SEARCH_COUNT", 3)
    found = search(catalogue, "", artistCount=10**12, albumCount=2**31, songCount=2**31 - 1)
    assert [len(found[kind]) for kind in ("artist", "album", "song")] == [3, 3, 3]


def test_a_count_of_zero_skips_that_kinds_query(catalogue):
    def sql(**counts):
        with CaptureQueriesContext(connection) as queries:
            found = search(catalogue, "", **counts)
        return found, [query["sql"] for query in queries]

    found, everything = sql()
    assert any("ARRAY_AGG" in query for query in everything)  # the albums' grouping, for albums and artists
    found, songs_only = sql(artistCount=0, albumCount=0, songCount=4)
    assert len(found["song"]) == 4 and not any("ARRAY_AGG" in query for query in songs_only)
    found, nothing = sql(artistCount=0, albumCount=0, songCount=0)
    assert found == {"artist": [], "album": [], "song": []}
    assert not any("catalog_track" in query for query in nothing)


def test_search2_answers_in_folder_shapes(catalogue):
    found = search(catalogue, "sampler miles", name="search2")
    assert [(album["title"], album["isDir"]) for album in found["album"]] == [("The Sampler", True)]
    assert titles(found["song"]) == ["So What"]
    artists = search(catalogue, "davis", name="search2")["artist"]
    assert [set(artist) for artist in artists] == [{"id", "name"}]  # no ID3 album count


def test_queries_do_not_grow_with_the_catalogue(catalogue):
    requests = [("search3", {"query": ""}), ("getAlbumList2", {"type": "frequent"}), ("getArtists", {}),
                ("getAlbum", {"id": album_id(catalogue, catalogue.lento)}), ("getRandomSongs", {"size": 20})]
    Play.objects.create(user=catalogue.user, track=catalogue.lento, played_at=timezone.now())

    def counted():
        counts = []
        for name, params in requests:
            with CaptureQueriesContext(connection) as queries:
                rest(name, catalogue.key, **params)
            counts.append(len(queries))
        return counts

    counted()  # the key's first use is written down once
    before = counted()
    for number in range(20, 26):
        track = song(catalogue.recordings, f"More {number}", number, performer=f"Player {number}",
                     album="American Quartet" if number % 2 else f"Album {number}")
        Play.objects.create(user=catalogue.user, track=track, played_at=timezone.now())
    assert counted() == before
