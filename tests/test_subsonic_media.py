"""stream, download and getCoverArt, as a player calls them."""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from catalog.models import Play, Track
from catalog.subsonic.library import AlbumKey, album_of, artist_id
from catalog.subsonic.media import cover_tile
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone
from tests.subsonic import api_key_for, assert_xml_conforms, failed, rest

pytestmark = pytest.mark.django_db

DATA = audio_bytes(tone(seconds=1.0))
SIZE = len(DATA)


@pytest.fixture
def key():
    return api_key_for(make_user())


@pytest.fixture
def track():
    return make_track(data=DATA, title="Prelude", album="Preludes", performer="Ann")


def call(name, key, *, method="get", headers=None, **params):
    """A binary endpoint called as players do: no `f`, so errors come back in XML."""
    return getattr(Client(), method)(f"/rest/{name}.view", {"apiKey": key, "v": "1.16.1", "c": "tests", **params},
                                     headers=headers or {})


def body(response):
    return b"".join(response.streaming_content)


def xml_error(response, code):
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    root = assert_xml_conforms(response.content)
    assert root.get("status") == "failed"
    error = root.find("{http://subsonic.org/restapi}error")
    assert error.get("code") == str(code)
    return error.get("message")


# --- stream and download ----------------------------------------------------------------


def test_stream_serves_the_original_file_whatever_format_or_bit_rate_is_asked(key, track):
    response = call("stream", key, id=track.pk, maxBitRate=128, format="mp3")
    assert response.status_code == 200 and body(response) == DATA
    assert response["Content-Type"] == "audio/wav" and response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes" and response["ETag"] == f'"{track.sha256}"'
    assert Play.objects.count() == 0  # a stream is not a play: players scrobble


def test_stream_seeks_with_ranges(key, track):
    response = call("stream", key, id=track.pk, headers={"Range": "bytes=100-199"})
    assert response.status_code == 206 and body(response) == DATA[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{SIZE}"
    past_the_end = call("stream", key, id=track.pk, headers={"Range": f"bytes={SIZE}-"})
    assert past_the_end.status_code == 416 and past_the_end["Content-Range"] == f"bytes */{SIZE}"


def test_head_answers_headers_without_the_body(key, track):
    response = call("stream", key, method="head", id=track.pk, headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and response["Content-Length"] == "10" and body(response) == b""


def test_a_form_post_streams_too(key, track):
    response = call("stream", key, method="post", id=track.pk)
    assert response.status_code == 200 and body(response) == DATA


def test_a_cached_copy_is_confirmed_with_304(key, track):
    assert call("stream", key, id=track.pk, headers={"If-None-Match": f'"{track.sha256}"'}).status_code == 304


def test_download_names_the_file(key):
    track = make_track(data=DATA, audio_path=default_storage.save("audio/Prélude n°1.wav", ContentFile(DATA)))
    response = call("download", key, id=track.pk)
    assert response.status_code == 200 and body(response) == DATA
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Pr_lude n_1.wav"')
    assert disposition.endswith("filename*=UTF-8''Pr%C3%A9lude%20n%C2%B01.wav")


@pytest.mark.parametrize("endpoint", ["stream", "download"])
def test_what_is_not_a_playable_song_is_not_found_in_the_protocols_shape(key, track, endpoint):
    failed_track = make_track(track.dataset, data=audio_bytes(tone(freq=300)), status=Track.Status.FAILED)
    assert "missing" in xml_error(call(endpoint, key), 10)
    for value in ["999999", album_of(track).id, "abc", str(failed_track.pk)]:
        xml_error(call(endpoint, key, id=value), 70)
    failed(rest(endpoint, key, id="999999"), 70)  # and in JSON when asked


def test_a_song_whose_file_is_gone_is_not_found_with_the_reason(key, track):
    track.storage.delete(track.audio_path)
    message = xml_error(call("stream", key, id=track.pk), 70)
    assert message == f"The audio file of track {track.pk} is missing from storage."


def test_streaming_needs_credentials(track):
    response = Client().get("/rest/stream.view", {"id": track.pk})
    xml_error(response, 10)


# --- cover art --------------------------------------------------------------------------


def picture(response):
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()  # decodes every row: a bad filter byte or CRC fails here
    return image


def test_an_album_gets_a_png_of_the_size_asked(key, track):
    album = album_of(track).id
    image = picture(call("getCoverArt", key, id=album, size=120))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (120, 120)
    # The decoder reads back exactly the tile that was drawn: the PNG encoding is lossless.
    assert np.array_equal(np.asarray(image), cover_tile(album, 120))
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 2  # a picture, not a blank


@pytest.mark.parametrize("size, side", [(None, 600), ("5", 16), ("5000", 1200)])
def test_sizes_default_and_are_clamped(key, track, size, side):
    params = {"size": size} if size else {}
    assert picture(call("getCoverArt", key, id=album_of(track).id, **params)).size == (side, side)


def test_the_picture_is_stable_and_a_song_shows_its_albums(key, track):
    album = album_of(track).id
    first = call("getCoverArt", key, id=album, size=64)
    assert call("getCoverArt", key, id=album, size=64).content == first.content
    assert call("getCoverArt", key, id=str(track.pk), size=64).content == first.content
    other = make_track(track.dataset, data=audio_bytes(tone(freq=300)), album="Fugues", performer="Ann")
    assert call("getCoverArt", key, id=album_of(other).id, size=64).content != first.content
    assert picture(call("getCoverArt", key, id=artist_id("Ann"), size=64)).size == (64, 64)


def test_cover_art_is_cached_and_revalidated(key, track):
    album = album_of(track).id
    response = call("getCoverArt", key, id=album, size=64)
    assert "max-age=" in response["Cache-Control"] and "private" in response["Cache-Control"]
    again = call("getCoverArt", key, id=album, size=64, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert call("getCoverArt", key, id=album, size=65)["ETag"] != response["ETag"]


def test_album_and_artist_covers_are_drawn_without_a_look_up(key, track):
    album = album_of(track).id
    ids = [album, AlbumKey(track.dataset_id, "album", "No such album").id, artist_id("Nobody"),
           artist_id("Various Artists")]
    picture(call("getCoverArt", key, id=album, size=16))  # the key's first use is written down once
    with CaptureQueriesContext(connection) as queries:
        tiles = [picture(call("getCoverArt", key, id=value, size=16)) for value in ids]
    assert not any("catalog_track" in query["sql"] for query in queries)  # the tile follows from the id
    assert len({tile.tobytes() for tile in tiles}) == len(ids)


def test_malformed_ids_and_unknown_songs_have_no_cover(key, track):
    xml_error(call("getCoverArt", key), 10)
    arabic_digits = str(track.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for value in ["al-%%%", "al-bm90IGpzb24", "ar-", "999999", arabic_digits, "pl-1"]:
        xml_error(call("getCoverArt", key, id=value), 70)
    failed(rest("getCoverArt", key, id="999999"), 70)
