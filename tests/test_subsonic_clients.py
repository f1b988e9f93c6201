"""Real client libraries against a live MESS: py-sonic (libsonic: classic Subsonic, JSON,
`u` + `p`) and py-opensonic (libopensonic: OpenSubsonic, API key, form POSTs), as a player
signs in, browses, searches, streams with seeking, makes a playlist and asks for similar
tracks and sonic paths; MESS's `aspect=`, which neither library knows, over raw HTTP.

The catalogue is the half circle of tests/test_subsonic_similarity.py as one album by one
performer, its songs titled by their angle."""

import json
import urllib.parse
import urllib.request

import libopensonic
import libsonic
import pytest
from django.core.files.storage import default_storage

from catalog.subsonic.library import album_of, artist_id
from tests.factories import make_user
from tests.subsonic import api_key_for
from tests.test_subsonic_similarity import ANGLES, dataset, lay_half_circle, space  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

PERFORMER, ALBUM = "Circle Ensemble", "Half Circle"


@pytest.fixture
def half_circle(space, dataset):  # noqa: F811 (the fixtures imported above)
    return lay_half_circle(space, dataset, title=title, performer=PERFORMER, album=ALBUM)


def title(angle):
    return f"Angle {angle:03d}"  # the album's order (by title) is the angles'


def titles(*angles):
    return [title(angle) for angle in angles]


@pytest.fixture
def server(live_server):
    parts = urllib.parse.urlsplit(live_server.url)
    return f"{parts.scheme}://{parts.hostname}", parts.port


def test_py_sonic_signs_in_with_a_password_browses_streams_and_makes_a_playlist(server, half_circle):
    base, port = server
    make_user("ann")
    sonic = libsonic.Connection(base, "ann", "pw-ann", port=port, appName="tests", legacyAuth=True)  # p=enc:...
    assert sonic.ping()

    indexes = sonic.getArtists()["artists"]["index"]
    artists = {artist["name"]: artist["id"] for index in indexes for artist in index["artist"]}
    assert artists[PERFORMER] == artist_id(PERFORMER)
    [album] = sonic.getArtist(artists[PERFORMER])["artist"]["album"]
    assert album["name"] == ALBUM and album["songCount"] == len(ANGLES)
    songs = sonic.getAlbum(album["id"])["album"]["song"]
    assert [song["title"] for song in songs] == titles(*ANGLES)

    found = sonic.search3("angle 040")["searchResult3"]
    assert [song["id"] for song in found["song"]] == [str(half_circle[40].pk)]

    whole = default_storage.open(half_circle[40].audio_path).read()
    assert sonic.stream(half_circle[40].pk).read() == whole
    seeking = libsonic.Connection(base, "ann", "pw-ann", port=port, legacyAuth=True,
                                  customHeaders={"Range": "bytes=100-199"})
    part = seeking.stream(half_circle[40].pk)
    assert part.status == 206 and part.read() == whole[100:200]

    ids = [str(half_circle[angle].pk) for angle in (60, 0, 160)]
    created = sonic.createPlaylist(name="Sonic walk", songIds=ids)["playlist"]
    assert [playlist["name"] for playlist in sonic.getPlaylists()["playlists"]["playlist"]] == ["Sonic walk"]
    entries = sonic.getPlaylist(created["id"])["playlist"]["entry"]
    assert [entry["id"] for entry in entries] == ids

    similar = sonic.getSimilarSongs2(half_circle[0].pk, count=3)["similarSongs2"]["song"]
    assert [song["title"] for song in similar] == titles(20, 40, 60)

    # py-sonic's default, a salted token, needs the clear password, which MESS does not keep.
    with pytest.raises(libsonic.errors.SonicError, match="API key"):
        libsonic.Connection(base, "ann", "pw-ann", port=port).ping()


def test_py_opensonic_signs_in_with_an_api_key_and_walks_a_sonic_path(server, half_circle):
    base, port = server
    key = api_key_for(make_user("bob"))
    opensonic = libopensonic.Connection(base, api_key=key, port=port, app_name="tests")  # POSTs forms
    try:
        names = {extension.name for extension in opensonic.get_open_subsonic_extensions()}
        assert {"apiKeyAuthentication", "formPost", "sonicSimilarity"} <= names
        assert opensonic.ping()

        [index] = opensonic.get_artists().index
        assert [artist.name for artist in index.artist] == [PERFORMER]
        album = opensonic.get_album(album_of(half_circle[0]).id)
        assert album.name == ALBUM and [song.title for song in album.song] == titles(*ANGLES)
        assert [song.id for song in opensonic.search3("angle 160").song] == [str(half_circle[160].pk)]

        assert opensonic.create_playlist(name="Path", song_ids=[str(half_circle[a].pk) for a in (20, 40)])
        [created] = opensonic.get_playlists()
        assert [entry.title for entry in opensonic.get_playlist(created.id).entry] == titles(20, 40)

        similar = opensonic.get_sonic_similar_tracks(str(half_circle[0].pk), count=3)
        assert [match.entry.title for match in similar] == titles(20, 40, 60)
        assert 1 > similar[0].similarity > similar[1].similarity > similar[2].similarity > 0

        # Three songs: a path keeps the site's caps, two songs of an album in any ten (the end aside).
        path = opensonic.find_sonic_path(str(half_circle[0].pk), str(half_circle[160].pk), count=3)
        assert [match.entry.title for match in path] == titles(0, 80, 160)
        assert path[0].similarity == 1.0 and path[-1].similarity < 0.1
    finally:
        opensonic.cleanup()

    # aspect= is MESS's own: by brightness the half circle runs the other way (layer 1).
    bright = _post(base, port, "getSonicSimilarTracks", apiKey=key, id=half_circle[0].pk, count=3, aspect="brightness")
    assert [match["entry"]["title"] for match in bright["sonicMatch"]] == titles(160, 140, 120)
    bright_path = _post(base, port, "findSonicPath", apiKey=key, startSongId=half_circle[0].pk,
                        endSongId=half_circle[60].pk, count=3, aspect="brightness")
    assert [match["entry"]["title"] for match in bright_path["sonicMatch"]] == titles(0, 120, 60)


def _post(base, port, name, **params):
    """The subsonic-response of a form POST to /rest/<name>.view, as a player would send it."""
    form = urllib.parse.urlencode({"f": "json", "v": "1.16.1", "c": "tests", **params}).encode()
    with urllib.request.urlopen(f"{base}:{port}/rest/{name}.view", data=form) as response:
        body = json.load(response)["subsonic-response"]
    assert body["status"] == "ok", body
    return body
