"""Playlist files: M3U8 and XSPF exports as players read them, and M3U/M3U8 imports that
find the tracks by URL, file name or title, refuse what is not a playlist, and give back
an exported playlist unchanged."""

from xml.etree import ElementTree

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from catalog.models import Playlist
from catalog.playlists import services
from catalog.playlists.formats import FileEntry, UnreadablePlaylist, parse_m3u
from tests.factories import assert_json_error, audio_bytes, make_dataset, make_track, make_user, token_for, tone
from tests.test_playlists import ids, make_tracks

pytestmark = pytest.mark.django_db

PLAYLISTS = "/api/v1/playlists/"
NS = {"x": "http://xspf.org/ns/0/"}


@pytest.fixture
def owner():
    return make_user("owner")


@pytest.fixture
def client(owner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(owner)}")
    return client


@pytest.fixture
def named_tracks():
    dataset = make_dataset("Concert")
    return [
        make_track(dataset, data=audio_bytes(tone(seconds=2.0, freq=300)), title="Prélude in C", composer="Bach",
                   performer="Glenn Gould", album="WTC", track_number=1),
        make_track(dataset, data=audio_bytes(tone(seconds=3.0, freq=400)), title="Fugue\nin C", composer="Bach"),
    ]  # fmt: skip


def export(client, playlist, kind, **query):
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return client.get(f"{PLAYLISTS}{playlist.pk}/export/?format={kind}{extra}")


def upload(client, text, file_name="list.m3u8", **fields):
    data = text.encode() if isinstance(text, str) else text
    return client.post(f"{PLAYLISTS}import/", {"file": SimpleUploadedFile(file_name, data), **fields}, format="multipart")


# --- export ---------------------------------------------------------------------------


def test_m3u8_has_extinf_lines_and_absolute_stream_urls(client, owner, named_tracks):
    first, second = named_tracks
    playlist = services.create_playlist(owner, name="My list: Bach/Gould", tracks=[first.pk, second.pk, first.pk])
    response = export(client, playlist, "m3u8")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/x-mpegurl; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="My list BachGould.m3u8"'
    assert response.content.decode() == (
        "#EXTM3U\n"
        "#PLAYLIST:My list: Bach/Gould\n"
        "#EXTINF:2,Glenn Gould - Prélude in C\n"
        f"http://testserver/tracks/{first.pk}/audio\n"
        "#EXTINF:3,Bach - Fugue in C\n"  # a line break in a title would start a new entry
        f"http://testserver/tracks/{second.pk}/audio\n"
        "#EXTINF:2,Glenn Gould - Prélude in C\n"
        f"http://testserver/tracks/{first.pk}/audio\n"
    )


def test_xspf_is_valid_xml_in_the_xspf_namespace_with_ms_durations(client, owner, named_tracks):
    first, second = named_tracks
    playlist = services.create_playlist(owner, name="Bach & <friends>", description="Two", tracks=[first.pk, second.pk])
    response = export(client, playlist, "xspf")
    assert response["Content-Type"] == "application/xspf+xml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Bach friends.xspf"'
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://xspf.org/ns/0/}playlist" and root.get("version") == "1"
    assert root.findtext("x:title", namespaces=NS) == "Bach & <friends>"
    assert root.findtext("x:creator", namespaces=NS) == "owner"
    assert root.findtext("x:annotation", namespaces=NS) == "Two"
    assert root.findtext("x:info", namespaces=NS) == f"http://testserver/playlists/{playlist.pk}/"
    tracks = root.findall("x:trackList/x:track", NS)
    assert [
        {child.tag.split("}")[1]: child.text for child in track} for track in tracks
    ] == [
        {"location": f"http://testserver/tracks/{first.pk}/audio", "title": "Prélude in C", "creator": "Glenn Gould",
         "info": f"http://testserver/tracks/{first.pk}/", "album": "WTC", "trackNum": "1", "duration": "2000"},
        {"location": f"http://testserver/tracks/{second.pk}/audio", "title": "Fugue\nin C", "creator": "Bach",
         "info": f"http://testserver/tracks/{second.pk}/", "duration": "3000"},
    ]  # fmt: skip


