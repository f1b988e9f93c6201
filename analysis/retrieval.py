"""Retrieval on labelled tracks: how well a layer, or a mix of layers, ranks first the
tracks a listener would call alike. Web-safe (numpy only); used by probe runs to back an
aspect's choice (analysis/aspect_choice.py) and by bench/quality.

Labels come from the catalogue: composer and work, and metadata["instrument"] (the
ensemble of a rendition). Each labelled task stands for one aspect:

- harmony, "same work": relevant = another rendition of the query's work (same composer
  and work; another instrument when both name one). The notes are the same and the sound
  differs, so only what the notes make (pitch content, chords, key) can find them.
- timbre, "same instrument": relevant = the other tracks naming the query's instrument.

A task's score is the mean average precision (MAP) over the queries that have at least
one relevant track; a mix of layers ranks by the weighted sum of per-layer cosines, as
the recommender does.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Task:
    name: str
    aspect: str
    description: str


TASKS = (
    Task("same_work", "harmony", "another rendition of the query's work (same composer and work, another instrument)"),
    Task("same_instrument", "timbre", "another track of the query's instrument"),
)


def average_precision(ranked_relevant):
    """AP of one ranking, given as booleans in rank order (at least one True)."""
    ranked_relevant = np.asarray(ranked_relevant, dtype=bool)
    ranks = np.flatnonzero(ranked_relevant) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def work_key(composer, work):
    """What makes two tracks the same work: composer and work, any case; "" without a work."""
    return f"{composer.strip().lower()}\n{work.strip().lower()}" if work else ""


def relevance(composers, works, instruments):
    """(same work, same composer, same instrument): [n, n] booleans, never a track to
    itself. Same work: another rendition (same composer and work; another instrument when
    both name one). Same instrument: both name the same one."""
    n = len(composers)
    other = ~np.eye(n, dtype=bool)
    composer = np.array([c.strip().lower() for c in composers])
    same_composer = (composer[:, None] == composer[None, :]) & other
    work = np.array([work_key(c, w) for c, w in zip(composers, works)])
    same_work = (work[:, None] == work[None, :]) & (work[:, None] != "") & other
    named = np.array([bool(i) for i in instruments])
    instrument = np.array([i or "" for i in instruments])
    same_instrument = named[:, None] & named[None, :] & (instrument[:, None] == instrument[None, :]) & other
    return same_work & ~same_instrument, same_composer, same_instrument


def task_relevance(tracks):
    """{task name: [n, n] relevance} of the labelled tasks for `tracks` (catalog Tracks)."""
    same_work, _same_composer, same_instrument = relevance(
        [t.composer for t in tracks], [t.work for t in tracks], [t.metadata.get("instrument") for t in tracks]
    )
    return {"same_work": same_work, "same_instrument": same_instrument}


def query_average_precisions(similarity, relevant):
    """AP of each query (row of `similarity` [n, n]) that has a relevant track, ranking the
    other tracks by similarity; [queries] in row order."""
    aps = []
    for query in np.flatnonzero(relevant.any(axis=1)):
        order = np.argsort(-similarity[query], kind="stable")
        order = order[order != query]
        aps.append(average_precision(relevant[query, order]))
    return np.asarray(aps)


def mix_similarity(units, weights):
    """[n, n] weighted sum of per-layer cosines; `units` {layer: [n, d] unit rows}."""
    return sum(weight * (units[layer] @ units[layer].T) for layer, weight in weights.items())


def unit_track_vectors(X, groups, widths=None):
    """({layer: [tracks, width] unit vectors}, track ids in row order): each track's mean of
    its windows' features X [windows, layers, dim] (what extraction stores as its vector),
    `groups` the track id of each window, `widths` each layer's own width (default all)."""
    ids, rows = np.unique(groups, return_inverse=True)
    units = {}
    for layer in range(X.shape[1]):
        features = np.asarray(X[:, layer, : widths[layer] if widths else None], dtype=np.float64)
        sums = np.zeros((len(ids), features.shape[1]))
        np.add.at(sums, rows, features)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        units[layer] = sums / np.where(norms > 0, norms, 1.0)
    return units, ids
