"""Paths: N steps that ease from track A to track B by aspect, layer or mix.

Step i aims at the point t = i / (N + 1) of the way from A to B: per layer, the spherical
interpolation (slerp) of A's and B's unit vectors, so the targets are evenly spaced in
angle (a normalised linear interpolation passes the same points, bunched towards the
ends). Each step takes the track nearest its target that the history rules allow
(rules.py: no repeats, no copies of a heard recording, the caps, counting A first), never
A or B or a copy of either. Each step reports its similarity to both ends and to its target.

The nearest track to a target can lie a little behind the one found for the target before
it, so the steps are then played in order of progress (similarity to B less similarity to
A) unless that order would break a cap. On the demo (bench/radio, piano to strings by
timbre) this made the mean similarity to the end rise at every step, where in the order
found it fell over the last two (Spearman of step against it 0.82 -> 0.96).
"""

from dataclasses import dataclass

import numpy as np

from analysis.models import EmbeddingSpace
from catalog.models import Track
from recommendations import pgsearch
from recommendations.listening.candidates import allowed_candidates, prepare, weighted_cosine
from recommendations.listening.radio import Seed, seed_vectors
from recommendations.listening.rules import Caps, Heard, History, copies_of, violations, whole_number
from recommendations.recommender import Recommendation, RecommendationError, query_units

MAX_STEPS = 50


@dataclass(frozen=True)
class PathStep:
    recommendation: Recommendation  # its score and cosines are to the step's target
    position: float  # t: 0 is A, 1 is B
    score_to_start: float
    score_to_end: float


@dataclass(frozen=True)
class TrackPath:
    start: Track
    end: Track
    space: EmbeddingSpace
    layers: dict[int, float]
    description: str
    steps: list[PathStep]


def track_path(
    start,
    end,
    *,
    space=None,
    layer=None,
    aspect=None,
    mix=None,
    steps=8,
    dataset=None,
    tags=None,
    min_duration=None,
    max_duration=None,
    caps=Caps(),
    interpolation="slerp",
):
    """Up to `steps` tracks from `start` to `end` (Tracks); fewer when the rules leave
    nothing near a target. Raises RecommendationError."""
    if not whole_number(steps) or not 1 <= steps <= MAX_STEPS:
        raise RecommendationError("bad_count", f"steps must be a whole number from 1 to {MAX_STEPS}, not {steps!r}.")
    space, weights, description, allowed = prepare(
        space, layer=layer, aspect=aspect, mix=mix, caps=caps, dataset=dataset, tags=tags,
        min_duration=min_duration, max_duration=max_duration,
    )
    ends = [query_units(seed_vectors(Seed(track), space, weights), weights) for track in (start, end)]
    history = History(caps, [Heard.of(start)])
    history.blocked |= {end.pk} | copies_of([Heard.of(end)])
    interpolate = {"slerp": slerp, "lerp": lerp}[interpolation]
    found_steps = []
    for i in range(1, steps + 1):
        position = i / (steps + 1)
        target = {layer: interpolate(ends[0][layer], ends[1][layer], position) for layer in weights}
        found, eligible = allowed_candidates(space, target, weights, history, allowed, 1)
        if not eligible:
            break
        [j] = eligible
        found_steps.append(PathStep(found.recommendation(j, description), position,
                                    weighted_cosine(found, j, ends[0]), weighted_cosine(found, j, ends[1])))
        history.add(found.tracks[found.ids[j]])
    description = f"{description}, from track {start.pk} to track {end.pk} by {interpolation}"
    return TrackPath(start, end, space, weights, description, by_progress(found_steps, start, caps))


def by_progress(steps, start, caps):
    """The steps by progress from A to B (score_to_end - score_to_start), ties in the
    order found; as found when the new order would break a cap."""
    ordered = sorted(steps, key=lambda step: step.score_to_end - step.score_to_start)
    return steps if violations(caps, [start, *(step.recommendation.track for step in ordered)]) else ordered


def slerp(a, b, t):
    """The point t of the great-circle arc from unit vector a to unit vector b."""
    angle = float(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0)))
    if np.sin(angle) < 1e-6:  # (nearly) the same or opposite directions: no single arc
        return lerp(a, b, t)
    return ((np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)).astype(np.float32)


def lerp(a, b, t):
    """(1 - t) a + t b, normalised."""
    return pgsearch.normalised((1 - t) * a + t * b)[0]
