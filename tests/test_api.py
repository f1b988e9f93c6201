import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from catalog.models import Dataset, Track
from messsite import throttling
from tests.factories import audio_bytes, client_for, make_dataset, make_track, make_user, noise, tone

pytestmark = pytest.mark.django_db

TRACKS = "/api/v1/tracks/"
DATASETS = "/api/v1/datasets/"


@pytest.fixture
def users(db):
    return {
        "anonymous": None,
        "listener": make_user("listener"),
        "staff": make_user("staff", staff=True),  # staff, but not in Curators: no catalogue perms
        "curator": make_user("curator", staff=True, curator=True),
    }


@pytest.fixture
def curator(users):
    return client_for(users["curator"])


@pytest.fixture
def dataset():
    return make_dataset("Uploads")


def wav(name="tone.wav", data=None):
    return SimpleUploadedFile(name, audio_bytes() if data is None else data, content_type="audio/wav")


def upload(client, dataset, **fields):
    return client.post(TRACKS, {"file": wav(), "dataset": dataset.slug, **fields}, format="multipart")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"]
    return error


# --- permissions ----------------------------------------------------------------------

# Who may not write, and what each is told: 401 asks for credentials, 403 refuses them.
REFUSED = pytest.mark.parametrize(
    "role, refusal",
    [
        ("anonymous", (401, "not_authenticated")),
        ("listener", (403, "permission_denied")),
        ("staff", (403, "permission_denied")),
    ],
)


@pytest.mark.parametrize("role", ["anonymous", "listener", "staff", "curator"])
def test_everyone_reads_the_catalogue(users, role):
    track = make_track()
    client = client_for(users[role])
    assert client.get(TRACKS).json()["results"][0]["id"] == track.pk
    assert client.get(f"{TRACKS}{track.pk}/").status_code == 200
    assert client.get(DATASETS).json()["results"][0]["slug"] == track.dataset.slug


@REFUSED
def test_only_curators_upload(users, dataset, role, refusal):
    assert_error(upload(client_for(users[role]), dataset), *refusal)
    assert not Track.objects.exists()


@REFUSED
def test_only_curators_delete(users, role, refusal):
    track = make_track()
    assert_error(client_for(users[role]).delete(f"{TRACKS}{track.pk}/"), *refusal)
    assert Track.objects.filter(pk=track.pk).exists()


@REFUSED
def test_only_curators_create_datasets(users, role, refusal):
    assert_error(client_for(users[role]).post(DATASETS, {"name": "SMD", "slug": "smd"}), *refusal)


def test_anonymous_refusal_asks_for_a_token(dataset):
    assert upload(APIClient(), dataset)["WWW-Authenticate"] == "Token"


# --- uploads --------------------------------------------------------------------------


def test_curator_uploads_a_track_and_can_stream_it(curator, dataset):
    response = upload(curator, dataset, composer="Bach", work="BWV 846")
    assert response.status_code == 201, response.content
    body = response.json()
    track = Track.objects.get()
    assert body["id"] == track.pk
    assert body["dataset"] == "uploads"
    assert body["title"] == "tone"  # from the file name
    assert (body["composer"], body["work"], body["status"], body["format"]) == ("Bach", "BWV 846", "pending", "WAV")
    assert body["url"] == f"http://testserver{TRACKS}{track.pk}/"
    assert body["audio_url"] == f"http://testserver/tracks/{track.pk}/audio"
    streamed = curator.get(body["audio_url"])
    assert b"".join(streamed.streaming_content) == audio_bytes()


def test_rejected_audio_is_400_with_its_reason(curator, dataset):
    short = wav("blip.wav", audio_bytes(tone(seconds=0.2)))
    response = curator.post(TRACKS, {"file": short, "dataset": dataset.slug}, format="multipart")
    assert "blip.wav" in assert_error(response, 400, "too_short")["message"]
    text = SimpleUploadedFile("notes.wav", b"%PDF-1.4 not audio at all" * 10)
    response = curator.post(TRACKS, {"file": text, "dataset": dataset.slug}, format="multipart")
    assert_error(response, 400, "not_audio")
    assert not Track.objects.exists()


def test_invalid_upload_form_names_the_fields(curator):
    response = curator.post(TRACKS, {"dataset": "no-such-dataset"}, format="multipart")
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"file", "dataset"}


