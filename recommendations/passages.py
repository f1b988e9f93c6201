"""Passages: windows of the catalogue similar to a span of a track, or to a search clip.

A passage is one analysis window (space.window_seconds long) of a track. Its vector for
a query's layers is the sqrt(weight)-scaled concatenation of its L2-normalised layer
vectors, so a dot product is the weighted sum of per-layer cosines (as for tracks). Each
layer keeps only its own width (`space.layer_dim`): the rest is padding.

A window index per (space, layer weights) is built from the stored per-window features
(TrackFeatures) with `index.build` and kept fresh like the track indices (`index.fresh`):
when the space's version moves, a background thread builds the new one while the old one
answers, saves it under MESS_INDEX_DIR (one process per host builds each version, the
others map the file) and swaps it in. Only the first query of a (space, weights) in a
process has nothing to answer from: it waits for that build at most
MESS_PASSAGE_FIRST_WAIT_SECONDS (a saved file maps at once), then is refused as
`indexing` (503) to retry. At most MAX_CACHED indices are kept per process, least recently
used dropped first, so mixes of aspects cannot grow memory without bound.
"""

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import numpy as np
from django.conf import settings

from analysis.embeddings import load_window_features
from analysis.models import EmbeddingSpace, TrackFeatures
from catalog.models import Track
from recommendations import index, pgsearch
from recommendations.recommender import RecommendationError, prepare_query

MAX_CACHED = 8
CANDIDATES_PER_RESULT = 4  # fetched per wanted passage, as one track may hold many close windows


@dataclass(frozen=True)
class Passage:
    track: Track
    start: float
    end: float
    score: float  # weighted sum of per-layer cosines to the query
    same_track: bool = False  # a window of the query track itself: the piece repeating itself


@dataclass(frozen=True)
class SimilarPassages:
    track: Track | None  # the query track; None for a search clip
    start: float | None  # the query span, for a track
    end: float | None
    space: EmbeddingSpace
    layers: dict[int, float]
    description: str
    results: list[Passage]


@dataclass(frozen=True, eq=False)
class WindowIndex:
    version: int
    index: object  # a faiss.Index over the rows, memory-mapped from its file
    track_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    paths: np.ndarray  # the features file each row was read from


# Saved beside the index, one value per row: {name: dtype}, in WindowIndex's order.
ARRAYS = {"track_ids": np.int64, "starts": np.float64, "ends": np.float64, "paths": np.str_}
_slots = OrderedDict()


def similar_passages(
    track, *, start, end, space=None, layer=None, aspect=None, mix=None, k=10, per_track=True, exclude_self=False
):
    """Up to k passages most similar to seconds [start, end] of `track`, best first.

    The query is the mean of the normalised vectors of the track's windows that overlap
    the span. Those windows are never returned; the track's other passages may be
    (repetition within a piece is musical), marked same_track, unless `exclude_self`.
    `per_track` keeps each track's best passage only. Raises RecommendationError
    (bad_span, no_embeddings, and those of similar_tracks)."""
    space, weights, description = prepare_query(space, layer=layer, aspect=aspect, mix=mix, k=k, diversity=0.0)
    query = _query(span_windows(track, space, start, end), weights, space)
    entry = _window_index(space, weights)
    excluded = entry.track_ids == track.pk
    if not exclude_self:
        excluded &= (entry.starts < end) & (entry.ends > start)
    results = _search(entry, query, k, excluded=excluded, per_track=per_track, own=track.pk)
    return SimilarPassages(track, start, end, space, weights, description, results)


def span_windows(track, space, start, end):
    """[windows, layers, dim]: the track's windows in `space` that overlap seconds [start, end].
    Raises RecommendationError (bad_span, no_embeddings)."""
    if not 0 <= start < end <= track.duration:
        raise RecommendationError(
            "bad_span", f"The span must satisfy 0 <= start < end <= {track.duration:g} (the track's length), "
            f"not {start:g}-{end:g}."
        )
    features = TrackFeatures.objects.filter(track=track, space=space).first()
    if features is None:
        raise RecommendationError(
            "no_embeddings", f"Track {track.pk} has no embeddings in {space} yet; extract it first."
        )
    starts = np.asarray(features.window_starts, dtype=np.float64)
    overlapping = (starts < end) & (starts + space.window_seconds > start)
    if not overlapping.any():
        raise RecommendationError("bad_span", f"No window of track {track.pk} overlaps {start:g}-{end:g}.")
    return load_window_features(features.path)[overlapping]


def passages_like_windows(windows, *, space, layer=None, aspect=None, mix=None, k=10, per_track=True):
    """Up to k passages most similar to the mean of `windows` ([windows, layers, dim] in
    `space`, e.g. a search clip's), best first; nothing is excluded."""
    space, weights, description = prepare_query(space, layer=layer, aspect=aspect, mix=mix, k=k, diversity=0.0)
    entry = _window_index(space, weights)
    results = _search(entry, _query(windows, weights, space), k, excluded=None, per_track=per_track)
    return SimilarPassages(None, None, None, space, weights, description, results)


def _rows(windows, weights, space):
    """[n, sum of the layers' widths] float32: per layer normalised, scaled by sqrt(weight), side by side."""
    return np.concatenate(
        [math.sqrt(weight) * pgsearch.normalised(windows[:, layer, : space.layer_dim(layer)])
         for layer, weight in weights.items()], axis=1
    ).astype(np.float32)


