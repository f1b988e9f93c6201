"""Radio: from a seed track, a passage or a clip, no repeats and no copies of a heard
recording, caps, variance, determinism by seed, filters; and its API with sessions.

Tracks lie on a circle in a 4-dimensional layer (at an angle from the seed's direction,
e0), so which track is near which can be read off the angles."""

import math
import time

import numpy as np
import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analysis.embeddings import save_window_features, store_track_embeddings
from analysis.models import ClipQuery, EmbeddingSpace
from catalog.models import Track, TrackDuplicate
from recommendations.listening import radio as radio_module
from recommendations.listening.candidates import POOL
from recommendations.listening.radio import Seed, radio
from recommendations.listening.rules import Caps, violations, with_copies
from recommendations.recommender import RecommendationError, scored_candidates, similar_tracks
from tests.factories import assert_json_error, audio_bytes, make_dataset, make_track, make_user, token_for, tone
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db

NO_CAPS = Caps(window=1)  # a window of one track counts nothing before it
_freq = iter(range(300, 20000, 7))


def unit(degrees, plane=1):
    """A unit vector at `degrees` from e0, turning towards e_plane."""
    vector = np.zeros(4, dtype=np.float32)
    vector[0], vector[plane] = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return vector


def add(space, dataset, title, vectors, data=None, windows=None, tags=None, **fields):
    """A track (its own audio unless `data`) whose every layer is `vectors` (one [dim] vector
    for all layers) or one vector per layer; `windows`: per-window vectors for passages."""
    data = data if data is not None else audio_bytes(tone(seconds=0.1, freq=next(_freq)))
    fields.setdefault("composer", title)  # each its own composer: no cap applies unless a test says so
    track = make_track(dataset, data=data, title=title, **fields)
    layers = np.stack([vectors] * space.num_layers) if np.ndim(vectors) == 1 else np.asarray(vectors)
    windows = layers[None] if windows is None else np.stack([np.stack([w] * space.num_layers) for w in windows])
    store_track_embeddings(track, space, track_mean=layers, window_means=windows,
                           window_starts=[5.0 * i for i in range(len(windows))], tags=tags)
    return track


@pytest.fixture
def space():
    return make_space("radio", num_layers=2)


@pytest.fixture
def dataset():
    return make_dataset("Radio", slug="radio")


@pytest.fixture
def circle(space, dataset):
    """The seed at 0 degrees, tracks every 25 degrees on both sides, by title: "+25", "-25", ..."""
    tracks = {"seed": add(space, dataset, "seed", unit(0))}
    for angle in range(25, 176, 25):
        for sign in (1, -1):
            tracks[f"{sign * angle:+d}"] = add(space, dataset, f"{sign * angle:+d}", unit(sign * angle))
    return tracks


def titles(found):
    return [r.track.title for r in found.results]


def angles(found):
    return [abs(int(title)) for title in titles(found)]


def test_never_the_seed_nor_a_played_track_and_never_twice(circle):
    played = [circle["+25"].pk, circle["-50"].pk]
    found = radio(Seed(circle["seed"]), layer=0, count=12, played=played, caps=NO_CAPS, random_seed=3)
    assert len(found.results) == 12 and len(set(titles(found))) == 12
    assert not {"seed", "+25", "-50"} & set(titles(found))
    # 15 tracks less the seed and 2 played leave 12: asking for more ends the radio there.
    more = radio(Seed(circle["seed"]), layer=0, count=13, played=played, caps=NO_CAPS, random_seed=3)
    assert len(more.results) == 12 and more.exhausted and not found.exhausted