def test_upload_must_be_multipart(curator, dataset):
    response = curator.post(TRACKS, {"dataset": dataset.slug}, format="json")
    assert_error(response, 415, "unsupported_media_type")


def test_duplicate_upload_is_409_naming_the_existing_track(curator, dataset):
    first = upload(curator, dataset).json()
    error = assert_error(upload(curator, dataset), 409, "duplicate")
    assert error["existing"] == {"id": first["id"], "url": first["url"]}
    assert Track.objects.count() == 1


def test_same_audio_may_go_into_another_dataset(curator, dataset):
    upload(curator, dataset)
    assert upload(curator, make_dataset("Other")).status_code == 201


def test_curator_deletes_a_track_and_its_file(curator, django_capture_on_commit_callbacks):
    track = make_track()
    with django_capture_on_commit_callbacks(execute=True):
        response = curator.delete(f"{TRACKS}{track.pk}/")
    assert response.status_code == 204
    assert not Track.objects.filter(pk=track.pk).exists()
    assert not default_storage.exists(track.audio_path)
    assert_error(curator.get(f"{TRACKS}{track.pk}/"), 404, "not_found")


def test_tracks_are_edited_field_by_field_never_replaced_whole(curator):
    track = make_track()
    assert_error(curator.put(f"{TRACKS}{track.pk}/", {"title": "x"}, format="json"), 405, "method_not_allowed")
    assert curator.patch(f"{TRACKS}{track.pk}/", {"title": "x"}, format="json").json()["title"] == "x"


# --- datasets -------------------------------------------------------------------------


def test_datasets_count_their_tracks():
    dataset = make_dataset("SMD", source_kind=Dataset.SourceKind.SMD)
    make_track(dataset, title="one")
    make_track(dataset, data=audio_bytes(noise()), title="two")
    body = APIClient().get(f"{DATASETS}smd/").json()
    assert body["track_count"] == 2
    assert set(body) == {"id", "name", "slug", "source_kind", "description", "track_count", "created_at"}


def test_curator_manages_datasets(curator, django_capture_on_commit_callbacks):
    created = curator.post(DATASETS, {"name": "MAESTRO", "slug": "maestro", "source_kind": "maestro"})
    assert created.status_code == 201
    assert created.json()["track_count"] == 0
    renamed = curator.patch(f"{DATASETS}maestro/", {"description": "Piano"})
    assert renamed.json()["description"] == "Piano"
    track = make_track(Dataset.objects.get(slug="maestro"))
    with django_capture_on_commit_callbacks(execute=True):
        assert curator.delete(f"{DATASETS}maestro/").status_code == 204
    assert not Track.objects.exists()
    assert not default_storage.exists(track.audio_path)


def test_duplicate_dataset_slug_is_a_field_error(curator, dataset):
    error = assert_error(curator.post(DATASETS, {"name": "Again", "slug": dataset.slug}), 400, "invalid")
    assert list(error["fields"]) == ["slug"]


# --- listing: filters, search, ordering, pagination -----------------------------------


@pytest.fixture
def catalogue():
    smd, maestro = make_dataset("SMD"), make_dataset("MAESTRO")

    def piece(dataset, freq, **fields):  # distinct bytes per track: a dataset holds each audio once
        return make_track(dataset, data=audio_bytes(tone(freq=freq)), **fields)

    return {
        "prelude": piece(smd, 261, title="Prelude in C", composer="Bach", work="BWV 846"),
        "fugue": piece(smd, 293, title="Fugue in C", composer="Bach", work="BWV 846", format="FLAC", status="ready"),
        "nocturne": piece(
            maestro, 329, title="Nocturne", composer="Chopin", performer="Argerich", status="failed",
            error="Decoding failed.",
        ),
    }  # fmt: skip


def titles(response):
    assert response.status_code == 200, response.content
    return [track["title"] for track in response.json()["results"]]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("dataset=smd", ["Fugue in C", "Prelude in C"]),
        ("composer=bach", ["Fugue in C", "Prelude in C"]),
        ("status=failed", ["Nocturne"]),
        ("audio_format=FLAC", ["Fugue in C"]),
        ("dataset=smd&status=ready", ["Fugue in C"]),
        ("search=argerich", ["Nocturne"]),
        ("search=bwv 846 prelude", ["Prelude in C"]),
        ("ordering=-title", ["Prelude in C", "Nocturne", "Fugue in C"]),
        # The catalogue page's columns: dataset by name, work (blank first).
        ("ordering=dataset__name,title", ["Nocturne", "Fugue in C", "Prelude in C"]),
        ("ordering=-work,title", ["Fugue in C", "Prelude in C", "Nocturne"]),
    ],
)
def test_track_filters(catalogue, query, expected):
    assert titles(APIClient().get(f"{TRACKS}?{query}")) == expected


