"""Input that used to get through or crash: audio with NaN samples or no sound at all,
and NUL characters (which PostgreSQL text cannot hold) anywhere in a request."""

import io
import json
from urllib.parse import urlencode

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from catalog.audio import SILENCE_PEAK, AudioRejected, probe
from catalog.importers import find_entries, run_import
from catalog.intake import ingest_path, ingest_upload
from catalog.models import Dataset, Track
from tests.factories import (
    assert_json_error, audio_bytes, curator_client, make_dataset, make_track, make_user, token_for, tone,
)

pytestmark = pytest.mark.django_db

SR = 22050


def float_wav(signal):
    """A 32-bit float WAV: the one common coding that can store NaN."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(signal, dtype="float32"), SR, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def all_nan(seconds=2.0):
    return float_wav(np.full(int(seconds * SR), np.nan))


def one_nan_near_the_end():
    signal = tone(seconds=20.0, sample_rate=SR)  # far longer than one scan block
    signal[-10] = np.nan
    return float_wav(signal)


def digital_silence(subtype="PCM_16"):
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(2 * SR), SR, format="WAV", subtype=subtype)
    return buffer.getvalue()


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- Audio that is not finite, or not there ------------------------------------------------

CONTENT_CASES = {
    # case: (file bytes, code, words in the message)
    "all NaN": (all_nan, "non_finite", ["NaN"]),
    "one NaN late in a long file": (one_nan_near_the_end, "non_finite", ["NaN", "the first at 20 s"]),
    "float infinity": (lambda: float_wav(np.r_[tone(sample_rate=SR), np.inf]), "non_finite", ["infinite"]),
    "16-bit zeros": (digital_silence, "silent", ["silent", "-80 dBFS"]),
    "float zeros": (lambda: digital_silence("FLOAT"), "silent", ["silent"]),
    "below -80 dBFS": (lambda: float_wav(tone(sample_rate=SR, amplitude=SILENCE_PEAK / 2)), "silent", ["silent"]),
}


@pytest.mark.parametrize("case", CONTENT_CASES)
@pytest.mark.parametrize("how", ["upload", "import"])
def test_nan_and_silent_audio_is_refused_at_intake_and_leaves_nothing(case, how, tmp_path, _isolated_media):
    make_bytes, code, words = CONTENT_CASES[case]
    dataset = make_dataset("Uploads")
    with pytest.raises(AudioRejected) as refused:
        if how == "upload":
            ingest_upload(dataset, SimpleUploadedFile("take.wav", make_bytes()))
        else:
            path = tmp_path / "incoming" / "take.wav"
            path.parent.mkdir()
            path.write_bytes(make_bytes())
            ingest_path(dataset, path)
    assert refused.value.code == code
    assert refused.value.message.startswith("take.wav ")
    for word in words:
        assert word in refused.value.message
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []


def test_the_whole_of_a_compressed_file_is_checked_not_only_up_to_its_first_sound(_isolated_media):
    """Only float WAV can hold NaN (FLAC and PCM are integers; LAME aborts on NaN, Vorbis
    and Opus encode it as finite sound), so damage stands in for it: a FLAC frame broken
    halfway through a 20 s file, whose start and end decode, used to pass, because every
    coding but float WAV was scanned only up to its first audible block."""
    data = bytearray(audio_bytes(tone(seconds=20.0, sample_rate=SR), sample_rate=SR, fmt="FLAC"))
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(b ^ 0xFF for b in data[middle : middle + 200])
    with pytest.raises(AudioRejected) as refused:
        ingest_upload(make_dataset("Uploads"), SimpleUploadedFile("take.flac", bytes(data)))
    assert refused.value.code == "corrupt"
    assert "near the middle" in refused.value.message
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []


def test_quiet_but_audible_audio_is_accepted(tmp_path):
    path = tmp_path / "pianissimo.wav"
    path.write_bytes(float_wav(tone(sample_rate=SR, amplitude=SILENCE_PEAK * 3)))
    assert probe(path).frames == 2 * SR
    # Silence then sound: only a file silent throughout is refused.
    path.write_bytes(audio_bytes(np.r_[np.zeros(3 * SR), tone(sample_rate=SR)]))
    assert probe(path).duration == 5.0


@pytest.mark.parametrize(("make_bytes", "code"), [(all_nan, "non_finite"), (digital_silence, "silent")])
def test_api_upload_of_nan_or_silent_audio_is_400_and_stores_nothing(make_bytes, code, _isolated_media):
    dataset = make_dataset("Uploads")
    response = curator_client().post(
        "/api/v1/tracks/",
        {"file": SimpleUploadedFile("bad.wav", make_bytes(), content_type="audio/wav"), "dataset": dataset.slug},
        format="multipart",
    )
    error = assert_json_error(response, 400, code)
    assert error["message"].startswith("bad.wav ")
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []


def test_multi_file_upload_rejects_nan_and_silent_files_and_imports_the_rest(client):
    client.force_login(make_user("curator", staff=True, curator=True), backend="django.contrib.auth.backends.ModelBackend")
    dataset = make_dataset("Piano")
    files = [
        SimpleUploadedFile("nan.wav", all_nan()),
        SimpleUploadedFile("good.wav", audio_bytes()),
        SimpleUploadedFile("silence.wav", digital_silence()),
    ]
    response = client.post("/admin/catalog/track/upload/", {"dataset": dataset.pk, "files": files})

    assert response.status_code == 200
    assert list(Track.objects.values_list("title", flat=True)) == ["good"]
    assert "1 imported, 0 already in the dataset, 2 rejected." in response.text
    rows = response.text.split("<tr")
    for name, words in {"nan.wav": "NaN", "silence.wav": "is silent"}.items():
        [row] = [row for row in rows if f"<td>{name}</td>" in row]
        assert "Rejected" in row and words in row
    assert len(default_storage.listdir("audio")[0]) == 1


def test_folder_import_reports_nan_and_silent_files_as_failed_with_the_reason(tmp_path):
    root = tmp_path / "library"
    root.mkdir()
    (root / "good.wav").write_bytes(audio_bytes())
    (root / "nan.wav").write_bytes(all_nan())
    (root / "silence.wav").write_bytes(digital_silence())

    summary = run_import(make_dataset("Library"), find_entries("folder", root), root=root)

    assert summary.imported == 1
    failed = dict(summary.failed)
    assert sorted(failed) == ["nan.wav", "silence.wav"]
    assert "NaN" in failed["nan.wav"]
    assert "silent" in failed["silence.wav"]
    assert list(Track.objects.values_list("title", flat=True)) == ["good"]


# --- NUL characters ----------------------------------------------------------------------


def test_nul_in_the_address_is_a_json_400():
    assert_json_error(APIClient().get("/api/v1/datasets/a%00b/"), 400, "nul_byte")


def test_nul_in_a_query_parameter_is_a_json_400():
    error = assert_json_error(APIClient().get("/api/v1/tracks/?composer=a%00b"), 400, "nul_byte")
    assert "composer" in error["message"]


def test_nul_in_a_multipart_form_field_is_a_json_400_and_imports_nothing(_isolated_media):
    make_dataset("Relia", slug="relia")
    response = curator_client().post(
        "/api/v1/tracks/",
        {"file": SimpleUploadedFile("tone.wav", audio_bytes(), content_type="audio/wav"), "dataset": "re\x00lia"},
        format="multipart",
    )
    error = assert_json_error(response, 400, "nul_byte")
    assert "dataset" in error["message"]
    assert not Track.objects.exists()
    assert files_under(_isolated_media) == []


@pytest.mark.parametrize("how", ["multipart", "urlencoded"])
@pytest.mark.parametrize("method", ["patch", "put"])
def test_nul_in_a_put_or_patch_form_is_a_json_400_and_changes_nothing(method, how):
    """Django parses only POST forms; DRF parses these itself, after the middleware."""
    make_dataset("Relia", slug="relia")
    fields = {"name": "Re\x00lia", "slug": "relia", "description": "fine"}
    client = curator_client()
    call = getattr(client, method)
    if how == "multipart":
        response = call("/api/v1/datasets/relia/", fields, format="multipart")
    else:
        body = urlencode(fields)
        response = call("/api/v1/datasets/relia/", body, content_type="application/x-www-form-urlencoded")
    error = assert_json_error(response, 400, "nul_byte")
    assert "name" in error["message"]
    assert Dataset.objects.get(slug="relia").description == ""


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_put_or_patch_form_without_nul_still_reaches_the_view(method):
    make_dataset("Relia", slug="relia")
    response = getattr(curator_client(), method)(
        "/api/v1/datasets/relia/", {"name": "Relia", "slug": "relia", "description": "read by DRF"}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert Dataset.objects.get(slug="relia").description == "read by DRF"


def test_nul_in_a_json_string_is_a_json_400():
    response = curator_client().post(
        "/api/v1/probes/", json.dumps({"dataset": "a\u0000b"}), content_type="application/json"
    )
    error = assert_json_error(response, 400, "nul_byte")
    assert "dataset" in error["message"]


def test_nul_in_a_token_header_is_a_json_400():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token a\x00b")
    assert_json_error(client.get("/api/v1/datasets/"), 400, "nul_byte")


def test_nul_on_an_html_page_is_an_html_400(client):
    response = client.get("/?composer=a%00b", HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "NUL" in response.text and "composer" in response.text


def test_text_without_nul_still_passes(client):
    make_track(make_dataset("Relia", slug="relia"), composer="a\\u0000b")
    assert APIClient().get("/api/v1/datasets/relia/").status_code == 200
    listed = APIClient().get("/api/v1/tracks/?composer=a%5Cu0000b")  # a literal backslash-u
    assert listed.status_code == 200 and listed.json()["count"] == 1
    response = curator_client().post(
        "/api/v1/probes/", json.dumps({"dataset": "nope"}), content_type="application/json"
    )
    assert_json_error(response, 400, "invalid")


# --- many files ----------------------------------------------------------------------------


def wavs(count):
    return [SimpleUploadedFile(f"{i}.wav", audio_bytes(tone(seconds=1.0, freq=200 + 10 * i))) for i in range(count)]


def test_the_upload_api_refuses_several_files_instead_of_keeping_the_last(client):
    make_dataset("Up", slug="up")
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(make_user('cur', staff=True, curator=True))}"}
    response = client.post("/api/v1/tracks/", {"dataset": "up", "file": wavs(3)}, **auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "one_file_per_request" and "not 3" in response.json()["error"]["message"]
    assert not Track.objects.exists()


def test_too_many_files_are_refused_with_the_reason_in_json_and_on_pages(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    make_dataset("Up", slug="up")
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(make_user('cur', staff=True, curator=True))}"}
    response = client.post("/api/v1/tracks/", {"dataset": "up", "file": wavs(7)}, **auth)
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_files"
    assert "more than 5 files" in response.json()["error"]["message"]
    page = client.post("/accounts/login/", {"username": "x", "file": wavs(7)})
    assert page.status_code == 400 and b"more than 5 files" in page.content
    assert not Track.objects.exists()


def test_a_body_declared_over_the_limit_is_refused_from_its_length_unread(client, settings):
    """Gunicorn reached without the proxy: 413 from Content-Length, before the body (here
    far shorter than declared, so reading it would fail) is read."""
    settings.MESS_MAX_REQUEST_BYTES = 1_000_000
    make_dataset("Up", slug="up")
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(make_user('cur', staff=True, curator=True))}"}
    declared = {"CONTENT_LENGTH": str(10 * 1024**3)}
    response = client.post("/api/v1/tracks/", {"dataset": "up", "file": wavs(1)}, **auth, **declared)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large" and "1000000 bytes" in response.json()["error"]["message"]
    page = client.post("/accounts/login/", {"username": "x", "password": "y"}, **declared)
    assert page.status_code == 413 and b"MESS_MAX_REQUEST_BYTES" in page.content
    assert not Track.objects.exists()
    within = client.post("/api/v1/tracks/", {"dataset": "up", "file": wavs(1)}, **auth)
    assert within.status_code == 201
