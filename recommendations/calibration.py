"""How close a score is, measured against the space itself: the share of pairs of catalogue
tracks that score no higher.

A weighted cosine says little on its own: in a space whose vectors share one cone (ReLU
features, descriptors that are all positive) every pair scores above 0.9, so "0.96" may be
the nearest neighbour or an unrelated track. Its rank among the scores of random pairs of
tracks in the same space, by the same layers and weights, says how alike the two are
compared with any two tracks: 0.99 means closer than 99 % of pairs (ties count half, which
matters only in a tiny catalogue). The pairs come from a
fixed sample of tracks (SAMPLE_TRACKS, drawn with the space's id as seed) and are kept per
(space, version, weights) in the process: a new extraction moves the version and the
sample is drawn again.
"""

import numpy as np

from analysis.models import TrackEmbedding
from recommendations import index

SAMPLE_TRACKS = 300  # 44,850 pairs: percentiles to within a fraction of a percent
TIE = 1e-5
MAX_KEPT = 32  # (space, version, weights) whose pair scores a process keeps

_pair_scores = {}


def pair_scores(space, weights):
    """The sorted scores of the sampled pairs of tracks in `space` under `weights` (layer ->
    weight); empty when the space has fewer than two tracks."""
    key = (space.pk, space.version, tuple(sorted(weights.items())))
    if key not in _pair_scores:
        if len(_pair_scores) >= MAX_KEPT:
            _pair_scores.pop(next(iter(_pair_scores)))  # the oldest
        _pair_scores[key] = _sampled_pair_scores(space, weights)
    return _pair_scores[key]


def closeness(score, scores):
    """The share of `scores` (sorted) below `score`, ties counted half (the mid-rank:
    scores within float32 rounding of each other, TIE, are ties), in [0, 1]; None without
    scores."""
    if len(scores) == 0:
        return None
    below = np.searchsorted(scores, score - TIE, side="left")
    at_or_below = np.searchsorted(scores, score + TIE, side="right")
    return float(below + at_or_below) / 2 / len(scores)


def _sampled_pair_scores(space, weights):
    first = min(weights)
    ids = list(TrackEmbedding.objects.filter(space=space, layer=first).order_by("track_id")
               .values_list("track_id", flat=True))
    if len(ids) < 2:
        return np.empty(0, dtype=np.float32)
    chosen = np.random.default_rng(space.pk).choice(ids, size=min(len(ids), SAMPLE_TRACKS), replace=False).tolist()
    scores = sum(weight * _cosines(index.vectors(space, layer, chosen)) for layer, weight in weights.items())
    return np.sort(scores[np.triu_indices(len(chosen), k=1)])


def _cosines(vectors):
    return vectors @ vectors.T  # index.vectors are unit vectors
