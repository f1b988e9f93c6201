"""bench.quality's measures on hand-checkable rankings."""

import numpy as np
import pytest

from bench.quality.__main__ import average_precision, random_scores, relevance, scores


def test_average_precision():
    assert average_precision([True, False, True]) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision([False, False, True]) == pytest.approx(1 / 3)
    assert average_precision([True, True, False]) == 1.0


def test_another_rendition_is_the_same_work_in_another_instrument():
    composers = ["Bach", "bach ", "Bach", "Mozart"]
    works = ["BWV 269", "BWV 269", "BWV 269", "K. 80"]
    instruments = ["piano", "organ", "piano", None]
    same_work, same_composer, same_instrument = relevance(composers, works, instruments)
    assert same_work.tolist() == [
        [False, True, False, False],  # the other piano rendition is a duplicate, not relevant
        [True, False, True, False],
        [False, True, False, False],
        [False, False, False, False],
    ]
    assert same_composer[0].tolist() == [False, True, True, False] and not same_composer[3].any()
    # The two pianos are each other's; the organ has no other, and the unnamed one none.
    assert same_instrument.tolist() == [
        [False, False, True, False],
        [False, False, False, False],
        [True, False, False, False],
        [False, False, False, False],
    ]


def test_a_perfect_ranking_scores_one_and_a_random_one_far_less():
    composers = ["A"] * 4 + ["B"] * 4 + ["C"] * 4
    works = [f"{c}{i // 2}" for i, c in enumerate(composers)]  # pairs of renditions
    instruments = ["piano", "organ"] * 6
    relevant = relevance(composers, works, instruments)
    same_work, same_composer, _ = relevant
    # Similar exactly where the same work, then where the same composer.
    similarity = same_work * 2.0 + same_composer * 1.0 + np.eye(12) * 3
    # The nearest five: the other rendition (the other instrument), then the composer's
    # other two (one of each), then two of another composer (the first: one of each).
    assert scores(similarity, *relevant) == (1.0, pytest.approx(3 / 5), pytest.approx(2 / 5))
    random_map, random_composer, random_instrument = random_scores(*relevant)
    assert 0.1 < random_map < 0.4 and 0.15 < random_composer < 0.4  # 1 relevant of 11; 3 of 11
    assert 0.4 < random_instrument < 0.5  # 5 of 11
