"""Playlists: the service functions keep positions 0..n-1 and refuse what they cannot do;
the API lets owners (and staff) write, anyone read public playlists, and hides private ones."""

import pytest

from catalog.models import Playlist, PlaylistEntry
from catalog.playlists import services
from catalog.playlists.services import PlaylistError
from tests.factories import assert_json_error, audio_bytes, client_for, make_dataset, make_track, make_user, tone

pytestmark = pytest.mark.django_db

PLAYLISTS = "/api/v1/playlists/"


def make_tracks(count, dataset=None, **fields):
    """`count` tracks of distinct audio, titled "Track 0", "Track 1", ..."""
    dataset = dataset or make_dataset()
    return [
        make_track(dataset, data=audio_bytes(tone(freq=200 + 20 * n)), title=f"Track {n}", **fields)
        for n in range(count)
    ]


def order(playlist):
    """The playlist's (position, track id) pairs as stored."""
    return list(PlaylistEntry.objects.filter(playlist=playlist).order_by("position").values_list("position", "track_id"))


def ids(playlist):
    positions = order(playlist)
    assert [position for position, _ in positions] == list(range(len(positions)))  # no gaps, from 0
    return [track_id for _, track_id in positions]


@pytest.fixture
def tracks():
    return make_tracks(5)


@pytest.fixture
def owner():
    return make_user("owner")


# --- services -------------------------------------------------------------------------


def test_a_playlist_is_created_private_with_its_tracks_in_order_and_a_track_may_repeat(owner, tracks):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="Evening", tracks=[t[2], t[0], t[2]])
    assert not playlist.public and playlist.share_token is None
    assert ids(playlist) == [t[2], t[0], t[2]]


def test_tracks_are_added_at_the_end_or_at_a_position(owner, tracks):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="P", tracks=[t[0], t[1]])
    services.add_tracks(playlist, [t[2]])
    services.add_tracks(playlist, [t[3], t[4]], position=1)
    services.add_tracks(playlist, [t[0]], position=0)
    assert ids(playlist) == [t[0], t[0], t[3], t[4], t[1], t[2]]


def test_removing_an_entry_closes_the_gap(owner, tracks):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="P", tracks=t[:4])
    services.remove_entry(playlist, 1)
    assert ids(playlist) == [t[0], t[2], t[3]]
    services.remove_entry(playlist, 2)
    assert ids(playlist) == [t[0], t[2]]


def test_removing_entries_takes_positions_as_numbered_before_and_a_bad_one_removes_none(owner, tracks):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="P", tracks=t)
    with pytest.raises(PlaylistError) as refused:
        services.remove_entries(playlist, [1, 5])
    assert refused.value.code == "no_such_position" and "position 5" in refused.value.message
    assert ids(playlist) == t
    services.remove_entries(playlist, [3, 0, 1, 3])
    assert ids(playlist) == [t[2], t[4]]


@pytest.mark.parametrize(
    "position, to, expected",
    [(0, 3, [1, 2, 3, 0, 4]), (3, 0, [3, 0, 1, 2, 4]), (4, 2, [0, 1, 4, 2, 3]), (2, 2, [0, 1, 2, 3, 4])],
)
def test_moving_an_entry_shifts_those_between(owner, tracks, position, to, expected):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="P", tracks=t)
    services.move_entry(playlist, position, to)
    assert ids(playlist) == [t[n] for n in expected]


def test_replacing_the_order(owner, tracks):
    t = [track.pk for track in tracks]
    playlist = services.create_playlist(owner, name="P", tracks=t)
    services.replace_tracks(playlist, [t[4], t[4], t[1]])
    assert ids(playlist) == [t[4], t[4], t[1]]


def test_unknown_track_ids_are_refused_by_name_and_change_nothing(owner, tracks):
    playlist = services.create_playlist(owner, name="P", tracks=[tracks[0].pk])
    with pytest.raises(PlaylistError) as refused:
        services.add_tracks(playlist, [tracks[1].pk, 987654, 987655])
    assert refused.value.code == "unknown_tracks"
    assert "987654, 987655" in refused.value.message
    assert ids(playlist) == [tracks[0].pk]


