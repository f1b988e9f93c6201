"""Radio: an endless queue from a seed (a track, a passage of one, or a search clip), by
aspect, layer or mix.

Each next track is searched near a query that blends, per layer, the seed's vector and
the last heard track's: (1 - variance) * seed + variance * last, normalised. Variance 0
stays near the seed whatever was played; 1 follows the last track wherever it leads.
The history rules (rules.py) leave out repeats, copies of heard recordings and tracks
over a cap; among the PICK_AMONG best tracks left one is drawn with a random generator
seeded by (random_seed, position in the queue), weighted by score (a track PICK_SPREAD
below the best is e times less likely). So a radio is the same for the same inputs, two
radios of one seed differ only by random_seed, and asking for 10 tracks at once gives
what 10 requests of 1 track each give when each sends the tracks before it as played.
"""

import secrets
from dataclasses import dataclass

import numpy as np

from analysis.embeddings import load_window_features
from analysis.models import ClipQuery, EmbeddingSpace
from catalog.models import Track
from recommendations import pgsearch
from recommendations.listening.candidates import allowed_candidates, prepare, vectors_at
from recommendations.listening.rules import MAX_HISTORY, Caps, History, whole_number
from recommendations.passages import span_windows, window_mean
from recommendations.recommender import Recommendation, RecommendationError, query_units, query_vectors

MAX_COUNT = 50
DEFAULT_VARIANCE = 0.3
PICK_AMONG = 3
PICK_SPREAD = 0.05
MAX_RANDOM_SEED = 2**32 - 1


@dataclass(frozen=True)
class Seed:
    """Where a radio starts: a track, seconds start-end of it, or a search clip."""

    track: Track | None = None
    start: float | None = None
    end: float | None = None
    clip: ClipQuery | None = None

    def check(self):
        if self.track is not None and self.clip is not None:
            raise RecommendationError("conflicting_parameters", "Give a seed track or a clip, not both.")
        if self.track is None and self.clip is None:
            raise RecommendationError("missing_seed", "Give a seed: a track (with start and end for a passage) "
                                                      "or a clip.")
        if self.clip is not None and (self.start is not None or self.end is not None):
            raise RecommendationError("conflicting_parameters", "start and end are a span of the seed track, "
                                                                "not of a clip.")
        return self


@dataclass(frozen=True)
class SeedUnits:
    """A seed's unit query vectors ({layer: vector}) in one version of a space: a session
    keeps them, so that its next tracks need not read the seed's vectors (or a passage's
    or clip's windows) again while the space's embeddings stay as they were."""

    space_id: int
    version: int
    units: dict[int, np.ndarray]

    def fits(self, space, weights):
        # The layers in weights' order: a query's layers go in that order (recommender.scored_candidates).
        return (self.space_id, self.version) == (space.pk, space.version) and list(self.units) == list(weights)


@dataclass(frozen=True)
class Radio:
    seed: Seed
    space: EmbeddingSpace
    layers: dict[int, float]
    description: str
    results: list[Recommendation]
    random_seed: int
    exhausted: bool  # fewer results than asked: nothing left that the rules allow
    seed_units: SeedUnits


def new_random_seed():
    return secrets.randbelow(MAX_RANDOM_SEED + 1)


