"""Duplicates across datasets: reported at upload (exact), found after extraction (near),
listed for curators and decided (keep both, merge) through the API and the admin."""

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient
from scipy.signal import resample_poly

from analysis.models import ExtractionJob, TrackEmbedding
from catalog.duplicates import NEAR_CANDIDATES_PER_LAYER, find_near_duplicates, near_duplicate_threshold
from catalog.intake import ingest_upload
from catalog.models import Track, TrackDuplicate
from tests.factories import (
    assert_json_error, audio_bytes, curator_client, make_dataset, make_track, make_user, noise,
    run_queued_extraction, token_for, tone, upload_tone,
)
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db

DUPLICATES_URL = "/api/v1/duplicates/"


def seeded_signal(seed, seconds=12.0):
    """upload_tone's signal, at 22,050 Hz."""
    return tone(seconds=seconds, freq=220 + 50 * seed) + noise(seconds=seconds, seed=seed)


def api_upload(client, dataset, data, name="tone.wav"):
    return client.post(
        "/api/v1/tracks/", {"file": SimpleUploadedFile(name, data), "dataset": dataset.slug}, format="multipart"
    )


def exact_pair():
    """The same bytes in two datasets: the second upload is accepted and paired."""
    data = audio_bytes(tone(seconds=3.0))
    older = ingest_upload(make_dataset("First"), SimpleUploadedFile("a.wav", data))
    newer = ingest_upload(make_dataset("Second"), SimpleUploadedFile("b.wav", data), title="The copy")
    return TrackDuplicate.objects.get(track=newer, of_track=older)


# --- Exact duplicates, at upload ----------------------------------------------------


def test_the_same_file_in_another_dataset_is_accepted_and_names_the_existing_track():
    client = curator_client()
    data = audio_bytes(tone(seconds=3.0))
    first = api_upload(client, make_dataset("First"), data)
    assert first.status_code == 201, first.content
    assert first.json()["same_audio_as"] == []

    second = api_upload(client, make_dataset("Second"), data)

    assert second.status_code == 201, second.content
    [same] = second.json()["same_audio_as"]
    assert same["id"] == first.json()["id"] and same["dataset"] == "first"
    assert same["url"].endswith(f"/api/v1/tracks/{first.json()['id']}/")
    pair = TrackDuplicate.objects.get()
    assert (pair.track_id, pair.of_track_id, pair.kind, pair.score, pair.decision) == (
        second.json()["id"], first.json()["id"], "exact", 1.0, "pending"
    )


def test_the_same_file_in_the_same_dataset_is_still_refused():
    client = curator_client()
    dataset = make_dataset("First")
    data = audio_bytes(tone(seconds=3.0))
    api_upload(client, dataset, data)
    error = assert_json_error(api_upload(client, dataset, data, name="again.wav"), 409, "duplicate")
    assert error["existing"]["id"] == Track.objects.get().pk
    assert not TrackDuplicate.objects.exists()