@pytest.mark.parametrize("edit", [
    lambda playlist: services.remove_entry(playlist, 2),
    lambda playlist: services.move_entry(playlist, 2, 0),
    lambda playlist: services.move_entry(playlist, 0, 2),
    lambda playlist: services.add_tracks(playlist, [playlist.entries.first().track_id], position=3),
])  # fmt: skip
def test_positions_outside_the_playlist_are_refused(owner, tracks, edit):
    playlist = services.create_playlist(owner, name="P", tracks=[tracks[0].pk, tracks[1].pk])
    with pytest.raises(PlaylistError) as refused:
        edit(playlist)
    assert refused.value.code in ("no_such_position", "bad_position")
    assert ids(playlist) == [tracks[0].pk, tracks[1].pk]


def test_a_playlist_holds_at_most_the_configured_number_of_tracks(owner, tracks, settings):
    settings.MESS_PLAYLIST_MAX_TRACKS = 3
    playlist = services.create_playlist(owner, name="P", tracks=[tracks[0].pk] * 3)
    with pytest.raises(PlaylistError) as refused:
        services.add_tracks(playlist, [tracks[1].pk])
    assert refused.value.code == "too_long" and "at most 3" in refused.value.message
    assert len(ids(playlist)) == 3


def test_link_sharing_makes_a_token_and_a_new_one_each_time_it_is_turned_on(owner):
    playlist = services.create_playlist(owner, name="P")
    services.set_link_sharing(playlist, True)
    first = playlist.share_token
    assert first and len(first) >= 24
    services.set_link_sharing(playlist, True)  # already on: the links handed out keep working
    assert playlist.share_token == first
    services.set_link_sharing(playlist, False)
    assert Playlist.objects.get(pk=playlist.pk).share_token is None
    services.set_link_sharing(playlist, True)
    assert playlist.share_token not in (None, first)


def test_deleting_a_track_removes_its_entries_and_closes_the_gaps(owner, tracks):
    t = [track.pk for track in tracks]
    first = services.create_playlist(owner, name="A", tracks=[t[0], t[1], t[2], t[1], t[3]])
    second = services.create_playlist(owner, name="B", tracks=[t[1]])
    tracks[1].delete()
    assert ids(first) == [t[0], t[2], t[3]]
    assert ids(second) == []


def test_deleting_a_dataset_closes_the_gaps_its_tracks_leave(owner, tracks):
    other = make_tracks(2, dataset=make_dataset("Other"))
    playlist = services.create_playlist(owner, name="A", tracks=[other[0].pk, tracks[0].pk, other[1].pk, tracks[1].pk])
    other[0].dataset.delete()
    assert ids(playlist) == [tracks[0].pk, tracks[1].pk]


def test_deleting_many_tracks_at_once_renumbers_each_playlist_once(owner, tracks, django_assert_max_num_queries):
    doomed = make_tracks(12, dataset=make_dataset("Doomed"))
    kept = [track.pk for track in tracks]
    gone = [track.pk for track in doomed]
    mixed = services.create_playlist(owner, name="A", tracks=[gone[0], kept[0], *gone[1:6], kept[1], *gone[6:], kept[2]])
    other = services.create_playlist(owner, name="B", tracks=[kept[3], *gone, kept[4]])
    # One query per track to find its playlists, then some for the cascade (one per table
    # referring to tracks) and two to renumber: renumbering after each track takes two more per track.
    with django_assert_max_num_queries(len(doomed) + 25):
        doomed[0].dataset.delete()
    assert ids(mixed) == kept[:3]
    assert ids(other) == [kept[3], kept[4]]


# --- API: permissions -----------------------------------------------------------------


@pytest.fixture
def people():
    return {"owner": make_user("owner"), "other": make_user("other"), "staff": make_user("staff", staff=True)}


@pytest.fixture
def playlists(people, tracks):
    """The owner's private and public playlists, and another user's private one."""
    return {
        "private": services.create_playlist(people["owner"], name="Private", tracks=[tracks[0].pk, tracks[1].pk]),
        "public": services.create_playlist(people["owner"], name="Public", public=True, tracks=[tracks[2].pk]),
        "others": services.create_playlist(people["other"], name="Others'", tracks=[tracks[3].pk]),
    }


def names(response):
    assert response.status_code == 200, response.content
    return sorted(item["name"] for item in response.json()["results"])