def _query(windows, weights, space):
    """The query row of a set of windows ([windows, layers, dim]), encoded like a window."""
    return _rows(window_mean(windows)[None], weights, space)


def window_mean(windows):
    """[layers, dim]: each layer's mean of the windows' normalised vectors."""
    windows = np.asarray(windows, dtype=np.float32)
    return np.stack([pgsearch.normalised(windows[:, layer]).mean(axis=0) for layer in range(windows.shape[1])])


def _window_index(space, weights):
    """The process's newest window index for (space, weights); see the module docstring."""
    # The creation time is in the key: ids and versions repeat in a recreated database.
    key = (space.pk, space.created_at, tuple(sorted(weights.items())))
    build = partial(load_or_build, space.pk, key[2])
    deadline = time.monotonic() + settings.MESS_PASSAGE_FIRST_WAIT_SECONDS
    while (entry := index.fresh(_slots, key, build, limit=MAX_CACHED)) is None:
        if time.monotonic() >= deadline:
            raise RecommendationError(
                "indexing", f"The passages of {space} are being indexed; retry in a few seconds."
            )
        time.sleep(0.02)
    return entry


def load_or_build(space_id, weights):
    """The window index of the space's current version for `weights` ((layer, weight)
    pairs): mapped from its file when one was saved, else built and saved, reading only
    the features files that the newest saved index of an older version does not hold."""
    part = "w" + hashlib.sha1(repr(weights).encode()).hexdigest()[:12]
    with index.building_lock(space_id, part):
        # The version is read before the features: anything written after it moves the
        # version again, so the next check rebuilds rather than keeping a stale index.
        space = EmbeddingSpace.objects.get(pk=space_id)
        path = index.shaped_path(space_id, space.created_at, part, space.version)
        if not path.exists():
            matrix, arrays = _read(space, dict(weights), _reusable(space, part))
            index.save(index.build(matrix), path, arrays)
            del matrix
        return _load(path)


def _load(path):
    arrays = (np.load(index.array_path(path, name), mmap_mode="r") for name in ARRAYS)
    return WindowIndex(index.file_version(path), index.mapped(path), *arrays)


def _reusable(space, part):
    """The newest saved index of an older version of `part` whose rows read back exactly
    (uncompressed flat or IVF), or None."""
    stem, shape = index.shaped_path(space.pk, space.created_at, part, 0).name.split("_v0_")
    saved = sorted(index.index_dir().glob(f"{stem}_v*_{shape}"), key=index.file_version)
    previous = saved and _load(saved[-1])
    return previous if previous and index.backend_name(previous.index) in ("faiss-flat", "faiss-ivf") else None


def _read(space, weights, previous):
    """([windows, width] rows of every stored window, {name in ARRAYS: array}). The rows of
    files `previous` holds are read back from it: a version move re-reads only new files."""
    listed = list(TrackFeatures.objects.filter(space=space).values_list(
        "track_id", "path", "window_starts", "track__duration"
    ))
    width = sum(space.layer_dim(layer) for layer in weights)
    parts = [(np.zeros((0, width), np.float32), *(np.zeros(0, dtype) for dtype in ARRAYS.values()))]
    known = set()
    if previous is not None:
        kept = np.flatnonzero(np.isin(previous.paths, [path for _, path, *_ in listed]))
        known = set(previous.paths[kept].tolist())
        parts.append((previous.index.reconstruct_batch(kept),
                      *(array[kept] for array in (previous.track_ids, previous.starts, previous.ends, previous.paths))))
    for track_id, path, window_starts, duration in listed:
        if path in known:
            continue
        try:
            windows = load_window_features(path)
        except FileNotFoundError:
            continue  # re-extracted since the listing: the moved version brings it back next build
        window_starts = np.asarray(window_starts, dtype=np.float64)
        count = len(window_starts)
        parts.append((_rows(windows, weights, space), np.full(count, track_id, dtype=np.int64), window_starts,
                      np.minimum(window_starts + space.window_seconds, duration), np.full(count, path)))
    matrix, *arrays = (np.concatenate(column) for column in zip(*parts))
    return matrix, dict(zip(ARRAYS, arrays))


def _search(entry, query, k, *, excluded, per_track, own=None):
    """Up to k passages; `own` is the query track's id, whose windows are marked same_track."""
    if entry.index.ntotal == 0:
        return []
    total = entry.index.ntotal
    skip = int(excluded.sum()) if excluded is not None else 0
    fetch = min(total, k * CANDIDATES_PER_RESULT + skip)
    while True:
        scores, rows = entry.index.search(query, fetch)
        picked, seen = [], set()
        for score, row in zip(scores[0], rows[0]):
            if row < 0 or (excluded is not None and excluded[row]):
                continue
            track_id = int(entry.track_ids[row])
            if per_track and track_id in seen:
                continue
            seen.add(track_id)
            picked.append((track_id, float(entry.starts[row]), float(entry.ends[row]), float(score)))
        # One track's windows can fill the candidates: look further until k or the end.
        if len(picked) >= k or fetch >= total:
            break
        fetch = min(total, fetch * 4)
    tracks = Track.objects.select_related("dataset").in_bulk({track_id for track_id, *_ in picked})
    passages = [Passage(tracks[t], start, end, score, t == own) for t, start, end, score in picked if t in tracks]
    return passages[:k]