@pytest.mark.parametrize(
    "query, field", [("dataset=nope", "dataset"), ("status=lost", "status"), ("audio_format=AAC", "audio_format")]
)
def test_unknown_filter_values_are_400(catalogue, query, field):
    error = assert_error(APIClient().get(f"{TRACKS}?{query}"), 400, "invalid")
    assert list(error["fields"]) == [field]


def test_pagination(catalogue):
    client = APIClient()
    first = client.get(f"{TRACKS}?page_size=2&ordering=title").json()
    assert first["count"] == 3
    assert [t["title"] for t in first["results"]] == ["Fugue in C", "Nocturne"]
    second = client.get(first["next"]).json()
    assert [t["title"] for t in second["results"]] == ["Prelude in C"]
    assert second["next"] is None
    assert_error(client.get(f"{TRACKS}?page=9"), 404, "not_found")


def test_track_body_has_every_documented_field(catalogue):
    body = APIClient().get(f"{TRACKS}{catalogue['nocturne'].pk}/").json()
    assert set(body) == {
        "id", "url", "dataset", "title", "composer", "work", "performer", "album", "year", "genre",
        "track_number", "external_id", "duration", "sample_rate", "channels", "format", "size_bytes", "sha256",
        "status", "error", "metadata", "audio_url", "tags", "created_at", "updated_at",
    }  # fmt: skip
    assert (body["dataset"], body["status"], body["error"]) == ("maestro", "failed", "Decoding failed.")
    assert body["sample_rate"] == 22050 and body["channels"] == 1 and body["duration"] == pytest.approx(2.0)


# --- tokens and throttling ------------------------------------------------------------


def test_token_from_credentials_authorises_uploads(users, dataset):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "curator", "password": "pw-curator"})
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert upload(client, dataset).status_code == 201


def test_wrong_credentials_get_no_token(users):
    response = APIClient().post("/api/v1/auth/token/", {"username": "curator", "password": "guess"})
    assert assert_error(response, 400, "invalid")["message"] == "Unable to log in with provided credentials."


def test_invalid_token_is_401(dataset):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get(TRACKS), 401, "authentication_failed")


def test_requests_over_the_rate_are_429(monkeypatch):
    # DRF copies the rates onto the throttle class at import, so overriding
    # settings.REST_FRAMEWORK would not reach it; patch the class attribute instead.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3/min"})
    client = APIClient()
    assert [client.get(TRACKS).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(TRACKS)
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_the_rate_window_slides_over_its_edge(monkeypatch):
    # Three requests at the very end of one minute still count early in the next, then fade.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3/min"})
    clock = [60 * 1_000_000 - 0.5]
    monkeypatch.setattr(throttling.time, "time", lambda: clock[0])
    client = APIClient()
    assert [client.get(TRACKS).status_code for _ in range(3)] == [200, 200, 200]
    clock[0] += 1  # 0.5 s into the next minute: 3 * (59.5 / 60) + 1 > 3
    assert_error(client.get(TRACKS), 429, "throttled")
    clock[0] += 45  # 45.5 s in: 3 * (14.5 / 60) + 2 (the refused request counted) < 3
    assert client.get(TRACKS).status_code == 200


# --- documentation --------------------------------------------------------------------


def test_schema_is_valid_without_warnings(tmp_path):
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml"))
    assert "/api/v1/tracks/" in (tmp_path / "schema.yaml").read_text()


def test_schema_and_docs_are_served():
    client = APIClient()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    upload_doc = schema.json()["paths"]["/api/v1/tracks/"]["post"]
    assert set(upload_doc["requestBody"]["content"]) == {"multipart/form-data"}
    assert {"201", "400", "401", "403", "409"} <= set(upload_doc["responses"])
    assert client.get("/api/v1/docs/").status_code == 200