def test_the_list_shows_the_users_own_and_the_public_playlists(people, playlists):
    assert names(client_for(people["owner"]).get(PLAYLISTS)) == ["Private", "Public"]
    assert names(client_for(people["other"]).get(PLAYLISTS)) == ["Others'", "Public"]
    assert names(client_for(people["staff"]).get(PLAYLISTS)) == ["Public"]
    assert names(client_for().get(PLAYLISTS)) == ["Public"]
    assert names(client_for(people["other"]).get(f"{PLAYLISTS}?mine=true")) == ["Others'"]
    assert names(client_for().get(f"{PLAYLISTS}?mine=true")) == []


def test_a_list_item_says_what_the_playlist_holds(people, playlists, tracks):
    item = client_for(people["owner"]).get(f"{PLAYLISTS}?mine=true").json()["results"]
    private = next(entry for entry in item if entry["name"] == "Private")
    assert private["track_count"] == 2 and private["owner"] == "owner" and private["public"] is False
    assert private["duration"] == pytest.approx(tracks[0].duration + tracks[1].duration)
    assert private["url"].endswith(f"{PLAYLISTS}{playlists['private'].pk}/")


@pytest.mark.parametrize("query", ["mine=maybe", "mine=true&mine=false", "page=0"])
def test_bad_list_parameters_are_a_400(query):
    assert_json_error(client_for().get(f"{PLAYLISTS}?{query}"), 400, "invalid")


def test_a_private_playlist_is_a_404_to_others_and_readable_by_its_owner_and_staff(people, playlists):
    url = f"{PLAYLISTS}{playlists['private'].pk}/"
    assert_json_error(client_for(people["other"]).get(url), 404, "not_found")
    assert_json_error(client_for().get(url), 404, "not_found")
    for who in ("owner", "staff"):
        assert client_for(people[who]).get(url).status_code == 200


def test_the_detail_has_the_entries_in_order_and_export_links(people, playlists, tracks):
    data = client_for().get(f"{PLAYLISTS}{playlists['public'].pk}/").json()
    assert [(entry["position"], entry["track"]["id"]) for entry in data["entries"]] == [(0, tracks[2].pk)]
    assert set(data["entries"][0]["track"]) == {"id", "title", "composer", "work", "dataset", "url", "audio_url"}
    assert data["export"]["m3u8"] == f"http://testserver{PLAYLISTS}{playlists['public'].pk}/export/?format=m3u8"
    assert data["export"]["xspf"].endswith("?format=xspf")
    assert data["shared_export"] is None


WRITES = [
    ("patch", "", {"name": "Renamed"}),
    ("delete", "", None),
    ("post", "tracks/", {"tracks": []}),  # filled in with a real track below
    ("delete", "tracks/0/", None),
    ("post", "tracks/0/move/", {"to": 0}),
]


@pytest.mark.parametrize("method, suffix, body", WRITES)
def test_writes_anonymous_401_another_users_public_403_private_404(people, playlists, tracks, method, suffix, body):
    body = {"tracks": [tracks[4].pk]} if suffix == "tracks/" else body
    public, private = playlists["public"], playlists["private"]
    anonymous = getattr(client_for(), method)(f"{PLAYLISTS}{public.pk}/{suffix}", body, format="json")
    assert_json_error(anonymous, 401, "not_authenticated")
    other = getattr(client_for(people["other"]), method)
    assert_json_error(other(f"{PLAYLISTS}{public.pk}/{suffix}", body, format="json"), 403, "permission_denied")
    assert_json_error(other(f"{PLAYLISTS}{private.pk}/{suffix}", body, format="json"), 404, "not_found")
    assert Playlist.objects.filter(pk=public.pk, name="Public").exists()
    assert ids(public) == [tracks[2].pk]


@pytest.mark.parametrize("who", ["owner", "staff"])
@pytest.mark.parametrize("method, suffix, body", WRITES)
def test_the_owner_and_staff_may_write(people, playlists, tracks, who, method, suffix, body):
    body = {"tracks": [tracks[4].pk]} if suffix == "tracks/" else body
    write = getattr(client_for(people[who]), method)
    response = write(f"{PLAYLISTS}{playlists['private'].pk}/{suffix}", body, format="json")
    assert response.status_code in (200, 204), response.content


