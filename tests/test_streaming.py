import time
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils.http import http_date

from tests.factories import audio_bytes, make_track, tone

pytestmark = pytest.mark.django_db

DATA = audio_bytes(tone(seconds=1.0))
SIZE = len(DATA)


def audio_url(track):
    return f"/tracks/{track.pk}/audio"


def body(response):
    return b"".join(response.streaming_content)


@pytest.fixture
def track():
    return make_track(data=DATA)


def get(client, track, **headers):
    return client.get(audio_url(track), headers=headers)


def test_full_file_with_validators(client, track):
    response = get(client, track)
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Length"] == str(SIZE)
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{track.sha256}"'
    assert "Last-Modified" in response
    assert "Content-Range" not in response


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-100", SIZE - 100, SIZE - 1),
        ("bytes=500-", 500, SIZE - 1),
        ("bytes=100-99999999", 100, SIZE - 1),  # an end past the file is clamped
        ("bytes=-99999999", 0, SIZE - 1),  # a suffix longer than the file is the whole file
        ("BYTES=0-0", 0, 0),  # the range unit is case-insensitive
    ],
)
def test_single_range(client, track, header, first, last):
    response = get(client, track, Range=header)
    assert response.status_code == 206
    assert body(response) == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{track.sha256}"'


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_range(client, track, header):
    response = client.get(audio_url(track), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    ["bytes=abc", "bytes=99-10", "bytes=-", "items=0-10", "0-10", "bytes=0-10,20-30"],
    ids=["letters", "reversed", "empty", "other-unit", "no-unit", "multiple-ranges-get-full-body"],
)
def test_ignored_range_gives_full_file(client, track, header):
    response = get(client, track, Range=header)
    assert response.status_code == 200
    assert body(response) == DATA
    assert "Content-Range" not in response


def test_head_has_headers_and_no_body(client, track):
    response = client.head(audio_url(track), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response["Content-Length"] == "100"
    assert response["Content-Range"] == f"bytes 0-99/{SIZE}"
    assert body(response) == b""


def test_other_methods_are_not_allowed(client, track):
    assert client.post(audio_url(track)).status_code == 405


def test_if_none_match_gives_304_with_validators(client, track):
    response = get(client, track, If_None_Match=f'"{track.sha256}"')
    assert response.status_code == 304
    assert response["ETag"] == f'"{track.sha256}"'
    assert get(client, track, If_None_Match='"something-else"').status_code == 200


def test_if_modified_since(client, track):
    last_modified = get(client, track)["Last-Modified"]
    assert get(client, track, If_Modified_Since=last_modified).status_code == 304
    assert get(client, track, If_Modified_Since=http_date(0)).status_code == 200


def test_if_range(client, track):
    etag = f'"{track.sha256}"'
    last_modified = get(client, track)["Last-Modified"]
    assert get(client, track, Range="bytes=0-9", If_Range=etag).status_code == 206
    assert get(client, track, Range="bytes=0-9", If_Range=last_modified).status_code == 206
    # A changed file (other validator) or a weak tag means the client's copy is stale: send it all.
    for stale in ('"0000"', f"W/{etag}", http_date(0)):
        response = get(client, track, Range="bytes=0-9", If_Range=stale)
        assert response.status_code == 200
        assert body(response) == DATA


@pytest.mark.parametrize("fmt, content_type", [("FLAC", "audio/flac"), ("OGG", "audio/ogg"), ("MP3", "audio/mpeg")])
def test_content_type_follows_format(client, fmt, content_type):
    track = make_track(data=audio_bytes(fmt=fmt), format=fmt)
    assert get(client, track)["Content-Type"] == content_type


def test_in_place_track_is_read_from_its_root(client, tmp_path):
    root = tmp_path / "corpus"
    (root / "bach").mkdir(parents=True)
    (root / "bach" / "prelude.wav").write_bytes(DATA)
    track = make_track(data=DATA, audio_root=str(root), audio_path="bach/prelude.wav")
    response = get(client, track, Range="bytes=-10")
    assert response.status_code == 206
    assert body(response) == DATA[-10:]


@pytest.mark.parametrize("audio_path", ["../../etc/passwd", "/etc/passwd", "bach/../../outside.wav"])
def test_paths_escaping_the_root_are_not_served(client, tmp_path, audio_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (tmp_path / "outside.wav").write_bytes(DATA)
    track = make_track(data=DATA, audio_root=str(root), audio_path=audio_path)
    response = get(client, track)
    assert response.status_code == 404
    assert b"outside its storage" in response.content


def test_missing_file_is_a_clear_404(client, track):
    track.storage.delete(track.audio_path)
    response = get(client, track)
    assert response.status_code == 404
    assert response.content.decode() == f"The audio file of track {track.pk} is missing from storage."


def test_unknown_track_is_404(client):
    assert client.get("/tracks/999999/audio").status_code == 404


def test_anonymous_and_logged_in_users_may_stream(client, track, django_user_model):
    assert get(client, track).status_code == 200
    client.force_login(django_user_model.objects.create_user("someone"))
    assert get(client, track).status_code == 200


def test_object_storage_redirects_to_a_presigned_url(client, settings, track):
    # The real django-storages S3 backend, with dummy credentials: presigning is local
    # signing, so no network (and no S3) is needed to check the URL we redirect to.
    settings.AUDIO_URL_EXPIRY_SECONDS = 120
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "mess-audio",
                "region_name": "eu-west-1",
                "access_key": "AKIAEXAMPLE",
                "secret_key": "example-secret",
                "querystring_auth": True,
                "querystring_expire": settings.AUDIO_URL_EXPIRY_SECONDS,
            },
        },
    }
    response = get(client, track)
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    location = urlparse(response["Location"])
    assert location.hostname.startswith("mess-audio.")
    assert location.path == f"/{track.audio_path}"
    query = parse_qs(location.query)
    assert "Signature" in query
    assert abs(int(query["Expires"][0]) - (time.time() + 120)) < 10
