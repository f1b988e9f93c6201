"""One step of a radio or a path: the best tracks near a query that the history allows.

The index is searched once per layer (the recommender's own candidates, rescored exactly),
never returning a blocked track; the caps then leave some candidates out. When too few
are left the search goes deeper, at most to MAX_POOL, so a step costs what one similar-
tracks query costs unless the caps reject nearly everything near the query."""

from itertools import islice

import numpy as np

from recommendations.recommender import scored_candidates

POOL = 16  # candidates per layer at the first search
DEEPER = 8  # each further search is this many times deeper
MAX_POOL = 2048


def allowed_candidates(space, queries, weights, history, allowed, want):
    """(Candidates, up to `want` positions of its tracks that the history allows, best first);
    no positions (and no Candidates when the filters allow nothing) when nothing near enough is allowed."""
    if allowed is not None and not allowed:  # nothing matches the filters
        return None, []
    pool = POOL
    while True:
        found = scored_candidates(space, queries, weights, pool, allowed, history.blocked)
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