def test_anonymous_clients_cannot_create_or_import():
    assert_json_error(client_for().post(PLAYLISTS, {"name": "Mine"}, format="json"), 401, "not_authenticated")
    assert_json_error(client_for().post(f"{PLAYLISTS}import/", {}), 401, "not_authenticated")


# --- API: editing ---------------------------------------------------------------------


def test_creating_saves_the_given_tracks_and_answers_with_the_detail(people, tracks):
    response = client_for(people["owner"]).post(
        PLAYLISTS, {"name": "From a radio", "tracks": [tracks[3].pk, tracks[1].pk]}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert [entry["track"]["id"] for entry in data["entries"]] == [tracks[3].pk, tracks[1].pk]
    assert data["public"] is False and data["owner"] == "owner" and data["track_count"] == 2


def test_unknown_ids_are_a_400_naming_them(people, tracks):
    error = assert_json_error(
        client_for(people["owner"]).post(PLAYLISTS, {"name": "X", "tracks": [tracks[0].pk, 99999]}, format="json"),
        400, "unknown_tracks",
    )  # fmt: skip
    assert "99999" in error["message"]
    assert not Playlist.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": 5}, "name"),
    ({"name": "X", "public": "yes"}, "public"),
    ({"name": "X", "tracks": "1,2"}, "tracks"),
    ({"name": "X", "tracks": ["1"]}, "tracks"),
    ({"name": "X", "tracks": [0]}, "tracks"),
    ({"name": "X", "tracks": [2**63]}, "tracks"),
])  # fmt: skip
def test_invalid_bodies_are_a_400_naming_the_field(people, body, field):
    error = assert_json_error(client_for(people["owner"]).post(PLAYLISTS, body, format="json"), 400, "invalid")
    assert list(error["fields"]) == [field]


def test_patch_changes_the_fields_sharing_and_order_together(people, playlists, tracks):
    playlist = playlists["private"]
    client = client_for(people["owner"])
    data = client.patch(f"{PLAYLISTS}{playlist.pk}/", {
        "name": "Renamed", "description": "Quiet", "public": True, "link_sharing": True,
        "tracks": [tracks[4].pk, tracks[0].pk],
    }, format="json").json()  # fmt: skip
    assert (data["name"], data["description"], data["public"], data["link_sharing"]) == ("Renamed", "Quiet", True, True)
    assert [entry["track"]["id"] for entry in data["entries"]] == [tracks[4].pk, tracks[0].pk]
    token = Playlist.objects.get(pk=playlist.pk).share_token
    assert data["shared_export"]["m3u8"].endswith(f"/export/?format=m3u8&token={token}")
    # Others see that sharing is on, never the token.
    assert client_for(people["other"]).get(f"{PLAYLISTS}{playlist.pk}/").json()["shared_export"] is None


def test_a_refused_patch_changes_nothing(people, playlists):
    playlist = playlists["private"]
    response = client_for(people["owner"]).patch(
        f"{PLAYLISTS}{playlist.pk}/", {"name": "Renamed", "tracks": [424242]}, format="json"
    )
    assert_json_error(response, 400, "unknown_tracks")
    assert Playlist.objects.get(pk=playlist.pk).name == "Private"


def test_add_remove_and_move_through_the_api(people, playlists, tracks):
    playlist, client = playlists["private"], client_for(people["owner"])
    url = f"{PLAYLISTS}{playlist.pk}/tracks/"
    client.post(url, {"tracks": [tracks[2].pk, tracks[3].pk], "position": 1}, format="json")
    assert ids(playlist) == [tracks[0].pk, tracks[2].pk, tracks[3].pk, tracks[1].pk]
    response = client.post(f"{url}3/move/", {"to": 0}, format="json")
    assert [entry["track"]["id"] for entry in response.json()["entries"]] == [
        tracks[1].pk, tracks[0].pk, tracks[2].pk, tracks[3].pk,
    ]  # fmt: skip
    client.delete(f"{url}1/")
    assert ids(playlist) == [tracks[1].pk, tracks[2].pk, tracks[3].pk]
    assert_json_error(client.delete(f"{url}3/"), 404, "no_such_position")
    assert_json_error(client.post(f"{url}0/move/", {"to": 3}, format="json"), 400, "bad_position")
    assert_json_error(client.post(url, {"tracks": [tracks[0].pk], "position": 9}, format="json"), 400, "bad_position")


