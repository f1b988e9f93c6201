"""Playlists through /rest/: the site's own playlists, made, read, changed and deleted by a player."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Playlist, Track
from catalog.playlists import services
from catalog.playlists.selectors import entries_of
from catalog.subsonic.library import album_of
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone
from tests.subsonic import NS, api_key_for, assert_xml_conforms, failed, ok, rest

pytestmark = pytest.mark.django_db


@pytest.fixture
def tracks():
    dataset = make_dataset()
    return [make_track(dataset, data=audio_bytes(tone(seconds=1.0 + n, freq=200 + 50 * n)), title=f"Song {n}",
                       album="Tones", performer="Ann") for n in range(5)]


@pytest.fixture
def ann():
    return make_user("ann")


@pytest.fixture
def key(ann):
    return api_key_for(ann)


def ids(values):
    return [str(value.pk) for value in values]


def track_ids(playlist):
    return [entry.track_id for entry in entries_of(playlist)]


def test_a_playlist_made_in_a_player_is_the_sites(ann, key, tracks):
    response = rest("createPlaylist", key, name="Evening", songId=ids([tracks[2], tracks[0], tracks[2]]))
    made = ok(response, "createPlaylist")["playlist"]
    playlist = Playlist.objects.get()
    assert playlist.owner == ann and playlist.name == "Evening" and not playlist.public
    assert track_ids(playlist) == [tracks[2].pk, tracks[0].pk, tracks[2].pk]
    assert made["id"] == str(playlist.pk) and made["owner"] == "ann" and made["songCount"] == 3
    assert [entry["id"] for entry in made["entry"]] == ids([tracks[2], tracks[0], tracks[2]])
    assert made["duration"] == round(2 * tracks[2].duration + tracks[0].duration)
    assert made["coverArt"] == album_of(tracks[2]).id and made["readonly"] is False


def test_a_playlist_made_on_the_site_reads_the_same_in_json_and_xml(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Morning", description="Slow ones", public=True,
                                        tracks=[tracks[1].pk, tracks[3].pk])
    listed = ok(rest("getPlaylists", key), "getPlaylists")["playlists"]["playlist"]
    assert [(p["id"], p["name"], p["comment"], p["public"], p["songCount"]) for p in listed] == [
        (str(playlist.pk), "Morning", "Slow ones", True, 2)]
    assert listed[0]["coverArt"] == album_of(tracks[1]).id
    one = ok(rest("getPlaylist", key, id=playlist.pk), "getPlaylist")["playlist"]
    assert {k: v for k, v in one.items() if k != "entry"} == listed[0]
    assert [entry["title"] for entry in one["entry"]] == ["Song 1", "Song 3"]
    root = assert_xml_conforms(rest("getPlaylist", key, f=None, id=playlist.pk).content)
    assert [e.get("id") for e in root.find(f"{NS}playlist").findall(f"{NS}entry")] == ids([tracks[1], tracks[3]])
    assert_xml_conforms(rest("getPlaylists", key, f=None).content)
    assert_xml_conforms(rest("createPlaylist", key, f=None, name="Mine").content)


def test_lists_hold_ones_own_and_the_public_ones(ann, key, tracks):
    bob = make_user("bob")
    mine = services.create_playlist(ann, name="Mine")
    public = services.create_playlist(bob, name="Bob's public", public=True)
    private = services.create_playlist(bob, name="Bob's private")
    listed = ok(rest("getPlaylists", key), "getPlaylists")["playlists"]["playlist"]
    assert {p["id"] for p in listed} == {str(mine.pk), str(public.pk)}
    assert next(p for p in listed if p["id"] == str(public.pk))["readonly"] is True
    assert ok(rest("getPlaylist", key, id=public.pk), "getPlaylist")["playlist"]["owner"] == "bob"
    failed(rest("getPlaylist", key, id=private.pk), 70)


def test_only_staff_list_as_another_user(ann, key):
    bob = make_user("bob")
    services.create_playlist(bob, name="Bob's private")
    failed(rest("getPlaylists", key, username="bob"), 50)
    assert ok(rest("getPlaylists", key, username="ann"), "getPlaylists")["playlists"]["playlist"] == []
    staff_key = api_key_for(make_user("root", staff=True))
    listed = ok(rest("getPlaylists", staff_key, username="bob"), "getPlaylists")["playlists"]["playlist"]
    assert [p["name"] for p in listed] == ["Bob's private"]
    failed(rest("getPlaylists", staff_key, username="nobody"), 70)


def test_create_with_a_playlist_id_replaces_its_songs(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Old", tracks=[tracks[0].pk, tracks[1].pk])
    body = ok(rest("createPlaylist", key, playlistId=playlist.pk, songId=ids([tracks[4], tracks[3]])),
              "createPlaylist")
    assert [entry["id"] for entry in body["playlist"]["entry"]] == ids([tracks[4], tracks[3]])
    assert track_ids(playlist) == [tracks[4].pk, tracks[3].pk] and Playlist.objects.count() == 1
    ok(rest("createPlaylist", key, playlistId=playlist.pk, name="Renamed"))
    playlist.refresh_from_db()
    assert playlist.name == "Renamed" and track_ids(playlist) == []


def test_update_edits_fields_adds_and_removes_by_the_indexes_seen_before(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Draft", tracks=[t.pk for t in tracks[:4]])
    ok(rest("updatePlaylist", key, playlistId=playlist.pk, name="Final", comment="For Sunday", public="true",
            songIndexToRemove=["2", "0"], songIdToAdd=ids([tracks[4], tracks[4]])), "updatePlaylist")
    playlist.refresh_from_db()
    assert (playlist.name, playlist.description, playlist.public) == ("Final", "For Sunday", True)
    assert track_ids(playlist) == [tracks[1].pk, tracks[3].pk, tracks[4].pk, tracks[4].pk]
    assert [e.position for e in entries_of(playlist)] == [0, 1, 2, 3]
    ok(rest("updatePlaylist", key, playlistId=playlist.pk, comment=""))
    playlist.refresh_from_db()
    assert playlist.description == "" and playlist.name == "Final"  # a name left out is kept
    assert_xml_conforms(rest("updatePlaylist", key, f=None, playlistId=playlist.pk, public="false").content)


def test_removing_many_indexes_costs_a_bounded_number_of_queries(ann, key, tracks, django_assert_max_num_queries):
    songs = [tracks[n % 5].pk for n in range(120)]
    playlist = services.create_playlist(ann, name="Long", tracks=songs)
    removed = set(range(0, 100, 2))  # 50 indexes, each one song as listed before the update
    with django_assert_max_num_queries(30):  # one at a time it took about 350
        ok(rest("updatePlaylist", key, playlistId=playlist.pk, songIndexToRemove=[str(n) for n in sorted(removed)],
                songIdToAdd=ids([tracks[0]])), "updatePlaylist")
    assert track_ids(playlist) == [t for n, t in enumerate(songs) if n not in removed] + [tracks[0].pk]
    assert [entry.position for entry in entries_of(playlist)] == list(range(71))


def test_song_counts_are_the_only_aggregates_computed(ann, key, tracks):
    Track.objects.filter(pk=tracks[1].pk).update(status=Track.Status.FAILED)
    playlist = services.create_playlist(ann, name="Mixed", tracks=[t.pk for t in tracks[:3]])
    with CaptureQueriesContext(connection) as queries:
        listed = ok(rest("getPlaylists", key), "getPlaylists")["playlists"]["playlist"][0]
        one = ok(rest("getPlaylist", key, id=playlist.pk), "getPlaylist")["playlist"]
    for answer in (listed, one):
        assert answer["songCount"] == 2 and answer["duration"] == round(tracks[0].duration + tracks[2].duration)
    counted = [sql for sql in (q["sql"] for q in queries.captured_queries)
               if 'FROM "catalog_playlist"' in sql and "GROUP BY" in sql]
    assert len(counted) == 2  # getPlaylists' list and getPlaylist's one
    assert all(sql.count("COUNT(") + sql.count("SUM(") == 2 for sql in counted), counted


def test_a_refused_update_changes_nothing(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Draft", tracks=[tracks[0].pk, tracks[1].pk])
    error = failed(rest("updatePlaylist", key, playlistId=playlist.pk, name="Other", songIndexToRemove=["0", "2"]), 70)
    assert "index 2" in error["message"]
    failed(rest("updatePlaylist", key, playlistId=playlist.pk, name="Other", songIdToAdd=["999999"]), 70)
    failed(rest("updatePlaylist", key, playlistId=playlist.pk, songIndexToRemove=["first"]), 0)
    playlist.refresh_from_db()
    assert playlist.name == "Draft" and track_ids(playlist) == [tracks[0].pk, tracks[1].pk]


def test_songs_whose_track_failed_are_left_out_and_indexes_count_songs(ann, key, tracks):
    Track.objects.filter(pk=tracks[1].pk).update(status=Track.Status.FAILED)
    playlist = services.create_playlist(ann, name="Mixed", tracks=[t.pk for t in tracks[:3]])
    listed = ok(rest("getPlaylist", key, id=playlist.pk), "getPlaylist")["playlist"]
    assert [e["id"] for e in listed["entry"]] == ids([tracks[0], tracks[2]]) and listed["songCount"] == 2
    assert ok(rest("getPlaylists", key))["playlists"]["playlist"][0]["songCount"] == 2
    ok(rest("updatePlaylist", key, playlistId=playlist.pk, songIndexToRemove="1"))
    assert track_ids(playlist) == [tracks[0].pk, tracks[1].pk]  # the song at index 1 was the third entry
    failed(rest("createPlaylist", key, name="Broken", songId=ids([tracks[1]])), 70)


def test_others_playlists_are_theirs_to_change(ann, key, tracks):
    bob = make_user("bob")
    public = services.create_playlist(bob, name="Bob's public", public=True, tracks=[tracks[0].pk])
    private = services.create_playlist(bob, name="Bob's private")
    for endpoint, params in [("updatePlaylist", {"playlistId": public.pk, "name": "Mine now"}),
                             ("createPlaylist", {"playlistId": public.pk, "songId": ids([tracks[1]])}),
                             ("deletePlaylist", {"id": public.pk})]:
        failed(rest(endpoint, key, **params), 50)
    failed(rest("deletePlaylist", key, id=private.pk), 70)
    assert Playlist.objects.get(pk=public.pk).name == "Bob's public" and track_ids(public) == [tracks[0].pk]
    staff_key = api_key_for(make_user("root", staff=True))  # the site's rule: staff may edit any
    ok(rest("updatePlaylist", staff_key, playlistId=private.pk, name="Tidied"))
    assert Playlist.objects.get(pk=private.pk).name == "Tidied"


def test_ids_and_indexes_are_decimal_numbers_up_to_the_largest_pk(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Two", tracks=[tracks[0].pk, tracks[1].pk])
    padded = str(playlist.pk).zfill(12)
    assert ok(rest("getPlaylist", key, id=padded), "getPlaylist")["playlist"]["id"] == str(playlist.pk)
    ok(rest("updatePlaylist", key, playlistId=padded, songIndexToRemove="0000000001"))
    assert track_ids(playlist) == [tracks[0].pk]
    for index in (str(2**31), "\u0663"):  # past any index, and an Arabic-Indic three
        failed(rest("updatePlaylist", key, playlistId=playlist.pk, songIndexToRemove=index), 0)
    failed(rest("getPlaylist", key, id=str(2**31)), 70)


def test_delete_removes_the_playlist(ann, key, tracks):
    playlist = services.create_playlist(ann, name="Gone soon", tracks=[tracks[0].pk])
    ok(rest("deletePlaylist", key, id=playlist.pk), "deletePlaylist")
    assert not Playlist.objects.exists()
    failed(rest("deletePlaylist", key, id=playlist.pk), 70)


@pytest.mark.parametrize("endpoint, params, code", [
    ("getPlaylist", {}, 10),
    ("getPlaylist", {"id": "x1"}, 70),
    ("getPlaylist", {"id": "99999999999999"}, 70),
    ("createPlaylist", {}, 10),
    ("createPlaylist", {"name": "  "}, 10),
    ("createPlaylist", {"name": "x" * 201}, 0),
    ("createPlaylist", {"name": "Bad", "songId": "al-nope"}, 70),
    ("createPlaylist", {"playlistId": "424242"}, 70),
    ("updatePlaylist", {}, 10),
    ("updatePlaylist", {"playlistId": "424242"}, 70),
    ("deletePlaylist", {}, 10),
])
def test_bad_calls_are_refused_in_json_and_xml(key, endpoint, params, code):
    failed(rest(endpoint, key, **params), code)
    root = assert_xml_conforms(rest(endpoint, key, f=None, **params).content)
    assert root.find(f"{NS}error").get("code") == str(code)
    assert not Playlist.objects.exists()