def test_copies_of_a_heard_recording_never_come_by_pair_or_by_same_audio(space, dataset, circle):
    other = make_dataset("Elsewhere", slug="elsewhere")
    seed_audio = audio_bytes(tone(seconds=0.1, freq=110))
    seed = add(space, other, "seed copy", unit(1), data=seed_audio)
    same_audio = add(space, dataset, "same audio as the seed", unit(2), data=seed_audio)  # equal sha256
    paired = add(space, dataset, "paired with the seed", unit(3))
    TrackDuplicate.objects.create(track=paired, of_track=seed, kind="near", score=0.99, decision="kept")
    played_twin = add(space, dataset, "twin of a played track", unit(4))
    TrackDuplicate.objects.create(track=played_twin, of_track=circle["+25"], kind="near", score=0.99)
    near_twin = add(space, dataset, "twin of -25", unit(-24))  # near the seed: radio reaches -25 first
    TrackDuplicate.objects.create(track=near_twin, of_track=circle["-25"], kind="near", score=0.98)
    found = radio(Seed(seed), layer=0, count=20, played=[circle["+25"].pk], caps=NO_CAPS)
    served = titles(found)
    assert "-25" in served and served.index("-25") < 5
    assert not {"same audio as the seed", "paired with the seed", "twin of a played track", "twin of -25"} & set(served)
    # Similar tracks, which knows nothing of copies, puts the three copies among the four nearest.
    plain = similar_tracks(seed, layer=0, k=4)
    assert set(titles(plain)) == {"same audio as the seed", "paired with the seed", "twin of a played track", "seed"}


def test_each_track_costs_one_candidate_search_which_brings_the_copies_of_the_pick(space, circle, settings):
    settings.MESS_FAISS_ENABLED = False  # pgvector answers: the same queries every time
    seed = circle["seed"]

    def queries(call):
        with CaptureQueriesContext(connection) as captured:
            call()
        return len(captured)

    search = queries(lambda: scored_candidates(space, {0: unit(0)}, {0: 1.0}, POOL, None, {seed.pk},
                                               with_copies(Track.objects)))
    one = queries(lambda: radio(Seed(seed), layer=0, count=1, caps=NO_CAPS))
    six = queries(lambda: radio(Seed(seed), layer=0, count=6, caps=NO_CAPS))
    assert six - one == 5 * search


def test_caps_per_composer_work_album_and_dataset_hold_in_every_window(space, dataset):
    seed = add(space, dataset, "seed", unit(0))
    other = make_dataset("Other", slug="other")
    # The nearest tracks share a composer, a work, an album or a dataset, in that order of closeness.
    for i in range(6):
        add(space, dataset, f"bach {i}", unit(1 + i), composer="Bach")
        add(space, dataset, f"bwv 846 {i}", unit(-1 - i), composer="Bach II", work="BWV 846")
        add(space, dataset, f"album {i}", unit(10 + i), album="Kind of Blue")
        add(space, other, f"other {i}", unit(-10 - i))
    for i in range(20):
        add(space, dataset, f"filler {i}", unit(30 + 3 * i, plane=2))
    caps = Caps(window=5, max_per_composer=2, max_per_work=1, max_per_album=1, max_per_dataset=3)
    found = radio(Seed(seed), layer=0, count=20, caps=caps)
    tracks = [seed] + [r.track for r in found.results]
    assert violations(caps, tracks) == []
    # Two in any five from the other dataset: its six tracks last 17 (the seed is in the first five).
    assert len(found.results) == 17 and found.exhausted
    # The same radio without caps breaks each of them.
    free = radio(Seed(seed), layer=0, count=17, caps=Caps(window=5, max_per_composer=None, max_per_work=None,
                                                            max_per_album=None, max_per_dataset=None))
    broken = {name for _, name in violations(caps, [seed] + [r.track for r in free.results])}
    assert broken == {"max_per_composer", "max_per_work", "max_per_album", "max_per_dataset"}


def test_variance_zero_stays_near_the_seed_and_one_follows_the_last_track(circle):
    for random_seed in range(5):
        near = radio(Seed(circle["seed"]), layer=0, count=4, variance=0, caps=NO_CAPS, random_seed=random_seed)
        assert sorted(angles(near)) == [25, 25, 50, 50]
        wander = radio(Seed(circle["seed"]), layer=0, count=4, variance=1, caps=NO_CAPS, random_seed=random_seed)
        assert angles(wander) == [25, 50, 75, 100]  # one way round, each step next to the last


