"""Search by clip through the API, end to end with the tiny MERT-shaped checkpoint: catalogue
tracks and the clip are embedded in-process by the same code a worker runs."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.extraction import run_clip_query
from catalog.models import Track
from tests.factories import (
    audio_bytes, make_dataset, make_user, noise, run_queued_extraction, token_for, tone, upload_tone,
)
from tests.test_recommendations_api import assert_error

# Transactions: the passage index is built on its own connection.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_tiny_mert")]

CLIPS = "/api/v1/search/clip/"
SAMPLE_RATE = 22050  # of tests.factories' signals


@pytest.fixture
def catalogue():
    """Three 12 s tracks, each a different tone over different noise, embedded."""
    dataset = make_dataset()
    tracks = [upload_tone(dataset, f"track-{seed}.wav", seconds=12.0, seed=seed) for seed in range(3)]
    for track in tracks:
        run_queued_extraction(track)
        track.refresh_from_db()
        assert track.status == Track.Status.READY, track.error
    return tracks


def cut(seed, start, end):
    """Seconds start-end of the audio `upload_tone(..., seconds=12.0, seed=seed)` made."""
    signal = tone(seconds=12.0, freq=220 + 50 * seed) + noise(seconds=12.0, seed=seed)
    return audio_bytes(signal[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)])


def post_clip(client, data, name="clip.wav", **headers):
    return client.post(CLIPS, {"file": SimpleUploadedFile(name, data)}, **headers)


@pytest.fixture
def listener(client):
    user = make_user("listener")
    client.force_login(user)
    return user


def test_a_clip_cut_from_a_track_finds_that_track_and_its_passage(client, listener, catalogue):
    source = catalogue[1]
    response = post_clip(client, cut(1, 2.5, 9.5))
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["similar"] is None and queued["passages"] is None
    assert queued["url"].endswith(f"{CLIPS}{queued['id']}/")

    pending = client.get(queued["url"]).json()
    assert pending["status"] == "queued" and pending["similar"] is None

    run_clip_query(queued["id"])  # what the ml worker does
    response = client.get(queued["url"], {"layer": 2, "k": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded" and body["error"] == ""
    similar = body["similar"]
    assert [r["track"]["id"] for r in similar["results"]][0] == source.pk
    assert sorted(r["track"]["id"] for r in similar["results"]) == sorted(t.pk for t in catalogue)  # nothing excluded
    assert similar["layers"] == [{"layer": 2, "weight": 1.0}]
    best = body["passages"]["results"][0]
    assert best["track"]["id"] == source.pk
    # The clip's windows lie at 2.5-7.5 s and 4.5-9.5 s of the track: its windows at 2.5 and 5 s are closest.
    assert best["start"] in (2.5, 5.0)
    assert len(body["passages"]["results"]) == 3  # one per track by default


def test_the_same_parameters_as_similar_tracks_apply(client, listener, catalogue):
    clip_id = post_clip(client, cut(0, 0, 6)).json()["id"]
    run_clip_query(clip_id)
    body = client.get(f"{CLIPS}{clip_id}/", {"aspect": "brightness", "k": 1, "per_track": "false"}).json()
    assert len(body["similar"]["results"]) == 1 and body["similar"]["description"].startswith("brightness (layers 0, 1, 2")
    assert len(body["passages"]["results"]) == 1
    assert_error(client.get(f"{CLIPS}{clip_id}/", {"k": 0}), 400, "bad_k")
    assert_error(client.get(f"{CLIPS}{clip_id}/", {"aspect": "loudness"}), 400, "unknown_aspect")
    assert_error(client.get(f"{CLIPS}{clip_id}/", {"dataset": "nope"}), 400, "unknown_dataset")
    assert_error(client.get(f"{CLIPS}{clip_id}/", {"diversity": "lots"}), 400, "invalid")


def test_a_token_works_too_and_anonymous_clients_are_refused(client):
    data = audio_bytes(tone(seconds=3.0))
    assert_error(post_clip(client, data), 401, "not_authenticated")
    user = make_user("third-party")
    response = post_clip(client, data, HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    assert response.status_code == 202, response.content
    assert_error(client.get(response.json()["url"]), 401, "not_authenticated")


def test_bad_audio_is_400_with_the_reason(client, listener, settings):
    settings.MESS_CLIP_MAX_SECONDS = 5
    error = assert_error(post_clip(client, audio_bytes(tone(seconds=8.0))), 400, "too_long")
    assert "at most 5 s" in error["message"]
    assert_error(post_clip(client, b"just some text, not audio", name="notes.wav"), 400, "not_audio")
    assert_error(client.post(CLIPS, {}), 400, "invalid")


def test_only_the_owner_and_staff_see_a_clip(client, listener):
    url = post_clip(client, audio_bytes(tone(seconds=3.0))).json()["url"]
    client.force_login(make_user("someone-else"))
    assert_error(client.get(url), 404, "not_found")
    client.force_login(make_user("admin", staff=True))
    assert client.get(url).status_code == 200