def test_the_admin_upload_page_names_the_track_with_the_same_audio(client):
    data = audio_bytes(tone(seconds=3.0))
    existing = ingest_upload(make_dataset("First"), SimpleUploadedFile("a.wav", data), title="The original")
    second = make_dataset("Second")
    client.force_login(make_user("curator", staff=True, curator=True))

    response = client.post(
        reverse("admin:catalog_track_upload"),
        {"dataset": second.pk, "files": [SimpleUploadedFile("copy.wav", data)]},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Same audio as" in page and "The original" in page
    assert reverse("admin:catalog_track_change", args=[existing.pk]) in page
    assert Track.objects.filter(dataset=second).count() == 1


# --- Near duplicates, after extraction ----------------------------------------------


def test_a_resampled_trimmed_copy_is_found_after_extraction_and_a_different_track_is_not():
    original = upload_tone(make_dataset("First"), "original.wav", seed=0)
    run_queued_extraction(original)
    other = upload_tone(make_dataset("Others"), "other.wav", seed=2)
    run_queued_extraction(other)
    # The same recording resampled to 24 kHz, trimmed by 1 s at the start and 0.5 s at the end, as FLAC.
    copy_signal = resample_poly(seeded_signal(0), 160, 147)[24000:-12000]
    copy = ingest_upload(
        make_dataset("Second"), SimpleUploadedFile("copy.flac", audio_bytes(copy_signal, 24000, "FLAC"))
    )
    assert copy.same_audio_as == []  # other bytes: no exact pair
    run_queued_extraction(copy)

    [pair] = TrackDuplicate.objects.all()
    space = ExtractionJob.objects.get(track=copy).space
    assert (pair.track_id, pair.of_track_id, pair.kind) == (copy.pk, original.pk, "near")
    assert near_duplicate_threshold(space) <= pair.score <= 1.0
    # Searched again from the other side, the different track still has no near duplicate.
    assert find_near_duplicates(other, space) == []
    assert TrackDuplicate.objects.count() == 1


def test_tracks_with_the_same_bytes_are_never_paired_as_near_duplicates():
    pair = exact_pair()
    run_queued_extraction(pair.of_track)
    run_queued_extraction(pair.track)
    assert TrackEmbedding.objects.filter(track=pair.track).exists()
    [kept] = TrackDuplicate.objects.all()
    assert (kept.kind, kept.score) == ("exact", 1.0)



def test_a_silent_track_is_no_near_duplicate_of_anything():
    """All-zero vectors have no cosine (pgvector: NaN, which PostgreSQL ranks above every number)."""
    space = make_space(num_layers=2, dim=4)
    silent, also_silent, sound, same_sound = (
        make_track(make_dataset(f"D{i}"), data=audio_bytes(tone(seconds=1.0 + i / 10))) for i in range(4)
    )
    for track, vector in ((silent, [0, 0, 0, 0]), (also_silent, [0, 0, 0, 0]), (sound, [1, 2, 0, 0]),
                          (same_sound, [2, 4, 0, 0])):  # fmt: skip
        TrackEmbedding.objects.bulk_create(
            TrackEmbedding(track=track, space=space, layer=layer, vector=vector) for layer in range(2)
        )
    assert find_near_duplicates(silent, space) == []
    [(found, score)] = find_near_duplicates(same_sound, space)
    assert found == sound.pk and score == pytest.approx(1.0)
    assert TrackDuplicate.objects.get().track_id == same_sound.pk

def test_a_near_copy_is_found_among_more_tracks_than_each_layer_searches():
    """Candidates come from each layer's nearest tracks, not a scan: the copy must still be among them."""
    space = make_space(num_layers=3, dim=8)
    rng = np.random.default_rng(5)
    count = 3 * NEAR_CANDIDATES_PER_LAYER
    dataset = make_dataset()
    tracks = [make_track(dataset, sha256=f"{i:064x}") for i in range(count + 1)]
    vectors = rng.normal(size=(count, 3, 8))
    copy_vectors = vectors[7] + rng.normal(scale=0.01, size=(3, 8))  # track 7, re-encoded
    TrackEmbedding.objects.bulk_create(
        TrackEmbedding(track=track, space=space, layer=layer, vector=list(map(float, layers[layer])))
        for track, layers in zip(tracks, [*vectors, copy_vectors])
        for layer in range(3)
    )
    [(found, score)] = find_near_duplicates(tracks[-1], space)
    assert found == tracks[7].pk and score > near_duplicate_threshold(space)


# --- The API: list, keep, merge -----------------------------------------------------


def test_only_curators_see_and_decide_duplicates():
    pair = exact_pair()
    anonymous, listener = APIClient(), APIClient()
    listener.credentials(HTTP_AUTHORIZATION=f"Token {token_for(make_user('listener'))}")
    for url in (DUPLICATES_URL, f"{DUPLICATES_URL}{pair.pk}/keep/", f"{DUPLICATES_URL}{pair.pk}/merge/"):
        method = anonymous.get if url == DUPLICATES_URL else anonymous.post
        assert_json_error(method(url), 401, "not_authenticated")
        method = listener.get if url == DUPLICATES_URL else listener.post
        assert_json_error(method(url), 403, "permission_denied")
    pair.refresh_from_db()
    assert pair.decision == "pending" and Track.objects.count() == 2


def test_curators_list_pending_pairs_and_keep_both():
    pair = exact_pair()
    client = curator_client()

    listed = client.get(DUPLICATES_URL, {"decision": "pending"})
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["id"], row["kind"], row["track"]["id"], row["of_track"]["id"]) == (
        pair.pk, "exact", pair.track_id, pair.of_track_id
    )

    kept = client.post(f"{DUPLICATES_URL}{pair.pk}/keep/")
    assert kept.status_code == 200 and kept.json()["decision"] == "kept" and kept.json()["decided_at"]
    assert Track.objects.count() == 2
    assert client.get(DUPLICATES_URL, {"decision": "pending"}).json()["results"] == []
    assert_json_error(client.post(f"{DUPLICATES_URL}{pair.pk}/keep/"), 409, "already_decided")
    assert_json_error(client.post(f"{DUPLICATES_URL}{pair.pk}/merge/"), 409, "already_decided")
    assert_json_error(client.post(f"{DUPLICATES_URL}999999/keep/"), 404, "not_found")