def test_a_track_played_twice_counts_where_it_was_played_last(circle):
    played = [circle["+25"].pk, circle["-50"].pk, circle["+25"].pk]
    following = radio(Seed(circle["seed"]), layer=0, count=1, played=played, variance=1, caps=NO_CAPS)
    assert titles(following) == ["+50"]  # next to +25, the last played, not to -50


def test_the_same_seed_gives_the_same_radio_and_another_seed_another(space, dataset):
    seed = add(space, dataset, "seed", unit(0))
    for i in range(30):  # many tracks nearly as close: the draw among the best decides
        add(space, dataset, f"t{i}", unit(20 + 0.1 * i, plane=1 + i % 3))
    runs = {s: titles(radio(Seed(seed), layer=0, count=10, random_seed=s, caps=NO_CAPS)) for s in (1, 1, 2, 3)}
    assert runs[1] == titles(radio(Seed(seed), layer=0, count=10, random_seed=1, caps=NO_CAPS))
    assert len({tuple(run) for run in runs.values()}) == 3
    # Ten at once are what ten requests of one give, each sending the tracks before it.
    played = []
    for _ in range(10):
        [next_one] = radio(Seed(seed), layer=0, count=1, played=played, random_seed=1, caps=NO_CAPS).results
        played.append(next_one.track.pk)
    assert played == [
        r.track.pk for r in radio(Seed(seed), layer=0, count=10, random_seed=1, caps=NO_CAPS).results
    ]


def test_filters_by_dataset_tags_and_duration(space, dataset):
    seed = add(space, dataset, "seed", unit(0))
    other = make_dataset("Other", slug="other")
    add(space, other, "elsewhere", unit(5))
    add(space, dataset, "piano", unit(10), tags={"piano": 0.9, "strings": 0.1})
    add(space, dataset, "long piano", unit(15), tags={"piano": 0.8, "strings": 0.0}, duration=300)
    add(space, dataset, "strings", unit(20), tags={"piano": 0.0, "strings": 0.9})

    def served(**filters):
        return set(titles(radio(Seed(seed), layer=0, count=10, caps=NO_CAPS, **filters)))

    assert served() == {"elsewhere", "piano", "long piano", "strings"}
    assert served(dataset="other") == {"elsewhere"}
    assert served(tags=["piano"]) == {"piano", "long piano"}
    assert served(tags=["piano"], max_duration=60) == {"piano"}
    assert served(min_duration=100) == {"long piano"}
    assert served(dataset="radio", tags=["strings"]) == {"strings"}
    assert served(dataset="other", min_duration=100) == set()  # nothing matches: an empty radio


def test_a_passage_seeds_the_radio_with_its_own_windows(space, dataset):
    # The seed's first 5 s sound like direction e1, its next 5 s like e2.
    seed = add(space, dataset, "seed", unit(45), windows=[unit(90, plane=1), unit(90, plane=2)], duration=10)
    add(space, dataset, "like the opening", unit(85, plane=1))
    add(space, dataset, "like the second part", unit(85, plane=2))
    first = radio(Seed(seed, start=0, end=4), layer=0, count=1, caps=NO_CAPS)
    second = radio(Seed(seed, start=6, end=9), layer=0, count=1, caps=NO_CAPS)
    assert titles(first) == ["like the opening"] and titles(second) == ["like the second part"]


@pytest.mark.parametrize("options, code", [
    (dict(count=0), "bad_count"),
    (dict(count=51), "bad_count"),
    (dict(variance=1.5), "bad_variance"),
    (dict(played=list(range(1, 502))), "bad_played"),
    (dict(random_seed=-1), "bad_seed"),
    (dict(min_duration=-1), "bad_duration"),
    (dict(min_duration=20, max_duration=10), "bad_duration"),
    (dict(caps=Caps(window=0)), "bad_cap"),
    (dict(caps=Caps(max_per_work=0)), "bad_cap"),
    (dict(aspect="loudness"), "unknown_aspect"),
    (dict(layer=9), "layer_out_of_range"),
    (dict(dataset="nope"), "unknown_dataset"),
    (dict(tags=["nope"]), "unknown_tag"),
])
def test_invalid_requests_name_their_problem(circle, options, code):
    with pytest.raises(RecommendationError) as caught:
        radio(Seed(circle["seed"]), **options)
    assert caught.value.code == code


