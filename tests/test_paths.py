"""Paths between two tracks: steps along the way from A to B, never A, B or a copy of
either, each step's similarity to both ends and to its target; and the API."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from catalog.models import TrackDuplicate
from recommendations.listening.paths import lerp, slerp, track_path
from recommendations.listening.rules import Caps
from recommendations.recommender import RecommendationError
from tests.factories import assert_json_error, audio_bytes, make_dataset, tone
from tests.test_radio import NO_CAPS, add, unit
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def arc():
    """A at 0 degrees, B at 90 (in the plane of e0 and e1), tracks every 10 degrees between
    them, a copy of each end beside it, and tracks off the way (towards e2 and e3)."""
    space, dataset = make_space("paths", num_layers=2), make_dataset("Paths", slug="paths")
    b_audio = audio_bytes(tone(seconds=0.1, freq=97))
    tracks = {"A": add(space, dataset, "A", unit(0)), "B": add(space, dataset, "B", unit(90), data=b_audio)}
    for angle in range(10, 81, 10):
        tracks[angle] = add(space, dataset, str(angle), unit(angle))
    copy_of_a = add(space, dataset, "copy of A", unit(1))
    TrackDuplicate.objects.create(track=copy_of_a, of_track=tracks["A"], kind="near", score=0.99)
    add(space, make_dataset("Elsewhere", slug="elsewhere"), "copy of B", unit(89), data=b_audio)  # same audio
    for angle in (30, 60):
        add(space, dataset, f"off the way {angle}", unit(angle, plane=2))
        add(space, dataset, f"far off {angle}", unit(angle, plane=3))
    return space, tracks


def titles(path):
    return [step.recommendation.track.title for step in path.steps]


def test_steps_follow_the_way_and_never_include_the_ends_or_their_copies(arc):
    _space, tracks = arc
    path = track_path(tracks["A"], tracks["B"], layer=0, steps=8, caps=NO_CAPS)
    assert titles(path) == ["10", "20", "30", "40", "50", "60", "70", "80"]
    assert [step.position for step in path.steps] == pytest.approx([i / 9 for i in range(1, 9)])
    fewer = track_path(tracks["A"], tracks["B"], layer=0, steps=3, caps=NO_CAPS)
    assert titles(fewer) == ["20", "40", "70"]  # targets at 22.5, 45 and 67.5 degrees: the nearest unused
    many = track_path(tracks["A"], tracks["B"], layer=0, steps=20, caps=NO_CAPS)
    assert not {"A", "B", "copy of A", "copy of B"} & set(titles(many))
    assert len(many.steps) == len(set(titles(many))) == 12  # every other track once, then nothing is left


def test_each_step_reports_its_similarity_to_both_ends_and_its_target(arc):
    _space, tracks = arc
    path = track_path(tracks["A"], tracks["B"], layer=0, steps=4, caps=NO_CAPS)
    for step in path.steps:
        angle = int(step.recommendation.track.title)
        assert step.score_to_start == pytest.approx(np.cos(np.radians(angle)), abs=1e-5)
        assert step.score_to_end == pytest.approx(np.cos(np.radians(90 - angle)), abs=1e-5)
        target = 90 * step.position
        assert step.recommendation.score == pytest.approx(np.cos(np.radians(angle - target)), abs=1e-5)
        assert step.recommendation.cosines == {0: pytest.approx(step.recommendation.score)}
    to_end = [step.score_to_end for step in path.steps]
    assert to_end == sorted(to_end) and to_end[-1] > 0.9 > 0.4 > to_end[0]


def test_steps_come_in_order_of_progress_when_a_later_targets_track_lies_behind(arc):
    space, _tracks = arc
    dataset = make_dataset("Behind", slug="behind")
    start, end = add(space, dataset, "start", unit(0)), add(space, dataset, "end", unit(90))
    add(space, dataset, "38", unit(38))  # nearest to the target at 30 degrees
    behind = 0.8 * unit(34) + 0.6 * np.eye(4, dtype=np.float32)[3]  # the only one left for the target at 60
    add(space, dataset, "34 tilted", behind)
    path = track_path(start, end, layer=0, steps=2, caps=NO_CAPS, dataset="behind")
    assert titles(path) == ["34 tilted", "38"]
    assert [step.position for step in path.steps] == pytest.approx([2 / 3, 1 / 3])  # each keeps its own target
    to_end = [step.score_to_end for step in path.steps]
    assert to_end == sorted(to_end)


def test_steps_stay_as_found_when_their_order_of_progress_would_break_a_cap(arc):
    space, _tracks = arc
    dataset = make_dataset("Behind", slug="behind")
    start, end = add(space, dataset, "start", unit(0), composer="Bach"), add(space, dataset, "end", unit(90))
    add(space, dataset, "38", unit(38))
    add(space, dataset, "34 tilted", 0.8 * unit(34) + 0.6 * np.eye(4, dtype=np.float32)[3], composer="Bach")
    caps = Caps(window=2, max_per_composer=1)  # Bach twice in a row breaks it
    path = track_path(start, end, layer=0, steps=2, caps=caps, dataset="behind")
    assert titles(path) == ["38", "34 tilted"]


def test_slerp_spaces_targets_evenly_and_lerp_passes_the_same_arc():
    a, b = unit(0), unit(90)
    assert [np.degrees(np.arctan2(slerp(a, b, t)[1], slerp(a, b, t)[0])) for t in (0.25, 0.5, 0.75)] == \
        pytest.approx([22.5, 45, 67.5], abs=1e-4)
    assert np.degrees(np.arctan2(*lerp(a, b, 0.25)[[1, 0]])) == pytest.approx(18.43, abs=0.01)  # atan(1/3)
    assert np.linalg.norm(lerp(a, b, 0.3)) == pytest.approx(1)


def test_caps_apply_along_the_path(arc):
    space, tracks = arc
    for angle in range(10, 81, 10):
        tracks[angle].composer = "Haydn"
        tracks[angle].save()
    path = track_path(tracks["A"], tracks["B"], layer=0, steps=8, caps=Caps(window=3, max_per_composer=1))
    composers = [step.recommendation.track.composer for step in path.steps]
    assert all(a != "Haydn" or b != "Haydn" for a, b in zip(composers, composers[1:]))
    assert "Haydn" in composers and len(set(titles(path))) == len(path.steps)


@pytest.mark.parametrize("options, code", [
    (dict(steps=0), "bad_count"),
    (dict(steps=51), "bad_count"),
    (dict(aspect="loudness"), "unknown_aspect"),
    (dict(max_duration=-1), "bad_duration"),
    (dict(caps=Caps(window=500)), "bad_cap"),
])
def test_invalid_paths_name_their_problem(arc, options, code):
    _space, tracks = arc
    with pytest.raises(RecommendationError) as caught:
        track_path(tracks["A"], tracks["B"], **options)
    assert caught.value.code == code


def test_the_paths_api_answers_with_both_ends_and_each_steps_scores(arc):
    _space, tracks = arc
    response = APIClient().get("/api/v1/paths/", {"start": tracks["A"].pk, "end": tracks["B"].pk, "layer": 0,
                                                  "steps": 3, "window": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"]["title"], body["end"]["title"]) == ("A", "B")
    assert [step["track"]["title"] for step in body["steps"]] == ["20", "40", "70"]
    step = body["steps"][1]
    assert step["position"] == 0.5 and step["score_to_start"] == pytest.approx(np.cos(np.radians(40)), abs=1e-5)
    assert step["score_to_end"] == pytest.approx(np.cos(np.radians(50)), abs=1e-5)
    assert step["layers"] == [{"layer": 0, "weight": 1.0, "cosine": pytest.approx(step["score"])}]
    assert step["explanation"].startswith("Similar at layer 0")
    assert "from track" in body["description"] and body["space"]["name"] == "paths"


@pytest.mark.parametrize("query, status, code", [
    ({"steps": 0}, 400, "bad_count"),
    ({"steps": "x"}, 400, "invalid"),
    ({"aspect": "loudness"}, 400, "unknown_aspect"),
    ({"tags": "nope"}, 400, "unknown_tag"),
    ({"end": None}, 400, "invalid"),
    ({"end": 999999}, 404, "not_found"),
    ({"start": 999999}, 404, "not_found"),
])
def test_the_paths_api_refuses_bad_requests(arc, query, status, code):
    _space, tracks = arc
    query = {"start": tracks["A"].pk, "end": tracks["B"].pk, **query}
    assert_json_error(APIClient().get("/api/v1/paths/", {k: v for k, v in query.items() if v is not None}),
                      status, code)