def test_xspf_leaves_out_characters_xml_cannot_carry(client, owner):
    track = make_track(title="Bell\x07 ring")
    playlist = services.create_playlist(owner, name="P", tracks=[track.pk])
    root = ElementTree.fromstring(export(client, playlist, "xspf").content)
    assert root.findtext("x:trackList/x:track/x:title", namespaces=NS) == "Bell ring"


def test_a_public_playlist_exports_for_anyone_a_private_one_only_with_its_share_token(owner, named_tracks):
    playlist = services.create_playlist(owner, name="P", tracks=[named_tracks[0].pk])
    anonymous = APIClient()
    assert_json_error(export(anonymous, playlist, "m3u8"), 404, "not_found")
    assert_json_error(export(anonymous, playlist, "m3u8", token="guess"), 404, "not_found")
    services.set_link_sharing(playlist, True)
    token = playlist.share_token
    assert export(anonymous, playlist, "m3u8", token=token).status_code == 200
    assert export(anonymous, playlist, "xspf", token=token).status_code == 200
    services.set_link_sharing(playlist, False)
    assert_json_error(export(anonymous, playlist, "m3u8", token=token), 404, "not_found")
    services.update_playlist(playlist, public=True)
    assert export(anonymous, playlist, "m3u8").status_code == 200


def test_a_share_token_opens_only_its_own_playlist(owner, named_tracks):
    shared = services.set_link_sharing(services.create_playlist(owner, name="Shared"), True)
    other = services.create_playlist(owner, name="Other")
    assert_json_error(export(APIClient(), other, "m3u8", token=shared.share_token), 404, "not_found")


@pytest.mark.parametrize("query", ["", "?format=mp3", "?format=json", "?format=m3u8&format=xspf"])
def test_an_unknown_export_format_is_a_json_400(client, owner, query):
    playlist = services.create_playlist(owner, name="P")
    assert_json_error(client.get(f"{PLAYLISTS}{playlist.pk}/export/{query}"), 400, "invalid")


# --- import: reading the file ---------------------------------------------------------


def test_parsing_handles_a_bom_crlf_comments_extinf_and_blank_lines():
    text = (
        "\ufeff#EXTM3U\r\n#PLAYLIST:Road trip\r\n\r\n#EXTINF:123,Bach - Prelude\r\nmusic/prelude.mp3\r\n"
        "# a comment\r\n  C:\\Music\\fugue.flac  \r\nhttp://x/y.ogg"
    )
    parsed = parse_m3u(text.encode("utf-8"))
    assert parsed.name == "Road trip"
    assert parsed.entries == [
        FileEntry("music/prelude.mp3", "Bach - Prelude"), FileEntry("C:\\Music\\fugue.flac"), FileEntry("http://x/y.ogg"),
    ]  # fmt: skip


def test_parsing_reads_windows_1252_m3u_files():
    assert parse_m3u("#EXTINF:1,Dvořák\nDvorak - Humoresque.mp3\n".encode("utf-8")).entries[0].title == "Dvořák"
    assert parse_m3u("#EXTINF:1,Café\ncafe.mp3\n".encode("cp1252")).entries[0].title == "Café"


@pytest.mark.parametrize("data", [
    b"#EXTM3U\n\x00\x01\x02song.mp3\n",
    bytes(range(256)) * 4,
    b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(200),  # an MP3's first bytes
    b"#EXTM3U\n\x1b[31mred\n",
])  # fmt: skip
def test_binary_data_is_not_a_playlist(data):
    with pytest.raises(UnreadablePlaylist):
        parse_m3u(data)


# --- import: matching -----------------------------------------------------------------


def test_a_round_trip_gives_the_same_tracks_in_the_same_order(client, owner):
    tracks = make_tracks(4)
    order = [tracks[2].pk, tracks[0].pk, tracks[2].pk, tracks[3].pk]
    playlist = services.create_playlist(owner, name="Round", tracks=order)
    response = upload(client, export(client, playlist, "m3u8").content, file_name="Round.m3u8")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["unmatched"] == [] and data["name"] == "Round"
    assert ids(Playlist.objects.get(pk=data["id"])) == order


