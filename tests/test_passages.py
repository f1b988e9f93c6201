"""Similar passages on hand-made window vectors: the 3-layer, 4-dimensional test space with
5 s windows every 2.5 s, every window's vector chosen so the right answer reads off."""

import math
import threading
import time

import numpy as np
import pytest

from analysis.embeddings import store_track_embeddings
from recommendations import passages as passage_indices
from recommendations.passages import similar_passages
from recommendations.recommender import RecommendationError
from tests.factories import make_dataset
from tests.test_recommendations_api import assert_error
from tests.test_recommender import make_space, track

pytestmark = pytest.mark.django_db(transaction=True)  # passage indices are built on their own connection

E0, E1, E2, E3 = np.eye(4, dtype=np.float32)
STARTS = [0.0, 2.5, 5.0, 7.5, 10.0]  # a 15 s track's windows


@pytest.fixture(autouse=True)
def every_query_checks_the_version(settings):
    settings.MESS_INDEX_CHECK_SECONDS = 0


def near_e0(cosine):
    return np.array([cosine, 0, 0, math.sqrt(1 - cosine**2)], dtype=np.float32)


def store_windows(track, space, windows, starts=STARTS):
    """The same vector at every layer of each window."""
    windows = np.repeat(np.asarray(windows, dtype=np.float32)[:, None], space.num_layers, axis=1)
    store_track_embeddings(track, space, track_mean=windows.mean(axis=0), window_means=windows, window_starts=starts)


@pytest.fixture
def corpus():
    """q repeats its opening (e0) at 10 s, a bit changed (cosine 0.95); a and b have one
    window near e0 (cosine 0.9 at 2.5 s, 0.8 at 5 s); c holds q's 4-6 s mix (e0 + 2 e1)."""
    space = make_space()
    dataset = make_dataset()
    tracks = {title: track(dataset, title, duration=15.0) for title in "qabc"}
    store_windows(tracks["q"], space, [E0, E1, E1, E2, near_e0(0.95)])
    store_windows(tracks["a"], space, [E3, near_e0(0.9), E2, E2, E3])
    store_windows(tracks["b"], space, [E1, E2, near_e0(0.8), E3, E3])
    store_windows(tracks["c"], space, [E3, E3, E3, (E0 + 2 * E1) / math.sqrt(5), E2])
    return space, tracks


def found(results):
    return [(r.track.title, r.start, r.end, round(r.score, 2)) for r in results]  # features are float16


def test_the_best_passages_of_other_tracks_and_the_query_tracks_own_repetition(corpus):
    # 0-1 s overlaps only q's first window (e0): itself excluded, its repetition at 10 s is first.
    result = similar_passages(corpus[1]["q"], start=0, end=1, layer=1, k=3)
    assert found(result.results) == [("q", 10.0, 15.0, 0.95), ("a", 2.5, 7.5, 0.9), ("b", 5.0, 10.0, 0.8)]
    assert (result.start, result.end, result.layers) == (0, 1, {1: 1.0})


def test_the_query_is_the_mean_of_the_windows_overlapping_the_span(corpus):
    # 4-6 s overlaps the windows at 0 (e0), 2.5 (e1) and 5 (e1): their mean points at e0 + 2 e1.
    [best] = similar_passages(corpus[1]["q"], start=4, end=6, k=1).results
    assert (best.track.title, best.start, best.score) == ("c", 7.5, pytest.approx(1.0, abs=1e-3))