# --- API ------------------------------------------------------------------------------


def client_of(user=None):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def test_get_radio_answers_with_the_seed_and_why_each_track(circle):
    played = f"{circle['+25'].pk},{circle['-25'].pk}"
    response = APIClient().get("/api/v1/radio/", {"track": circle["seed"].pk, "layer": 0, "count": 3,
                                                  "played": played, "seed": 7, "window": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["seed"]["id"] == circle["seed"].pk and body["seed"]["title"] == "seed"
    assert body["random_seed"] == 7 and body["exhausted"] is False and body["clip"] is None
    assert body["space"]["name"] == "radio" and body["layers"] == [{"layer": 0, "weight": 1.0}]
    assert [r["track"]["title"] for r in body["results"]] and len(body["results"]) == 3
    first = body["results"][0]
    assert set(first["track"]) == {"id", "title", "composer", "work", "dataset", "url", "audio_url"}
    assert first["layers"][0]["layer"] == 0 and first["layers"][0]["cosine"] == pytest.approx(first["score"])
    assert first["explanation"].startswith("Similar at layer 0: cosine")
    assert not {"+25", "-25", "seed"} & {r["track"]["title"] for r in body["results"]}
    again = APIClient().get("/api/v1/radio/", {"track": circle["seed"].pk, "layer": 0, "count": 3,
                                               "played": played, "seed": 7, "window": 1})
    assert again.json()["results"] == body["results"]


@pytest.mark.parametrize("query, status, code", [
    ({"count": 0}, 400, "bad_count"),
    ({"count": "ten"}, 400, "invalid"),
    ({"variance": 2}, 400, "bad_variance"),
    ({"played": "1,two"}, 400, "invalid"),
    ({"played": ",".join(map(str, range(1, 502)))}, 400, "bad_played"),
    ({"aspect": "loudness"}, 400, "unknown_aspect"),
    ({"aspect": "timbre", "layer": 0}, 400, "conflicting_parameters"),
    ({"max_per_composer": 0}, 400, "bad_cap"),
    ({"max_duration": -3}, 400, "bad_duration"),
    ({"start": 0}, 400, "bad_span"),
    ({"track": None}, 400, "missing_seed"),
    ({"track": 999999}, 404, "not_found"),
    ({"clip": 999999, "track": None}, 404, "not_found"),
])
def test_radio_refuses_bad_requests_with_their_code(circle, query, status, code):
    query = {"track": circle["seed"].pk, **query}
    query = {name: value for name, value in query.items() if value is not None}
    assert_json_error(APIClient().get("/api/v1/radio/", query), status, code)


def test_a_clip_seeds_a_radio_for_its_owner_and_staff_only(space, circle):
    owner, stranger = make_user("owner"), make_user("stranger")
    windows = np.stack([np.stack([unit(60)] * 2)])
    clip = ClipQuery.objects.create(owner=owner, original_name="hum.wav", duration=2, space=space,
                                    features_path=save_window_features("clips", windows), status="succeeded")
    response = client_of(owner).get("/api/v1/radio/", {"clip": clip.pk, "layer": 0, "count": 2, "window": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["seed"] is None and body["clip"] == clip.pk
    # Drawn among the nearest to 60 degrees: +50 and +75, then +25 or +100.
    assert {r["track"]["title"] for r in body["results"]} <= {"+25", "+50", "+75", "+100"}
    staff = make_user("staff", staff=True)
    assert client_of(staff).get("/api/v1/radio/", {"clip": clip.pk, "layer": 0}).status_code == 200
    assert_json_error(client_of(stranger).get("/api/v1/radio/", {"clip": clip.pk}), 404, "not_found")
    assert_json_error(APIClient().get("/api/v1/radio/", {"clip": clip.pk}), 404, "not_found")


def test_a_session_serves_its_tracks_once_and_remembers_them(circle):
    client = APIClient()
    created = client.post("/api/v1/radio/", {"track": circle["seed"].pk, "layer": 0, "count": 3, "window": 1},
                          format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["id"]) >= 20 and body["url"].endswith(f"/api/v1/radio/{body['id']}/")
    assert body["next"].endswith(f"/api/v1/radio/{body['id']}/next/") and body["expires_at"]
    served = [r["track"]["id"] for r in body["results"]]
    for _ in range(3):
        step = client.post(body["next"], {"count": 4}, format="json")
        assert step.status_code == 200, step.content
        served += [r["track"]["id"] for r in step.json()["results"]]
    assert len(served) == 14 == len(set(served)) and circle["seed"].pk not in served  # all 14 others, once each
    last = client.post(body["next"], {"count": 2}, format="json").json()
    assert last["results"] == [] and last["exhausted"] is True
    state = client.get(body["url"]).json()
    assert state["played"] == served and state["parameters"]["track"] == circle["seed"].pk
    assert state["parameters"]["random_seed"] == body["random_seed"]
    assert_json_error(client.post(body["next"], {"count": 0}, format="json"), 400, "bad_count")


def test_a_session_reads_its_seeds_vectors_again_only_once_the_space_changes(space, circle, monkeypatch):
    reads = []
    read_seed = radio_module.seed_vectors
    monkeypatch.setattr(radio_module, "seed_vectors", lambda *args: reads.append(args) or read_seed(*args))
    client = APIClient()
    start = {"track": circle["seed"].pk, "layer": 0, "window": 1}
    body = client.post("/api/v1/radio/", {**start, "count": 2}, format="json").json()
    step = client.post(body["next"], {"count": 2}, format="json").json()
    assert len(reads) == 1
    # The same tracks as a radio that reads the seed afresh.
    played = ",".join(str(r["track"]["id"]) for r in body["results"])
    fresh = client.get("/api/v1/radio/", {**start, "count": 2, "seed": body["random_seed"], "played": played}).json()
    assert step["results"] == fresh["results"] and len(reads) == 2
    EmbeddingSpace.objects.filter(pk=space.pk).update(version=F("version") + 1)
    assert client.post(body["next"], {"count": 2}, format="json").status_code == 200
    assert len(reads) == 3


def test_a_signed_in_users_session_is_theirs_and_an_anonymous_one_is_a_capability(circle):
    alice, bob = make_user("alice"), make_user("bob")
    start = {"track": circle["seed"].pk, "layer": 0, "count": 1}
    mine = client_of(alice).post("/api/v1/radio/", start, format="json").json()
    assert client_of(alice).get(mine["url"]).status_code == 200
    for stranger in (client_of(bob), APIClient()):
        assert_json_error(stranger.get(mine["url"]), 404, "not_found")
        assert_json_error(stranger.post(mine["next"], {}, format="json"), 404, "not_found")
    anonymous = APIClient().post("/api/v1/radio/", start, format="json").json()
    assert client_of(bob).post(anonymous["next"], {"count": 1}, format="json").status_code == 200
    assert_json_error(APIClient().get("/api/v1/radio/not-a-session/"), 404, "not_found")


def test_a_session_expires(circle, settings):
    settings.MESS_RADIO_SESSION_SECONDS = 1
    client = APIClient()
    body = client.post("/api/v1/radio/", {"track": circle["seed"].pk, "layer": 0, "count": 1}, format="json").json()
    assert client.post(body["next"], {"count": 1}, format="json").status_code == 200  # renews it
    time.sleep(1.5)
    assert_json_error(client.post(body["next"], {"count": 1}, format="json"), 404, "not_found")
    assert_json_error(client.get(body["url"]), 404, "not_found")


def test_a_session_refuses_to_start_with_a_bad_request(circle):
    response = APIClient().post("/api/v1/radio/", {"track": circle["seed"].pk, "variance": -1}, format="json")
    assert_json_error(response, 400, "bad_variance")
    assert_json_error(APIClient().post("/api/v1/radio/", {"track": 999999}, format="json"), 404, "not_found")
