"""Stars, plays and ratings through /rest/: star, unstar, getStarred(2), scrobble, setRating."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Play, Star, Track
from catalog.subsonic.library import AlbumKey, album_of, artist_id
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone
from tests.subsonic import NS, api_key_for, assert_xml_conforms, failed, ok, rest

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return make_user("ann")


@pytest.fixture
def key(user):
    return api_key_for(user)


def track(dataset, n, **tags):
    return make_track(dataset, data=audio_bytes(tone(freq=200 + 40 * n)), title=f"Song {n}", **tags)


@pytest.fixture
def library():
    """Two albums in one folder: Ann's "Tones", and "Duets" of Ann and Bob; one in another."""
    home, away = make_dataset("Home"), make_dataset("Away")
    return {
        "tone": track(home, 0, album="Tones", performer="Ann"),
        "duet_ann": track(home, 1, album="Duets", performer="Ann"),
        "duet_bob": track(home, 2, album="Duets", performer="Bob"),
        "away": track(away, 3, album="Far", performer="Cid"),
    }


def starred(key, endpoint="getStarred2", **params):
    return ok(rest(endpoint, key, **params), endpoint)[{"getStarred2": "starred2", "getStarred": "starred"}[endpoint]]


def test_starred_songs_albums_and_artists_come_back_in_json_and_xml(key, library):
    tones = album_of(library["tone"]).id
    ok(rest("star", key, id=str(library["tone"].pk), albumId=tones, artistId=artist_id("Bob")), "star")
    found = starred(key)
    assert [a["name"] for a in found["artist"]] == ["Bob"] and found["artist"][0]["albumCount"] == 1
    assert [a["id"] for a in found["album"]] == [tones] and found["album"][0]["songCount"] == 1
    assert [s["id"] for s in found["song"]] == [str(library["tone"].pk)]
    assert all("starred" in entry for entry in found["artist"] + found["album"] + found["song"])
    root = assert_xml_conforms(rest("getStarred2", key, f=None).content)
    assert [child.tag.removeprefix(NS) for child in root.find(f"{NS}starred2")] == ["artist", "album", "song"]


def test_the_folder_shape_lists_albums_as_directories(key, library):
    duets = album_of(library["duet_ann"]).id
    ok(rest("star", key, id=[duets, artist_id("Ann"), str(library["away"].pk)]))
    found = starred(key, "getStarred")
    assert found["artist"] == [{"id": artist_id("Ann"), "name": "Ann", "starred": found["artist"][0]["starred"]}]
    album = found["album"][0]
    assert (album["id"], album["isDir"], album["title"], album["artist"]) == (duets, True, "Duets", "Various Artists")
    assert [s["title"] for s in found["song"]] == ["Song 3"]
    assert_xml_conforms(rest("getStarred", key, f=None).content)


def test_a_star_shows_on_the_song_and_the_album(key, library):
    song, album = library["tone"], album_of(library["tone"]).id
    assert "starred" not in ok(rest("getSong", key, id=song.pk))["song"]
    ok(rest("star", key, id=str(song.pk), albumId=album))
    assert ok(rest("getSong", key, id=song.pk), "getSong")["song"]["starred"].endswith("Z")
    assert ok(rest("getAlbum", key, id=album), "getAlbum")["album"]["starred"].endswith("Z")


def test_stars_are_each_users_own(key, library):
    ok(rest("star", key, id=str(library["tone"].pk)))
    other = api_key_for(make_user("bob"))
    assert starred(other) == {"artist": [], "album": [], "song": []}


def test_most_recent_first_and_a_second_star_keeps_the_first_date(user, key, library):
    ok(rest("star", key, id=str(library["tone"].pk)))
    ok(rest("star", key, id=str(library["away"].pk)))
    first = starred(key)["song"]
    assert [s["id"] for s in first] == [str(library["away"].pk), str(library["tone"].pk)]
    ok(rest("star", key, id=str(library["tone"].pk)))
    assert starred(key)["song"] == first and Star.objects.filter(user=user).count() == 2


def test_unstar_takes_stars_off(user, key, library):
    album = album_of(library["tone"]).id
    ok(rest("star", key, id=[str(library["tone"].pk), album], artistId=artist_id("Ann")))
    ok(rest("unstar", key, id=str(library["tone"].pk), albumId=album), "unstar")
    assert list(Star.objects.filter(user=user).values_list("item", flat=True)) == [artist_id("Ann")]
    assert_xml_conforms(rest("unstar", key, f=None, artistId=artist_id("Ann")).content)
    assert not Star.objects.exists()


