"""A score's closeness is measured against the space's own pairs of tracks."""

import itertools

import numpy as np
import pytest

from recommendations import calibration
from tests.factories import make_dataset
from tests.test_radio import add, unit
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    calibration._pair_scores.clear()


def test_the_pairs_are_every_pair_of_tracks_scored_by_the_weights():
    space, dataset = make_space("calibrated", num_layers=2), make_dataset("Calibrated")
    angles = [(0, 90), (30, 60), (90, 0)]  # layer 0, layer 1
    for a, b in angles:
        add(space, dataset, f"{a}", [unit(a), unit(b)])
    expected = sorted(0.25 * np.cos(np.radians(a0 - b0)) + 0.75 * np.cos(np.radians(a1 - b1))
                      for (a0, a1), (b0, b1) in itertools.combinations(angles, 2))
    assert calibration.pair_scores(space, {0: 0.25, 1: 0.75}) == pytest.approx(expected, abs=1e-6)
    scores = calibration.pair_scores(space, {0: 1.0})  # cosines 0, 0.5 and 0.87
    assert [calibration.closeness(score, scores) for score in (1.0, 0.5, -1.0)] == [1.0, 0.5, 0.0]


def test_a_large_space_is_sampled_and_a_new_extraction_draws_again(monkeypatch):
    monkeypatch.setattr(calibration, "SAMPLE_TRACKS", 4)
    space, dataset = make_space("sampled", num_layers=1), make_dataset("Sampled")
    for angle in range(0, 90, 10):
        add(space, dataset, f"{angle}", unit(angle))
    space.refresh_from_db()
    assert len(calibration.pair_scores(space, {0: 1.0})) == 6  # 4 tracks: 6 pairs
    first = calibration.pair_scores(space, {0: 1.0})
    add(space, dataset, "far", unit(170))
    space.refresh_from_db()
    again = calibration.pair_scores(space, {0: 1.0})
    assert again is not first and len(again) == 6


def test_without_two_tracks_there_is_nothing_to_measure_by():
    space, dataset = make_space("lonely", num_layers=1), make_dataset("Lonely")
    add(space, dataset, "only", unit(0))
    assert calibration.closeness(0.3, calibration.pair_scores(space, {0: 1.0})) is None