def test_entries_match_our_urls_file_names_and_titles_case_and_accent_insensitively(client, owner):
    dataset = make_dataset("Mixed")
    by_url, by_stored, by_upload, by_title, by_artist = [
        make_track(dataset, data=audio_bytes(tone(freq=300 + 30 * n)), title=title, composer=composer,
                   metadata=metadata, **fields)
        for n, (title, composer, metadata, fields) in enumerate([
            ("Anything", "", {}, {}),
            ("Stored", "", {}, {"audio_path": "in-place/Disc 1/03 Gigue.flac"}),
            ("Uploaded", "", {"original_name": "Sarabande (live).wav"}, {}),
            ("Humoresque", "Antonín Dvořák", {}, {}),
            ("Prelude", "Bach", {}, {"performer": "Glenn Gould"}),
        ])
    ]  # fmt: skip
    text = "\n".join([
        "#EXTM3U",
        f"http://testserver/tracks/{by_url.pk}/audio",
        "/home/me/music/03%20gigue.flac".replace("%20", " "),
        "D:\\Old\\SARABANDE (LIVE).WAV",
        "#EXTINF:10,antonin dvorak – humoresque",  # an en dash, no accents, lower case
        "somewhere/else.mp3",
        "http://elsewhere.example/stream/Glenn%20Gould%20-%20Prelude.mp3",
        f"http://elsewhere.example/tracks/{by_url.pk}/audio",  # another site's id means nothing here
        "#EXTINF:5,Nobody - Nothing",
        "nothing.mp3",
    ])  # fmt: skip
    data = upload(client, text, file_name="mixed.m3u").json()
    matched = [entry["track"]["id"] for entry in data["entries"]]
    assert matched == [by_url.pk, by_stored.pk, by_upload.pk, by_title.pk, by_artist.pk]
    assert data["unmatched"] == [f"http://elsewhere.example/tracks/{by_url.pk}/audio", "nothing.mp3"]
    assert data["name"] == "mixed"


def test_the_given_name_wins_over_the_files_own_which_wins_over_the_file_name(client, owner):
    text = f"#PLAYLIST:Own\nhttp://testserver/tracks/{make_track().pk}/"
    assert upload(client, text, file_name="x.m3u8", name="Given").json()["name"] == "Given"
    assert upload(client, text, file_name="x.m3u8").json()["name"] == "Own"


@pytest.mark.parametrize("data, code", [
    (b"\x00\x01binary", "unreadable_playlist"),
    (b"#EXTM3U\n# nothing but comments\n", "empty_playlist"),
    (b"#EXTM3U\nnobody.mp3\n", "nothing_matched"),
])  # fmt: skip
def test_garbage_is_a_400_with_the_reason_and_makes_nothing(client, data, code):
    make_track(title="Somebody")
    assert_json_error(upload(client, data), 400, code)
    assert not Playlist.objects.exists()


def test_a_file_over_the_size_limit_is_a_413(client, settings):
    settings.MESS_PLAYLIST_MAX_IMPORT_BYTES = 100
    error = assert_json_error(upload(client, "#EXTM3U\n" + "song.mp3\n" * 50), 413, "too_large")
    assert "MESS_PLAYLIST_MAX_IMPORT_BYTES" in error["message"]


def test_a_file_listing_more_entries_than_a_playlist_holds_is_refused_before_matching(client, settings):
    settings.MESS_PLAYLIST_MAX_TRACKS = 3
    error = assert_json_error(upload(client, "#EXTM3U\n" + "song.mp3\n" * 4), 400, "too_long")
    assert "at most 3" in error["message"]
    assert not Playlist.objects.exists()


def test_an_import_without_a_file_is_a_400(client):
    error = assert_json_error(client.post(f"{PLAYLISTS}import/", {"name": "x"}, format="multipart"), 400, "invalid")
    assert list(error["fields"]) == ["file"]