def test_deleting_through_the_api(people, playlists):
    playlist = playlists["private"]
    assert client_for(people["owner"]).delete(f"{PLAYLISTS}{playlist.pk}/").status_code == 204
    assert not Playlist.objects.filter(pk=playlist.pk).exists()


# --- pages ----------------------------------------------------------------------------


def test_the_list_page_shows_own_and_public_playlists_and_prefills_tracks_from_another_page(client, people, playlists):
    client.force_login(people["other"])
    page = client.get("/playlists/?tracks=4,5,6").content.decode()
    assert "Others&#x27;" in page and "Public" in page and ">Private<" not in page
    assert 'value="4,5,6"' in page  # e.g. "Save as playlist" from similar results or a radio


def test_creating_on_the_page_goes_to_the_new_playlist(client, people, tracks):
    client.force_login(people["owner"])
    response = client.post("/playlists/", {"name": "Saved", "description": "", "tracks": f"{tracks[1].pk}, {tracks[0].pk}"})
    playlist = Playlist.objects.get(name="Saved")
    assert response.status_code == 302 and response["Location"] == f"/playlists/{playlist.pk}/"
    assert ids(playlist) == [tracks[1].pk, tracks[0].pk]


def test_a_refused_create_on_the_page_shows_why(client, people):
    client.force_login(people["owner"])
    response = client.post("/playlists/", {"name": "Saved", "tracks": "12, x"})
    assert response.status_code == 400 and "these are not: x" in response.content.decode()
    response = client.post("/playlists/", {"name": "Saved", "tracks": "424242"})
    assert response.status_code == 400 and "No track has the id 424242" in response.content.decode()
    assert not Playlist.objects.filter(name="Saved").exists()


def test_the_playlist_page_is_404_for_a_private_one_of_another_user(client, people, playlists):
    client.force_login(people["other"])
    assert client.get(f"/playlists/{playlists['private'].pk}/").status_code == 404
    assert client.get(f"/playlists/{playlists['public'].pk}/").status_code == 200


def test_only_the_owner_gets_the_editing_forms_and_may_post_them(client, people, playlists, tracks):
    public = playlists["public"]
    client.force_login(people["other"])
    assert "Remove" not in client.get(f"/playlists/{public.pk}/").content.decode()
    for action, data in [("remove", {"position": 0}), ("move", {"position": 0, "to": 0}), ("public", {"on": "false"}),
                         ("sharing", {"on": "true"}), ("delete", {}), ("tracks", {"tracks": str(tracks[0].pk)})]:
        assert client.post(f"/playlists/{public.pk}/{action}/", data).status_code == 403, action
    assert ids(public) == [tracks[2].pk] and Playlist.objects.get(pk=public.pk).public


def test_anonymous_visitors_are_sent_to_sign_in_to_edit(client, playlists):
    response = client.post(f"/playlists/{playlists['public'].pk}/remove/", {"position": 0})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_owners_page_edits_go_through_the_services(client, people, playlists, tracks):
    playlist = playlists["private"]
    client.force_login(people["owner"])
    url = f"/playlists/{playlist.pk}/"
    client.post(f"{url}tracks/", {"tracks": f"{tracks[3].pk} {tracks[4].pk}"})
    client.post(f"{url}move/", {"position": 3, "to": 0})
    client.post(f"{url}remove/", {"position": 2})
    assert ids(playlist) == [tracks[4].pk, tracks[0].pk, tracks[3].pk]
    client.post(f"{url}public/", {"on": "true"})
    client.post(f"{url}sharing/", {"on": "true"})
    client.post(url, {"name": "Renamed", "description": "Now"})
    playlist.refresh_from_db()
    assert (playlist.name, playlist.description, playlist.public, playlist.link_sharing) == ("Renamed", "Now", True, True)
    page = client.get(url).content.decode()
    assert f"token={playlist.share_token}" in page
    response = client.post(f"{url}remove/", {"position": 9}, follow=True)
    assert "no position 9" in response.content.decode()
    client.post(f"{url}delete/")
    assert not Playlist.objects.filter(pk=playlist.pk).exists()
