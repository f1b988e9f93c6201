"""Finding things (issue 15, items 4-7): composers as people type them, similar tracks
page by page, passages without the query's own repeats, and a diversified order that
says so."""

import numpy as np
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from catalog.composers import UnknownComposer, match_composers
from recommendations.passages import similar_passages
from recommendations.recommender import mmr, similar_tracks
from tests.factories import make_dataset
from tests.test_passages import corpus as windows  # noqa: F401 (a fixture)
from tests.test_passages import passages
from tests.test_recommendations_api import assert_error, similar
from tests.test_recommender import clusters, make_space, store, track  # noqa: F401 (clusters is a fixture)

pytestmark = pytest.mark.django_db

COMPOSERS = ["Johann Sebastian Bach", "Carl Philipp Emanuel Bach", "Jacques Offenbach", "Antonín Dvořák", "Chopin"]


@pytest.fixture
def composers():
    """One track per name of COMPOSERS, and the query track, without a composer; all with embeddings."""
    space = make_space()
    dataset = make_dataset("Composers", slug="composers")
    rng = np.random.default_rng(0)
    tracks = {name: track(dataset, name, composer=name) for name in COMPOSERS}
    tracks["query"] = track(dataset, "query")
    for each in tracks.values():
        store(each, space, rng.standard_normal((3, 4)))
    return tracks


# --- item 4: composers --------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, names",
    [
        ("bach", ["Carl Philipp Emanuel Bach", "Johann Sebastian Bach"]),  # ambiguous: both, never Offenbach
        ("J.S. Bach", ["Johann Sebastian Bach"]),
        ("sebastian", ["Johann Sebastian Bach"]),
        ("DVORAK", ["Antonín Dvořák"]),
        ("antonín dvo", ["Antonín Dvořák"]),
        ("chopin", ["Chopin"]),
        ("offenbach", ["Jacques Offenbach"]),
    ],
)
def test_composers_match_the_way_people_type_them(composers, typed, names):
    assert match_composers(typed) == names


def test_an_unknown_composer_is_refused_with_close_names(composers):
    with pytest.raises(UnknownComposer) as typo:
        match_composers("Dvorjak")
    assert typo.value.suggestions == ["Antonín Dvořák"]
    with pytest.raises(UnknownComposer) as unknown:
        match_composers("Mozart")
    assert unknown.value.suggestions == []


def test_similar_tracks_by_a_composer_as_typed_say_which_names_matched(client, composers):
    query = composers["query"]
    response = similar(client, query.pk, layer=0, composer="bach", exclude_same_work=1)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["composers_matched"] == ["Carl Philipp Emanuel Bach", "Johann Sebastian Bach"]
    assert sorted(r["track"]["composer"] for r in body["results"]) == body["composers_matched"]
    assert similar(client, query.pk, layer=0).json()["composers_matched"] is None


def test_an_unknown_composer_is_a_400_naming_close_names(client, composers):
    error = assert_error(similar(client, composers["query"].pk, layer=0, composer="Chopen"), 400, "unknown_composer")
    assert "'Chopin'" in error["message"]


def test_the_track_list_matches_composers_the_same_way(composers):
    client = APIClient()
    response = client.get("/api/v1/tracks/", {"composer": "dvorak"})
    assert response.status_code == 200, response.content
    assert [t["composer"] for t in response.json()["results"]] == ["Antonín Dvořák"]
    error = assert_error(client.get("/api/v1/tracks/", {"composer": "Mozart"}), 400, "invalid")
    assert list(error["fields"]) == ["composer"]


# --- item 5: pages ------------------------------------------------------------------


@pytest.fixture
def crowd():
    """A query and 120 tracks at random directions in an 8-dimensional space: more than
    the largest page, and enough that diversity has many near choices."""
    space = make_space("crowd", dim=8)
    dataset = make_dataset("Crowd")
    rng = np.random.default_rng(1)
    tracks = [track(dataset, f"t{n}") for n in range(121)]
    for each in tracks:
        store(each, space, rng.standard_normal((3, 8)))
    return tracks


def ids(body):
    return [r["track"]["id"] for r in body["results"]]


def pages(client, track_id, k, **params):
    """Every page from offset 0, following next, and the bodies on the way."""
    bodies = [similar(client, track_id, k=k, **params).json()]
    while bodies[-1]["next"]:
        bodies.append(client.get(bodies[-1]["next"]).json())
    return bodies


