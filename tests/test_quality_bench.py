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
    same_work, same_composer = relevance(composers, works, instruments)
    assert same_work.tolist() == [
        [False, True, False, False],  # the other piano rendition is a duplicate, not relevant
        [True, False, True, False],
        [False, True, False, False],
        [False, False, False, False],
    ]
    assert same_composer[0].tolist() == [False, True, True, False] and not same_composer[3].any()


def test_a_perfect_ranking_scores_one_and_a_random_one_far_less():
    composers = ["A"] * 4 + ["B"] * 4 + ["C"] * 4
    works = [f"{c}{i // 2}" for i, c in enumerate(composers)]  # pairs of renditions
    instruments = ["piano", "organ"] * 6
    same_work, same_composer = relevance(composers, works, instruments)
    # Similar exactly where the same work, then where the same composer.
    similarity = same_work * 2.0 + same_composer * 1.0 + np.eye(12) * 3
    assert scores(similarity, same_work, same_composer) == (1.0, pytest.approx(3 / 5))
    random_map, random_p = random_scores(same_work, same_composer)
    assert 0.1 < random_map < 0.4 and 0.15 < random_p < 0.4  # 1 relevant of 11; 3 of 11