def test_windows_overlapping_the_span_are_never_returned_but_others_of_the_track_are(corpus):
    q = corpus[1]["q"]
    results = similar_passages(q, start=4, end=6, k=20, per_track=False).results
    own = {r.start for r in results if r.track == q}
    assert own == {7.5, 10.0}  # 0, 2.5 and 5 overlap 4-6
    assert len(results) == 20 - 3 and [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_one_passage_per_track_by_default(corpus):
    results = similar_passages(corpus[1]["q"], start=0, end=1, k=10).results
    assert sorted(r.track.title for r in results) == ["a", "b", "c", "q"]


@pytest.fixture
def held_builds(monkeypatch):
    """Window index builds wait for `release`; `threads` names the thread of each."""
    release, threads = threading.Event(), []
    build = passage_indices.load_or_build

    def held(*args):
        threads.append(threading.current_thread())
        assert release.wait(30)
        return build(*args)

    monkeypatch.setattr(passage_indices, "load_or_build", held)
    return release, threads


def best_of_q(tracks):
    [best] = similar_passages(tracks["q"], start=0, end=1, k=1).results
    return best.track.title, best.start, best.end


def test_after_new_features_the_old_index_answers_until_the_new_one_is_built_in_the_background(corpus, held_builds):
    space, tracks = corpus
    release, threads = held_builds
    release.set()
    assert best_of_q(tracks) == ("q", 10.0, 15.0)
    release.clear()
    newcomer = track(tracks["q"].dataset, "newcomer", duration=5.0)
    store_windows(newcomer, space, [E0], starts=[0.0])  # moves the space's version
    assert best_of_q(tracks) == ("q", 10.0, 15.0)  # answered at once, while the build is held
    deadline = time.monotonic() + 30
    while len(threads) < 2:  # the refresh has started, on a thread of its own
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert threading.current_thread() not in threads
    release.set()
    while (best := best_of_q(tracks)) != ("newcomer", 0.0, 5.0):  # cut at the track's end
        assert time.monotonic() < deadline, best
        time.sleep(0.02)


def test_a_saved_window_index_is_mapped_by_the_next_process_and_old_versions_are_removed(corpus, settings,
                                                                                       monkeypatch):
    space, tracks = corpus
    before = similar_passages(tracks["q"], start=4, end=6, k=20, per_track=False).results
    saved = sorted(p.name for p in settings.MESS_INDEX_DIR.iterdir())
    stem = f"s{space.pk}-{int(space.created_at.timestamp() * 1e6)}_w"
    assert [name.split("_v")[-1].split(".", 1)[1] if name.startswith(stem) else name for name in saved] == [
        "ends.npy", "faiss", "paths.npy", "starts.npy", "track_ids.npy", saved[-1]]
    assert saved[-1].startswith(f"s{space.pk}_w") and saved[-1].endswith(".lock")

    passage_indices._slots.clear()  # as a fresh process: maps the saved file, reads no feature
    monkeypatch.setattr(passage_indices, "_read", lambda *args: pytest.fail("built again"))
    assert similar_passages(tracks["q"], start=4, end=6, k=20, per_track=False).results == before
    monkeypatch.undo()

    store_windows(track(tracks["q"].dataset, "newcomer", duration=5.0), space, [E3], starts=[0.0])
    space.refresh_from_db()
    deadline = time.monotonic() + 30
    while passage_indices._slots[next(iter(passage_indices._slots))].current.version != space.version:
        assert time.monotonic() < deadline
        similar_passages(tracks["q"], start=4, end=6, k=1)
        time.sleep(0.02)
    again = sorted(p.name for p in settings.MESS_INDEX_DIR.iterdir())
    assert len(again) == len(saved) and f"_v{space.version}_" in again[0] and again[0] not in saved


def test_a_refresh_reads_only_the_features_files_written_since_and_answers_as_a_full_build(corpus, settings,
                                                                                          monkeypatch):
    space, tracks = corpus
    weights = ((1, 1.0),)
    passage_indices.load_or_build(space.pk, weights)
    newcomer = track(tracks["q"].dataset, "newcomer", duration=5.0)
    store_windows(newcomer, space, [E0], starts=[0.0])
    store_windows(tracks["b"], space, [E1, E2, E3, E3, near_e0(0.7)])  # re-extracted: a new file
    read = []
    load = passage_indices.load_window_features
    monkeypatch.setattr(passage_indices, "load_window_features", lambda path: read.append(path) or load(path))
    refreshed = passage_indices.load_or_build(space.pk, weights)
    written = space.features.filter(track__in=[newcomer, tracks["b"]])
    assert sorted(read) == sorted(features.path for features in written)
    assert len(refreshed.track_ids) == 5 * 4 + 1

    for saved in settings.MESS_INDEX_DIR.glob("*_v*"):
        saved.unlink()  # the next build has no older index to read back from
    full = passage_indices.load_or_build(space.pk, weights)
    query = passage_indices._query(np.repeat(E0[None, None], space.num_layers, axis=1), dict(weights), space)

    def answers(entry):
        return found(passage_indices._search(entry, query, 30, excluded=None, per_track=False))

    # The same windows and scores; rows come in another order, so only ties (0.0) may swap.
    assert len(answers(full)) == 21 and sorted(answers(refreshed)) == sorted(answers(full))
    assert answers(refreshed)[:6] == answers(full)[:6]


def test_a_first_query_whose_index_takes_too_long_is_told_to_retry(client, corpus, settings, held_builds):
    settings.MESS_PASSAGE_FIRST_WAIT_SECONDS = 0.1
    assert_error(passages(client, corpus[1]["q"].pk, start=0, end=1), 503, "indexing")
    held_builds[0].set()


def test_passages_follow_the_layer_asked_for(corpus):
    space, tracks = corpus
    # Only at layer 2 does this track's window match q's opening.
    layered = track(tracks["q"].dataset, "layered", duration=5.0)
    windows = np.stack([E3, E3, E0])[None]
    store_track_embeddings(layered, space, track_mean=windows[0], window_means=windows, window_starts=[0.0])
    assert similar_passages(tracks["q"], start=0, end=1, layer=2, k=1).results[0].track.title == "layered"
    at_layer_1 = {r.track.title: r.score for r in similar_passages(tracks["q"], start=0, end=1, layer=1).results}
    assert at_layer_1["layered"] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("start, end", [(5, 5), (6, 4), (-1, 2), (14, 16)])
def test_a_span_outside_the_track_or_empty_is_refused(corpus, start, end):
    with pytest.raises(RecommendationError) as refused:
        similar_passages(corpus[1]["q"], start=start, end=end)
    assert refused.value.code == "bad_span"


def test_a_track_without_features_has_nothing_to_compare(corpus):
    lone = track(corpus[1]["q"].dataset, "never extracted", duration=15.0)
    with pytest.raises(RecommendationError) as refused:
        similar_passages(lone, start=0, end=1)
    assert refused.value.code == "no_embeddings"


# --- API ----------------------------------------------------------------------------


def passages(client, track_id, **params):
    return client.get(f"/api/v1/tracks/{track_id}/passages/", params)


def test_passages_through_the_api(client, corpus):
    q = corpus[1]["q"]
    response = passages(client, q.pk, start=0, end=1, layer=1, k=2)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["track"]["id"], body["start"], body["end"]) == (q.pk, 0, 1)
    assert body["layers"] == [{"layer": 1, "weight": 1.0}] and body["description"] == "at layer 1"
    first, second = body["results"]
    assert (first["track"]["title"], first["start"], first["end"]) == ("q", 10.0, 15.0)
    assert first["score"] == pytest.approx(0.95, abs=1e-3) and second["track"]["title"] == "a"


@pytest.mark.parametrize(
    "params, code",
    [
        (dict(end=1), "invalid"),  # start is required
        (dict(start=0, end="soon"), "invalid"),
        (dict(start=3, end=2), "bad_span"),
        (dict(start=0, end=20), "bad_span"),
        (dict(start=0, end=1, k=0), "bad_k"),
        (dict(start=0, end=1, k=101), "bad_k"),
        (dict(start=0, end=1, aspect="loudness"), "unknown_aspect"),
        (dict(start=0, end=1, layer=3), "layer_out_of_range"),
        (dict(start=0, end=1, layer=1, aspect="timbre"), "conflicting_parameters"),
    ],
)
def test_bad_parameters_are_400_naming_the_problem(client, corpus, params, code):
    assert_error(passages(client, corpus[1]["q"].pk, **params), 400, code)


def test_unknown_track_or_one_without_features_is_404(client, corpus):
    lone = track(corpus[1]["q"].dataset, "never extracted", duration=15.0)
    assert_error(passages(client, lone.pk, start=0, end=1), 404, "no_embeddings")
    assert_error(passages(client, 999999, start=0, end=1), 404, "not_found")