def radio(
    seed,
    *,
    space=None,
    layer=None,
    aspect=None,
    mix=None,
    count=10,
    played=(),
    variance=DEFAULT_VARIANCE,
    random_seed=0,
    dataset=None,
    tags=None,
    min_duration=None,
    max_duration=None,
    caps=Caps(),
    seed_units=None,
):
    """The next `count` tracks of the radio from `seed` (a Seed) after `played` (track ids,
    most recent last); `seed_units`, a SeedUnits an earlier call returned, spares reading the
    seed's vectors again when it still fits. Raises RecommendationError."""
    _check(count, variance, played, random_seed)
    seed.check()
    if seed.clip is not None:
        space = _clip_space(seed.clip)
    space, weights, description, allowed = prepare(
        space, layer=layer, aspect=aspect, mix=mix, caps=caps, dataset=dataset, tags=tags,
        min_duration=min_duration, max_duration=max_duration,
    )
    if seed_units is None or not seed_units.fits(space, weights):
        seed_units = SeedUnits(space.pk, space.version, query_units(seed_vectors(seed, space, weights), weights))
    history = History.of_ids(caps, list(played), first=seed.track)
    last_units = _last_units(history, seed, space, weights) or seed_units.units
    results = []
    while len(results) < count:
        query = blend(seed_units.units, last_units, variance)
        found, eligible = allowed_candidates(space, query, weights, history, allowed, PICK_AMONG)
        if not eligible:
            break
        i = _draw(found, eligible, np.random.default_rng([random_seed, len(history.heard)]))
        results.append(found.recommendation(i, description))
        history.add(found.tracks[found.ids[i]])
        last_units = vectors_at(found, i)
    return Radio(seed, space, weights, _describe(description, variance), results, random_seed,
                 exhausted=len(results) < count, seed_units=seed_units)


def seed_vectors(seed, space, weights):
    """The seed's query vectors (indexable by layer)."""
    if seed.clip is not None:
        return window_mean(load_window_features(seed.clip.features_path))
    if seed.start is not None or seed.end is not None:
        if seed.start is None or seed.end is None:
            raise RecommendationError("bad_span", "A passage needs both start and end, in seconds.")
        return window_mean(span_windows(seed.track, space, seed.start, seed.end))
    stored = query_vectors(seed.track, space, weights)
    if stored is None:
        raise RecommendationError(
            "no_embeddings", f"Track {seed.track.pk} has no embeddings in {space} yet; extract it first."
        )
    return stored


def blend(seed_units, last_units, variance):
    """Per layer, (1 - variance) * seed + variance * last, normalised."""
    return {layer: pgsearch.normalised((1 - variance) * unit + variance * last_units[layer])[0]
            for layer, unit in seed_units.items()}


def _last_units(history, seed, space, weights):
    """The last played track's unit vectors, or None when nothing was played after the
    seed (or that track has no embeddings in the space)."""
    if not history.heard or (seed.track is not None and len(history.heard) == 1):
        return None
    stored = query_vectors(Track(pk=history.heard[-1].id), space, weights)
    return None if stored is None else query_units(stored, weights)


def _draw(found, eligible, rng):
    scores = found.scores[eligible]
    chances = np.exp((scores - scores.max()) / PICK_SPREAD)
    return eligible[int(rng.choice(len(eligible), p=chances / chances.sum()))]


def _clip_space(clip):
    if clip.status != ClipQuery.Status.SUCCEEDED:
        raise RecommendationError("no_embeddings", f"Clip {clip.pk} is not embedded yet ({clip.status}).")
    if clip.space is None:
        raise RecommendationError("no_space", "The clip's embedding space was deleted; upload the clip again.")
    return clip.space


def _describe(description, variance):
    return f"{description}; each track near a blend of the seed ({1 - variance:.0%}) and the last track ({variance:.0%})"


def _check(count, variance, played, random_seed):
    if not whole_number(count) or not 1 <= count <= MAX_COUNT:
        raise RecommendationError("bad_count", f"count must be a whole number from 1 to {MAX_COUNT}, not {count!r}.")
    if isinstance(variance, bool) or not isinstance(variance, (int, float)) or not 0 <= variance <= 1:
        raise RecommendationError("bad_variance", f"variance must be a number from 0 to 1, not {variance!r}.")
    if len(played) > MAX_HISTORY:
        raise RecommendationError("bad_played", f"played may name at most {MAX_HISTORY} tracks, not {len(played)}.")
    if not whole_number(random_seed) or not 0 <= random_seed <= MAX_RANDOM_SEED:
        raise RecommendationError("bad_seed", f"seed must be a whole number from 0 to {MAX_RANDOM_SEED}, "
                                              f"not {random_seed!r}.")
