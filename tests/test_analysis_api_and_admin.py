"""Curators and staff ask for extraction from the admin and the API and watch the jobs."""

import pytest

from analysis.models import EmbeddingSpace, ExtractionJob
from tests.factories import audio_bytes, make_dataset, make_track, make_user, token_for

pytestmark = pytest.mark.django_db


def auth(user):
    return {"HTTP_AUTHORIZATION": f"Token {token_for(user)}"}


def test_spaces_are_listed_for_everyone(client):
    EmbeddingSpace.objects.create(
        name="MERT-v1-95M", model_id="m-a-p/MERT-v1-95M", weights_hash="a" * 64, num_layers=13, dim=768,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=True,
    )
    [space] = client.get("/api/v1/spaces/").json()["results"]
    assert (space["num_layers"], space["dim"], space["is_active"]) == (13, 768, True)


@pytest.mark.parametrize(
    "who, status",
    [("anonymous", 401), ("listener", 403), ("curator without staff", 403), ("staff", 202)],
)
def test_only_staff_queue_extraction_through_the_api(client, who, status):
    track = make_track()
    headers = {}
    if who != "anonymous":
        user = make_user("u", staff=who == "staff", curator=who == "curator without staff", superuser=who == "staff")
        headers = auth(user)
    response = client.post(f"/api/v1/tracks/{track.pk}/extract/", {"force": True}, **headers)
    assert response.status_code == status, response.content
    if status == 202:
        body = response.json()
        assert body["status"] == "queued" and body["track"] == track.pk and body["force"] is True
    else:
        assert ExtractionJob.objects.count() == 0
        assert response.json()["error"]["status"] == status


def test_extracting_a_missing_track_is_a_404_in_the_error_shape(client):
    response = client.post("/api/v1/tracks/999999/extract/", {}, **auth(make_user("s", superuser=True)))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_jobs_are_for_signed_in_users_and_filter_by_track(client):
    dataset = make_dataset()
    first, second = make_track(dataset, title="one"), make_track(dataset, title="two", data=audio_bytes(fmt="FLAC"))
    ExtractionJob.objects.create(track=first)
    ExtractionJob.objects.create(track=second)
    assert client.get("/api/v1/extraction-jobs/").status_code == 401
    response = client.get(f"/api/v1/extraction-jobs/?track={first.pk}", **auth(make_user("listener")))
    assert [job["track"] for job in response.json()["results"]] == [first.pk]


def test_admin_actions_queue_tracks_and_whole_datasets(client):
    client.force_login(make_user("curator", staff=True, curator=True))
    dataset = make_dataset()
    one, two = make_track(dataset, title="one"), make_track(dataset, title="two", data=audio_bytes(fmt="FLAC"))

    response = client.post(
        "/admin/catalog/track/", {"action": "extract_tracks", "_selected_action": [one.pk]}, follow=True
    )
    assert "Extraction queued for 1 track(s)." in response.text
    assert list(ExtractionJob.objects.values_list("track", flat=True)) == [one.pk]

    response = client.post(
        "/admin/catalog/dataset/", {"action": "extract_datasets", "_selected_action": [dataset.pk]}, follow=True
    )
    assert "Extraction queued for 2 track(s)." in response.text
    assert sorted(ExtractionJob.objects.values_list("track", flat=True)) == [one.pk, two.pk]  # one joined, not doubled


def test_job_admin_shows_progress(client):
    client.force_login(make_user("admin", superuser=True))
    ExtractionJob.objects.create(track=make_track(), status=ExtractionJob.Status.RUNNING, progress=42.0)
    response = client.get("/admin/analysis/extractionjob/")
    assert '<progress max="100" value="42.0"' in response.text
