"""What a radio or a path searches within, and one step of either: the best tracks near a
query that the history allows.

The index is searched once per layer (the recommender's own candidates, rescored exactly),
never returning a blocked track; the caps then leave some candidates out. When too few
are left the search goes deeper, at most to MAX_POOL, so a step costs what one similar-
tracks query costs unless the caps reject nearly everything near the query."""

from itertools import islice

import numpy as np

from catalog.models import Track
from recommendations.listening.rules import with_copies
from recommendations.recommender import RecommendationError, allowed_ids, prepare_query, scored_candidates

POOL = 16  # candidates per layer at the first search
DEEPER = 8  # each further search is this many times deeper
MAX_POOL = 2048


def prepare(space, *, layer, aspect, mix, caps, dataset, tags, min_duration, max_duration):
    """(space, layer -> weight, description, the ids the filters allow or None) for a radio
    or a path, once the durations and caps are checked; `space` defaults to the active one."""
    check_durations(min_duration, max_duration)
    caps.check()
    space, weights, description = prepare_query(space, layer=layer, aspect=aspect, mix=mix, k=1, diversity=0.0)
    allowed = allowed_ids(dataset=dataset, composers=None, same_work_as=None, tags=tags or None, space=space,
                          min_duration=min_duration, max_duration=max_duration)
    return space, weights, description, allowed


def check_durations(min_duration, max_duration):
    for name, value in (("min_duration", min_duration), ("max_duration", max_duration)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < float("inf")):
            raise RecommendationError("bad_duration", f"{name} must be a number of seconds, 0 or more, not {value!r}.")
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise RecommendationError("bad_duration", f"min_duration {min_duration:g} is above max_duration "
                                                  f"{max_duration:g}.")


def allowed_candidates(space, queries, weights, history, allowed, want):
    """(Candidates, up to `want` positions of its tracks that the history allows, best first);
    no positions (and no Candidates when the filters allow nothing) when nothing near enough is allowed.
    Its tracks come with their copies (rules.with_copies), which history.add blocks."""
    if allowed is not None and not allowed:  # nothing matches the filters
        return None, []
    pool = POOL
    while True:
        found = scored_candidates(space, queries, weights, pool, allowed, history.blocked, with_copies(Track.objects))
        eligible = list(islice((i for i in found.order if history.allows(found.tracks[found.ids[i]])), want))
        if len(eligible) == want or len(found.ids) < pool or pool >= MAX_POOL:
            return found, eligible
        pool = min(pool * DEEPER, MAX_POOL)


def vectors_at(found, i):
    """{layer: unit vector} of candidate i."""
    return {layer: found.vectors[j][i] for j, layer in enumerate(found.weights)}


def weighted_cosine(found, i, units):
    """Candidate i's similarity to other unit vectors ({layer: vector}): the weighted cosine sum."""
    return float(sum(weight * np.dot(found.vectors[j][i], units[layer])
                     for j, (layer, weight) in enumerate(found.weights.items())))