def test_merge_keeps_the_older_track_and_deletes_the_newer_with_its_files(django_capture_on_commit_callbacks):
    first, second, third = make_dataset("First"), make_dataset("Second"), make_dataset("Third")
    older = make_track(first, data=audio_bytes(tone(seconds=2.0, freq=330)), title="Older", composer="")
    newer = make_track(
        second, data=audio_bytes(tone(seconds=2.5, freq=330)), title="Newer", composer="Bach", year=1720
    )
    youngest = make_track(third, data=audio_bytes(tone(seconds=3.0, freq=330)), title="Youngest")
    pair = TrackDuplicate.objects.create(track=newer, of_track=older, kind="near", score=0.997)
    # A third copy paired with the newer track moves to the older one.
    TrackDuplicate.objects.create(track=youngest, of_track=newer, kind="near", score=0.995)
    assert default_storage.exists(newer.audio_path)

    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client().post(f"{DUPLICATES_URL}{pair.pk}/merge/")

    assert response.status_code == 200, response.content
    assert response.json()["kept"]["id"] == older.pk and response.json()["deleted_id"] == newer.pk
    assert not Track.objects.filter(pk=newer.pk).exists()
    assert not default_storage.exists(newer.audio_path)
    assert default_storage.exists(older.audio_path)
    older.refresh_from_db()
    assert (older.title, older.composer, older.year) == ("Older", "Bach", 1720)  # blanks filled, title kept
    [moved] = TrackDuplicate.objects.all()
    assert (moved.track_id, moved.of_track_id, moved.score, moved.decision) == (youngest.pk, older.pk, 0.995, "pending")


def test_merging_an_exact_pair_keeps_the_shared_audio_file(django_capture_on_commit_callbacks):
    pair = exact_pair()
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client().post(f"{DUPLICATES_URL}{pair.pk}/merge/")
    assert response.status_code == 200
    remaining = Track.objects.get()
    assert remaining.pk == pair.of_track_id
    assert default_storage.exists(remaining.audio_path)  # the same bytes: still referenced


# --- The admin and the track page ---------------------------------------------------


def test_admin_actions_keep_and_merge(client):
    kept_pair = exact_pair()
    a, b = make_dataset("Third"), make_dataset("Fourth")
    older = make_track(a, data=audio_bytes(tone(seconds=2.0, freq=500)))
    newer = make_track(b, data=audio_bytes(tone(seconds=2.2, freq=500)))
    merged_pair = TrackDuplicate.objects.create(track=newer, of_track=older, kind="near", score=0.999)
    client.force_login(make_user("curator", staff=True, curator=True))
    url = reverse("admin:catalog_trackduplicate_changelist")

    listing = client.get(url)
    assert listing.status_code == 200
    assert "Merge the selected pairs" in listing.content.decode()

    client.post(url, {"action": "keep_both", "_selected_action": [kept_pair.pk]})
    kept_pair.refresh_from_db()
    assert kept_pair.decision == "kept"
    client.post(url, {"action": "merge", "_selected_action": [merged_pair.pk, kept_pair.pk]}, follow=True)
    assert not Track.objects.filter(pk=newer.pk).exists() and Track.objects.filter(pk=older.pk).exists()
    assert Track.objects.filter(pk=kept_pair.track_id).exists()  # decided already: skipped


def test_staff_without_the_curator_permissions_cannot_open_the_duplicates_admin(client):
    exact_pair()
    client.force_login(make_user("staff", staff=True))
    assert client.get(reverse("admin:catalog_trackduplicate_changelist")).status_code == 403


def test_the_track_page_tells_curators_about_its_duplicates(client):
    pair = exact_pair()
    page_url = reverse("catalog:track-detail", args=[pair.track_id])
    assert "Same audio as" not in client.get(page_url).content.decode()  # listeners: no notice
    client.force_login(make_user("curator", staff=True, curator=True))
    page = client.get(page_url).content.decode()
    assert "Same audio as" in page and pair.of_track.get_absolute_url() in page


def test_the_schema_documents_the_duplicates_operations_and_the_upload_report():
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/duplicates/"]["get"]["responses"]) >= {"200", "401", "403"}
    for decision in ("keep", "merge"):
        assert set(paths[f"/api/v1/duplicates/{{id}}/{decision}/"]["post"]["responses"]) >= {
            "200", "401", "403", "404", "409"
        }
    upload = paths["/api/v1/tracks/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert "same_audio_as" in schema["components"]["schemas"][upload.rsplit("/", 1)[1]]["properties"]