@pytest.mark.parametrize("params", [dict(layer=0), dict(layer=0, diversity=0.7), dict(aspects="brightness=1,timbre=1")])
def test_pages_rank_the_whole_catalogue_and_join_up(client, crowd, params):
    query, others = crowd[0], {t.pk for t in crowd[1:]}
    bodies = pages(client, query.pk, 7, **params)
    paged = [track_id for body in bodies for track_id in ids(body)]
    assert len(paged) == len(set(paged)) and set(paged) == others  # every track once, beyond 101
    assert [body["offset"] for body in bodies] == list(range(0, 120, 7))
    assert [body["next_offset"] for body in bodies] == [*range(7, 120, 7), None]
    # The pages are one list: the same as asked to that depth at once.
    assert paged[:100] == ids(similar(client, query.pk, k=100, **params).json())


def test_diversified_picks_to_any_depth_begin_with_the_picks_to_a_smaller_one():
    relevance = np.linspace(1, 0.5, 12)  # in ranking order
    vectors = np.tile([1.0, 0.0], (12, 1))
    vectors[10] = [0, 1]  # every item alike but item 10
    similarity = vectors @ vectors.T
    # Two picks draw from a pool of 8 (4 candidates a result), three from 12. Only the
    # larger pool holds item 10, so unlike the rest that it would be picked second if it
    # could; it may be third, as the third pick reaches the first 12.
    shallow = mmr(relevance[:8], similarity[:8, :8], 2, 0.9)
    deep = mmr(relevance, similarity, 3, 0.9)
    assert shallow == deep[:2] == [0, 1]
    assert deep == [0, 1, 10]


@override_settings(MESS_SIMILAR_MAX_DEPTH=10)
def test_pages_stop_at_the_maximum_depth(client, crowd):
    query = crowd[0]
    last = similar(client, query.pk, layer=0, k=7, offset=7).json()
    assert len(last["results"]) == 3 and last["next_offset"] is None and last["next"] is None
    assert_error(similar(client, query.pk, layer=0, offset=10), 400, "bad_offset")
    assert_error(similar(client, query.pk, layer=0, offset=-1), 400, "bad_offset")


def test_the_last_page_of_the_catalogue_has_no_next(client, crowd):
    body = similar(client, crowd[0].pk, layer=0, k=20, offset=110).json()
    assert len(body["results"]) == 10 and body["next_offset"] is None


def test_the_service_pages_the_same_way(crowd):
    query = crowd[0]
    whole = similar_tracks(query, layer=1, k=30)
    second = similar_tracks(query, layer=1, k=10, offset=20)
    assert [r.track for r in second.results] == [r.track for r in whole.results[20:]]
    assert (second.offset, second.next_offset) == (20, 30)


# --- item 6: passages ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the passage index is built on its own connection
def test_passages_can_leave_out_the_query_tracks_own_repeats(windows):
    q = windows[1]["q"]
    with_repeats = similar_passages(q, start=0, end=1, layer=1, k=3).results
    assert [(r.track.title, r.same_track) for r in with_repeats] == [("q", True), ("a", False), ("b", False)]
    without = similar_passages(q, start=0, end=1, layer=1, k=3, per_track=False, exclude_self=True).results
    assert [r.track.title for r in without] == ["a", "b", "c"] and not any(r.same_track for r in without)


@pytest.mark.django_db(transaction=True)  # the passage index is built on its own connection
def test_the_passages_api_marks_repeats_and_excludes_them_when_asked(client, windows):
    q = windows[1]["q"]
    marked = passages(client, q.pk, start=0, end=1, layer=1, k=2).json()["results"]
    assert [(r["track"]["title"], r["same_track"]) for r in marked] == [("q", True), ("a", False)]
    excluded = passages(client, q.pk, start=0, end=1, layer=1, k=2, exclude_self="true").json()["results"]
    assert [(r["track"]["title"], r["same_track"]) for r in excluded] == [("a", False), ("b", False)]


# --- item 7: a diversified order says so --------------------------------------------


def test_a_diversified_list_says_its_order_is_not_the_score(client, clusters):
    q = clusters["q"]
    plain = similar(client, q.pk, layer=0, k=2).json()
    assert plain["order"] == "score"
    varied = similar(client, q.pk, layer=0, k=2, diversity=0.5).json()
    assert varied["order"] == "diversified" and ids(varied) != ids(plain)