def test_an_unknown_id_stars_nothing(user, key, library):
    arabic_digits = str(library["tone"].pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    unknown = [
        "999999", arabic_digits, "al-%%%", AlbumKey(library["tone"].dataset_id, "album", "No such album").id,
        artist_id("Nobody"),
    ]
    for value in unknown:
        failed(rest("star", key, id=[str(library["tone"].pk), value]), 70)
        failed(rest("unstar", key, id=value), 70)
    assert not Star.objects.exists()
    failed(rest("star", key), 10)
    root = assert_xml_conforms(rest("star", key, f=None, id="999999").content)
    assert root.find(f"{NS}error").get("code") == "70"


def test_ids_in_another_spelling_are_kept_as_the_library_writes_them(user, key, library):
    album = album_of(library["tone"]).id
    ok(rest("star", key, albumId=album + "=" * (-len(album[3:]) % 4)))  # base64 with its padding
    assert Star.objects.get(user=user).item == album and starred(key)["album"][0]["id"] == album


def test_various_artists_is_starred_with_its_albums(key, library):
    ok(rest("star", key, artistId=artist_id("Various Artists")))
    assert [(a["name"], a["albumCount"]) for a in starred(key)["artist"]] == [("Various Artists", 1)]
    ok(rest("star", key, artistId=artist_id("Ann")))
    ann = next(a for a in starred(key)["artist"] if a["name"] == "Ann")
    assert ann["albumCount"] == len(ok(rest("getArtist", key, id=artist_id("Ann")))["artist"]["album"]) == 2


def queries(key, name, **params):
    """How many queries answering `name` took."""
    with CaptureQueriesContext(connection) as captured:
        ok(rest(name, key, **params), name)
    return len(captured)


def test_starring_many_artists_costs_what_starring_one_does(user, key, library):
    queries(key, "ping")  # the key's first use is written down once
    one = queries(key, "star", artistId=artist_id("Ann"))
    assert queries(key, "star", artistId=[artist_id("Bob"), artist_id("Cid"), artist_id("Ann")]) == one
    assert queries(key, "unstar", artistId=[artist_id("Bob"), artist_id("Cid")]) <= one
    assert list(Star.objects.filter(user=user).values_list("item", flat=True)) == [artist_id("Ann")]
    failed(rest("star", key, artistId=[artist_id("Bob"), artist_id("Nobody")]), 70)
    assert Star.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("endpoint", ["getStarred2", "getStarred"])
def test_the_starred_lists_cost_the_same_however_many_artists_are_starred(key, library, endpoint,
                                                                           django_assert_max_num_queries):
    ok(rest("star", key, artistId=artist_id("Ann")))
    one = queries(key, endpoint)
    ok(rest("star", key, artistId=[artist_id("Bob"), artist_id("Cid"), artist_id("Various Artists")]))
    with django_assert_max_num_queries(one):
        found = starred(key, endpoint)
    assert sorted(artist["name"] for artist in found["artist"]) == ["Ann", "Bob", "Cid", "Various Artists"]


def test_a_music_folder_narrows_the_starred_lists(key, library):
    ok(rest("star", key, id=[str(library["tone"].pk), str(library["away"].pk), album_of(library["away"]).id],
            artistId=artist_id("Cid")))
    home = starred(key, musicFolderId=library["tone"].dataset_id)
    assert [s["id"] for s in home["song"]] == [str(library["tone"].pk)] and home["album"] == home["artist"] == []
    failed(rest("getStarred2", key, musicFolderId=424242), 70)


def test_what_no_longer_exists_is_not_listed(key, library):
    ok(rest("star", key, id=[str(library["tone"].pk), str(library["away"].pk), album_of(library["away"]).id],
            artistId=artist_id("Cid")))
    Track.objects.filter(pk=library["tone"].pk).update(status=Track.Status.FAILED)
    library["away"].delete()
    assert starred(key) == {"artist": [], "album": [], "song": []}


# --- scrobble ---------------------------------------------------------------------------


def millis(moment):
    return str(round(moment.timestamp() * 1000))


def test_scrobbles_record_plays_at_their_time_and_count_them(user, key, library):
    song = library["tone"]
    first, second = datetime(2026, 5, 1, 20, 0, tzinfo=UTC), datetime(2026, 5, 2, 21, 30, 15, 250000, tzinfo=UTC)
    ok(rest("scrobble", key, id=[str(song.pk), str(song.pk)], time=[millis(first), millis(second)]), "scrobble")
    assert sorted(Play.objects.filter(user=user, track=song).values_list("played_at", flat=True)) == [first, second]
    assert ok(rest("getSong", key, id=song.pk))["song"]["playCount"] == 2
    assert_xml_conforms(rest("scrobble", key, f=None, id=str(song.pk), time=millis(first)).content)


def test_a_retried_scrobble_is_recorded_once(user, key, library):
    moment = millis(datetime(2026, 5, 1, 20, 0, tzinfo=UTC))
    for _ in range(2):
        ok(rest("scrobble", key, id=str(library["tone"].pk), time=moment))
    assert Play.objects.filter(user=user).count() == 1


def test_without_a_time_the_play_is_now(user, key, library):
    before = datetime.now(UTC)
    ok(rest("scrobble", key, id=str(library["tone"].pk), submission="true"))
    assert before <= Play.objects.get(user=user).played_at <= datetime.now(UTC)


def test_now_playing_notices_are_accepted_and_not_recorded(key, library):
    ok(rest("scrobble", key, id=str(library["tone"].pk), submission="false"))
    assert not Play.objects.exists()


@pytest.mark.parametrize("params, code", [
    ({}, 10),
    ({"time": "1700000000000"}, 10),
    ({"id": ["999999"]}, 70),
    ({"id": ["SONG", "al-x"]}, 70),
    ({"id": ["SONG"], "time": "yesterday"}, 0),
    ({"id": ["SONG"], "time": "1" * 30}, 0),
    ({"id": ["SONG"], "time": ["1700000000000", "1700000001000"]}, 0),
])
def test_bad_scrobbles_record_nothing(key, library, params, code):
    if "id" in params:  # SONG stands for a song that exists
        params = {**params, "id": [str(library["tone"].pk) if v == "SONG" else v for v in params["id"]]}
    failed(rest("scrobble", key, **params), code)
    assert not Play.objects.exists()


def test_ratings_are_refused_saying_why(key, library):
    error = failed(rest("setRating", key, id=str(library["tone"].pk), rating=5), 0)
    assert "no ratings" in error["message"] and "star" in error["message"]
    assert_xml_conforms(rest("setRating", key, f=None, id=str(library["tone"].pk), rating=5).content)
