"""Per-(space, layer) FAISS indices held by each web process, kept fresh from the database.

Cosine similarity is the inner product of L2-normalised vectors. A catalogue of up to
MESS_FAISS_EXACT_MAX tracks is searched exactly (IndexFlatIP); a larger one through an
inverted-file index (IVF: sqrt(n) lists, MESS_FAISS_IVF_NPROBE of them visited per query)
or, with MESS_FAISS_APPROXIMATE = "hnsw", an HNSW graph (~20x slower to build on 2 cores).
MESS_FAISS_COMPRESSION stores vectors as float16 or 8-bit scalars instead of float32.

Freshness: at most every MESS_INDEX_CHECK_SECONDS a search reads the space's `version`
(one query). When it moved, a background thread (niced, one core fewer than the host's)
makes the new index while the old one (or pgvector, before the first build) keeps
answering, then swaps it in; recommendations/passages.py refreshes its window indices the
same way (`fresh`). A refresh reads
only the layer's row ids and the rows written since the last saved index (`read_changes`)
and updates a copy of that index in place: removed rows leave by id, new ones are added
through the trained IVF quantiser. It re-clusters (and reads the whole layer when the
saved vectors are compressed) only when more than REUSE_MAX_CHANGED of the layer changed,
when the layer crosses MESS_FAISS_EXACT_MAX, or when the IVF has outgrown or drifted from
its training (`_updated_training`). Every index is saved under MESS_INDEX_DIR and
memory-mapped from there, so the processes on one host share one copy in the page cache,
only one of them makes each version (a file lock), and the others map the new file when
they see the version move; `manage.py build_indexes` saves them before the web processes
start. Deleting embeddings moves the version too (a trigger, see migrations), so deleted
tracks leave the index at the next refresh.

An IVF's labels are row positions in its `ids` array that never move: a removed row leaves
a hole (track id and embedding row HOLE) until the next re-training compacts them. A flat
index closes its gaps on removal (rows keep their order), so it never has holes.

A layer narrower than its space's widest (e.g. a classic layer in a stack with musicnn)
is stored and indexed at its own width, `space.layer_dim(layer)`: its padding is zeros,
which change no inner product or norm, so cosines are the same and memory is not spent on
them. Queries are cut to the index's width, and vectors read back are padded again to the
space's dim.
"""

import fcntl
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings
from django.db import connection, transaction

from analysis.embeddings import padded
from analysis.models import EmbeddingSpace
from recommendations import pgsearch

log = logging.getLogger(__name__)

QUANTIZERS = {"none": None, "fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}
COPY_HEADER_BYTES, COPY_TRAILER_BYTES = 19, 2
# The IVF's k-means runs on a sample, for a few iterations: lists need only be good enough
# for nprobe of them to hold a query's neighbours (recall 1.0 at nprobe 8 in bench/search),
# and training is most of a build (100k: 2.5 s at 64 points per list and 25 iterations,
# 1.1 s at 40 and 10). 40 is faiss's own minimum before it warns.
IVF_TRAINING_PER_LIST = 40
IVF_TRAINING_ITERATIONS = 10
REUSE_MAX_CHANGED = 0.2  # a refresh reads the whole layer again when more of it changed
# An IVF updated in place is re-trained when its rows (holes included) reach IVF_RETRAIN_GROWTH
# times, or its live rows fall under 1/IVF_RETRAIN_GROWTH of, those it was trained on (sqrt(n)
# lists then are off by a factor of 1.4), or when the mean quantisation error of the layer
# (training sample plus every row added since) exceeds the training sample's by IVF_RETRAIN_DRIFT:
# new material that the centroids do not cover (docs/scaling.md has the measurements).
IVF_RETRAIN_GROWTH = 2.0
IVF_RETRAIN_DRIFT = 0.25
HOLE = -1  # track id and embedding row of a removed IVF row
BUILD_NICENESS = 10  # of a background build's thread: requests are served first


@dataclass(frozen=True, eq=False)
class LayerIndex:
    space_id: int
    layer: int
    version: int
    index: faiss.Index
    ids: np.ndarray  # the track id of each row of `index`
    order: np.ndarray  # argsort of `ids`, to find rows by track id
    path: Path  # the .faiss file the index is memory-mapped from
    embedding_rows: np.ndarray | None  # the TrackEmbedding id of each row (None in older files)
    # Read when loaded: a newer version's save removes this file while it is still mapped.
    built_at: datetime
    file_bytes: int
    training: dict | None  # see _training (None in older files)

    def rows(self, track_ids):
        """Row of each track id in the index, -1 where it has none."""
        track_ids = np.asarray(track_ids, dtype=np.int64).ravel()
        if not len(self.ids):
            return np.full(len(track_ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, track_ids, sorter=self.order), len(self.ids) - 1)
        rows = self.order[at]
        return np.where(self.ids[rows] == track_ids, rows, -1)


class _Slot:
    """What one process knows of one (space, layer)."""

    def __init__(self):
        self.current = None  # the LayerIndex answering now; replaced whole, never mutated
        self.checked_at = float("-inf")
        self.building = False


_slots = {}
_lock = threading.Lock()


def search(space, layer, query, k, *, exclude=(), allowed=None):
    """Up to k (track_id, cosine) best first, never a track in `exclude`, only tracks in
    `allowed` when it is given. `query` is a [dim] vector, normalised here."""
    query = _checked_query(space, layer, query)
    entry = _current(space, layer)
    if entry is None:
        return pgsearch.search(space, layer, query[0], k, exclude=exclude, allowed=allowed)
    if k <= 0 or entry.index.ntotal == 0:
        return []
    query = np.ascontiguousarray(query[:, : entry.index.d])  # the rest is padding
    excluded = {int(i) for i in exclude}
    if allowed is None:
        # Exclusions are few (the query track, tracks already shown): fetch that many more.
        scores, rows = entry.index.search(query, k + len(excluded), params=_search_params(entry.index, k))
        return _pairs(entry, scores[0], rows[0], excluded)[:k]
    rows = entry.rows([i for i in allowed if int(i) not in excluded])
    rows = rows[rows >= 0]
    if len(rows) <= settings.MESS_FAISS_ALLOWED_EXACT_MAX:
        # A small subset is scored exactly: cheaper than a filtered graph walk, and never short.
        scores = entry.index.reconstruct_batch(rows) @ query[0]
        best = np.argsort(-scores, kind="stable")[:k]
        return _pairs(entry, scores[best], rows[best], excluded)
    selector = faiss.IDSelectorBatch(rows)
    scores, found = entry.index.search(query, k, params=_search_params(entry.index, k, selector))
    return _pairs(entry, scores[0], found[0], excluded)


def vectors(space, layer, track_ids):
    """[len(track_ids), dim] L2-normalised float32, one row per id in the given order.
    KeyError for ids without an embedding in this (space, layer)."""
    if not 0 <= layer < space.num_layers:
        raise ValueError(f"space {space.pk} has layers 0-{space.num_layers - 1}, not {layer}")
    entry = _current(space, layer)
    if entry is None:
        return pgsearch.fetch_vectors(space, layer, track_ids)
    rows = entry.rows(track_ids)
    if (rows < 0).any():
        missing = np.asarray(track_ids)[rows < 0].tolist()
        raise KeyError(f"no layer-{layer} embedding in space {space.pk} for tracks {missing[:10]}")
    return padded(entry.index.reconstruct_batch(rows), space.dim)


def index_status():
    """One dict per (space, layer): first those this process has been asked about (loaded
    or not yet), then the indices saved for an existing space that it has not mapped yet
    (`manage.py build_indexes`, another process): it maps those at their first query."""
    with _lock:
        slots = sorted(_slots.items())
    status = []
    for (space_id, layer), slot in slots:
        entry = slot.current
        row = dict(space=space_id, layer=layer, backend="pgvector", size=None, version=None,
                   built_at=None, memory_bytes=0, building=slot.building, loaded=entry is not None)
        if entry is not None:
            row.update(
                backend=backend_name(entry.index),
                size=int(entry.index.ntotal),
                version=entry.version,
                built_at=entry.built_at.isoformat(),
                # Mapped from the file, shared with the other processes on this host.
                memory_bytes=entry.file_bytes + entry.ids.nbytes + entry.order.nbytes,
            )
        status.append(row)
    asked = {key for key, _ in slots}
    for space_id, created in EmbeddingSpace.objects.values_list("pk", "created_at"):
        for layer, path in sorted(_saved(space_id, created).items()):
            if (space_id, layer) not in asked:
                status.append(_saved_status(space_id, layer, path))
    return status


def _saved(space_id, created):
    """{layer: path of its newest saved index} for this space and the current settings."""
    stem, shape = _path(space_id, created, 0, 0).name.split("_l0_v0_")
    newest = {}
    for path in index_dir().glob(f"{stem}_l*_v*_{shape}"):
        layer, version = (int(part) for part in re.match(r"_l(\d+)_v(\d+)_", path.name[len(stem):]).groups())
        if version >= newest.get(layer, (-1, None))[0]:
            newest[layer] = (version, path)
    return {layer: path for layer, (_, path) in newest.items()}


def _saved_status(space_id, layer, path):
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)  # the header and a mapping: cheap
    stat = path.stat()
    return dict(space=space_id, layer=layer, backend=backend_name(index), size=int(index.ntotal),
                version=file_version(path), built_at=datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(),
                memory_bytes=0, building=False, loaded=False)


def clear():
    """Forget every loaded index (the files stay): the next search loads them again."""
    with _lock:
        _slots.clear()


def load_or_build(space_id, layer):
    """The index of the space's current version for `layer`: mapped from its file when
    one was saved, else built from the database and saved. Processes sharing the index
    directory build each (space, layer) one at a time, so the others find its file."""
    with building_lock(space_id, f"l{layer}"):
        created = EmbeddingSpace.objects.values_list("created_at", flat=True).get(pk=space_id)
        path = _path(space_id, created, layer, _db_version(space_id))
        if path.exists():
            return _load(path, space_id, layer)
        previous = _previous(space_id, created, layer)
        changes = previous and read_changes(space_id, layer, previous)
        training = changes and _updated_training(previous, changes)
        if training:
            version, (index, rows, ids) = changes.version, _update(previous, changes)
        else:
            read = (changes and _exact(previous) and _merged(previous, changes)) or read_vectors(space_id, layer)
            version, rows, ids, matrix = read
            index = build(matrix)
            training = _training(index, matrix)
            del matrix, read
        path = _path(space_id, created, layer, version)
        _save(index, rows, ids, training, path)
        del index
        return _load(path, space_id, layer)


@contextmanager
def building_lock(space_id, part):
    """Held while one process builds (space, part): the others wait, then find its file."""
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"s{space_id}_{part}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_vectors(space_id, layer):
    """(space version, embedding row ids, track ids, L2-normalised float32 matrix of the
    layer's held width, see the module docstring) of one layer, read with
    binary COPY parsed straight into numpy (no Python object per row). The server's
    vector output dominates, so MESS_INDEX_READ_CONNECTIONS connections each read a share
    of the rows, all in one snapshot (exported by the first, as pg_dump -j does)."""
    parts = max(1, settings.MESS_INDEX_READ_CONNECTIONS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(
            "SELECT version, dim, layer_dims::text, pg_export_snapshot() FROM analysis_embeddingspace WHERE id = %s",
            [space_id],
        )
        version, dim, layer_dims, snapshot = cursor.fetchone()
        with ThreadPoolExecutor(parts - 1) if parts > 1 else nullcontext() as pool:
            others = [pool.submit(_copy_in_snapshot, snapshot, space_id, layer, part, parts)
                      for part in range(1, parts)]
            shares = [_copy_rows(cursor, space_id, layer, 0, parts)] + [other.result() for other in others]
    width = _width(dim, layer_dims, layer)
    rows, ids, matrix = (np.concatenate(part) for part in zip(*(_parse_copy(data, width, space_id, layer)
                                                                for data in shares)))
    del shares
    faiss.normalize_L2(matrix)
    return version, rows, ids, matrix


@dataclass(frozen=True)
class Changes:
    """What was written to a layer since a saved index: its positions whose rows are gone,
    and the new rows (embedding row ids, track ids, normalised vectors)."""

    version: int
    removed: np.ndarray
    rows: np.ndarray
    ids: np.ndarray
    vectors: np.ndarray


def read_changes(space_id, layer, previous):
    """The Changes since `previous` (a saved index of an older version), or None when more
    than REUSE_MAX_CHANGED of the layer changed. A layer's row ids cost a fraction of its
    vectors to read, and most version moves add or replace a few tracks."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT version, dim, layer_dims::text FROM analysis_embeddingspace WHERE id = %s", [space_id])
        version, dim, layer_dims = cursor.fetchone()
        width = _width(dim, layer_dims, layer)
        current = _copy_row_ids(cursor, space_id, layer)
        live = previous.embedding_rows != HOLE
        removed = np.flatnonzero(live & ~np.isin(previous.embedding_rows, current))
        new = current[~np.isin(current, previous.embedding_rows)]
        if len(removed) + len(new) > REUSE_MAX_CHANGED * max(len(current), 1):
            return None
        data = _copy_out(cursor, "SELECT id, track_id, vector FROM analysis_trackembedding WHERE id = ANY(%s)",
                         [new.tolist()])
    rows, ids, fresh = _parse_copy(data, width, space_id, layer)
    faiss.normalize_L2(fresh)
    return Changes(version, removed, rows, ids, fresh)


def _merged(previous, changes):
    """read_vectors' answer from an exact saved index and the changes since."""
    kept = previous.embedding_rows != HOLE
    kept[changes.removed] = False
    kept = np.flatnonzero(kept)
    matrix = np.concatenate([previous.index.reconstruct_batch(kept), changes.vectors])
    rows = np.concatenate([previous.embedding_rows[kept], changes.rows])
    return changes.version, rows, np.concatenate([previous.ids[kept], changes.ids]), matrix


def _update(previous, changes):
    """(index, embedding rows, track ids): a private copy of the saved index (the mapped
    one is read-only and other processes still answer from its file) with the removed rows
    taken out by label and the new ones added, assigned to lists by the trained quantiser."""
    index = faiss.read_index(str(previous.path))
    removed = np.ascontiguousarray(changes.removed, dtype=np.int64)
    if isinstance(faiss.downcast_index(index), faiss.IndexIVF):
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # the array kind cannot remove
        # The hashtable finds each label's list directly, but only from an IDSelectorArray.
        index.remove_ids(faiss.IDSelectorArray(len(removed), faiss.swig_ptr(removed)))
        index.add_with_ids(changes.vectors, np.arange(len(previous.ids), len(previous.ids) + len(changes.ids)))
        ids, rows = previous.ids.copy(), previous.embedding_rows.copy()
        ids[removed] = rows[removed] = HOLE
    else:
        index.remove_ids(faiss.IDSelectorBatch(removed))  # a scan of every row: hashed membership
        index.add(changes.vectors)
        ids, rows = np.delete(previous.ids, removed), np.delete(previous.embedding_rows, removed)
    return index, np.concatenate([rows, changes.rows]), np.concatenate([ids, changes.ids])


def _training(index, matrix):
    """What re-training is measured against: the rows an index was built from and, for an
    IVF, the mean quantisation error of a sample of them (as `_quantisation_error`)."""
    if not isinstance(faiss.downcast_index(index), faiss.IndexIVF):
        return dict(trained=len(matrix))
    sample = matrix[np.random.default_rng(0).choice(len(matrix), min(len(matrix), 10_000), replace=False)]
    return dict(trained=len(matrix), error=_quantisation_error(index, sample) / len(sample), added=0, added_error=0.0)


def _quantisation_error(index, vectors):
    """Sum over unit rows of 1 - cosine to the nearest IVF centroid (half the squared distance)."""
    scores, _ = index.quantizer.search(vectors, 1)
    return float(len(vectors) - scores.sum(dtype=np.float64))


def _updated_training(previous, changes):
    """The training record after updating `previous` in place with `changes`, or None when
    it must be built again: no record (an older file), the layer crossing
    MESS_FAISS_EXACT_MAX, or an IVF grown, shrunk or drifted past its thresholds."""
    training = previous.training
    kind = backend_name(previous.index)
    if training is None:
        return None
    live = int(previous.index.ntotal) - len(changes.removed) + len(changes.ids)
    if (live <= settings.MESS_FAISS_EXACT_MAX) != kind.startswith("faiss-flat"):
        return None
    if kind.startswith("faiss-flat"):
        return training
    slots = len(previous.ids) + len(changes.ids)
    if slots > IVF_RETRAIN_GROWTH * training["trained"] or live * IVF_RETRAIN_GROWTH < training["trained"]:
        return None
    added = training["added"] + len(changes.ids)
    added_error = training["added_error"] + _quantisation_error(previous.index, changes.vectors)
    mean = (training["error"] * training["trained"] + added_error) / (training["trained"] + added)
    if mean > (1 + IVF_RETRAIN_DRIFT) * training["error"]:
        return None
    return {**training, "added": added, "added_error": added_error}


def _copy_in_snapshot(snapshot, space_id, layer, part, parts):
    """One share of the rows, on this thread's own connection, in the exported snapshot."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            return _copy_rows(cursor, space_id, layer, part, parts)
    finally:
        connection.close()


def _copy_out(cursor, select, params=None):
    """The binary COPY of a SELECT's rows, as one buffer."""
    data = bytearray()
    # The psycopg cursor itself: Django's debug wrapper (DEBUG=1) takes no COPY parameters.
    with cursor.cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)", params) as copy:
        for block in copy:
            data += block
    return data


def _copy_rows(cursor, space_id, layer, part, parts):
    return _copy_out(cursor, "SELECT id, track_id, vector FROM analysis_trackembedding WHERE space_id = %s "
                             "AND layer = %s AND track_id %% %s = %s", [space_id, layer, parts, part])


def _copy_row_ids(cursor, space_id, layer):
    """The TrackEmbedding ids of one layer, in one binary COPY."""
    data = _copy_out(cursor, "SELECT id FROM analysis_trackembedding WHERE space_id = %s AND layer = %s",
                     [space_id, layer])
    row = np.dtype([("fields", ">i2"), ("row_len", ">i4"), ("row", ">i8")])
    count = (len(data) - COPY_HEADER_BYTES - COPY_TRAILER_BYTES) // row.itemsize
    return np.frombuffer(data, dtype=row, count=count, offset=COPY_HEADER_BYTES)["row"].astype(np.int64)


def _parse_copy(data, dim, space_id, layer):
    """(embedding row ids, track ids, float32 vectors) of one binary COPY. Each row: field
    count, then (length, int8 row id), (length, int8 track id), (length, pgvector's binary
    form: int16 dim, int16 unused, float4[dim]), all big-endian."""
    row = np.dtype([("fields", ">i2"), ("row_len", ">i4"), ("row", ">i8"), ("id_len", ">i4"), ("id", ">i8"),
                    ("vector_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vector", ">f4", (dim,))])
    body = len(data) - COPY_HEADER_BYTES - COPY_TRAILER_BYTES
    records = np.frombuffer(data, dtype=row, count=body // row.itemsize, offset=COPY_HEADER_BYTES)
    if body % row.itemsize or (records["dim"] != dim).any():
        raise ValueError(f"space {space_id} layer {layer} holds vectors that are not {dim}-dimensional")
    return records["row"].astype(np.int64), records["id"].astype(np.int64), records["vector"].astype(np.float32)


def _width(dim, layer_dims, layer):
    """EmbeddingSpace.layer_dim from the row's columns (layer_dims as JSON text)."""
    widths = json.loads(layer_dims)
    return widths[layer] if widths else dim


def build(matrix):
    """A FAISS index over the rows of a normalised [n, dim] float32 matrix, row i at id i."""
    n, dim = matrix.shape
    quantizer = QUANTIZERS[settings.MESS_FAISS_COMPRESSION]
    if n <= settings.MESS_FAISS_EXACT_MAX:
        if quantizer is None:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexScalarQuantizer(dim, quantizer, faiss.METRIC_INNER_PRODUCT)
    elif settings.MESS_FAISS_APPROXIMATE == "ivf":
        return _build_ivf(matrix, quantizer)
    else:
        m = settings.MESS_FAISS_HNSW_M
        if quantizer is None:
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWSQ(dim, quantizer, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.MESS_FAISS_HNSW_EF_CONSTRUCTION
    if not index.is_trained:
        index.train(matrix)
    index.add(matrix)
    return index


def _build_ivf(matrix, quantizer):
    """IVF: sqrt(n) lists, trained on a sample; builds several times faster than HNSW."""
    n, dim = matrix.shape
    lists = max(1, round(np.sqrt(n)))
    coarse = faiss.IndexFlatIP(dim)
    if quantizer is None:
        index = faiss.IndexIVFFlat(coarse, dim, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(coarse, dim, lists, quantizer, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_TRAINING_ITERATIONS
    sample = np.random.default_rng(0).choice(n, min(n, IVF_TRAINING_PER_LIST * lists), replace=False)
    index.train(matrix[np.sort(sample)])
    index.add(matrix)
    index.make_direct_map()  # `vectors()` reconstructs rows by id
    return index


def backend_name(index):
    """"faiss-flat", "faiss-hnsw" or "faiss-ivf", with "-fp16" or "-sq8" when the vectors are compressed."""
    index = faiss.downcast_index(index)
    kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "ivf" if isinstance(index, faiss.IndexIVF) else "flat"
    storage = faiss.downcast_index(index.storage) if kind == "hnsw" else index
    suffix = ""
    if isinstance(storage, (faiss.IndexScalarQuantizer, faiss.IndexIVFScalarQuantizer)):
        suffix = "-fp16" if storage.sq.qtype == faiss.ScalarQuantizer.QT_fp16 else "-sq8"
    return f"faiss-{kind}{suffix}"


def index_dir():
    return Path(settings.MESS_INDEX_DIR)


def _checked_query(space, layer, query):
    if not 0 <= layer < space.num_layers:
        raise ValueError(f"space {space.pk} has layers 0-{space.num_layers - 1}, not {layer}")
    query = pgsearch.normalised(np.asarray(query, dtype=np.float32).ravel())
    if query.shape[1] != space.dim:
        raise ValueError(f"a {query.shape[1]}-dimensional query in the {space.dim}-dimensional space {space.pk}")
    return query


def _current(space, layer):
    """The index answering for (space, layer) now, or None (pgvector answers). Starts a
    background build when the space's version has moved past the index's."""
    if not settings.MESS_FAISS_ENABLED:
        return None
    return fresh(_slots, (space.pk, int(layer)), lambda: load_or_build(space.pk, layer))


def fresh(slots, key, build, limit=None):
    """What answers for `key` (a tuple starting with a space id) now: the entry of `slots`,
    or None before its first build. At most every MESS_INDEX_CHECK_SECONDS reads the
    space's version; when it has moved past the entry's, `build` (which returns the new
    entry) runs in a background thread while the old entry keeps answering. With a
    `limit`, `slots` is an OrderedDict keeping that many, least recently asked dropped."""
    with _lock:
        slot = slots.setdefault(key, _Slot())
        if limit is not None:
            slots.move_to_end(key)
            while len(slots) > limit:
                slots.popitem(last=False)
        now = time.monotonic()
        due = now - slot.checked_at >= settings.MESS_INDEX_CHECK_SECONDS
        if due:
            slot.checked_at = now
    if due:
        version = _db_version(key[0])
        if version is None:  # the space is gone
            with _lock:
                slots.pop(key, None)
            return None
        stale = slot.current is None or slot.current.version != version
        with _lock:
            start = stale and not slot.building
            slot.building = slot.building or start
        if start:
            name = "faiss-" + "-".join(map(str, key))
            threading.Thread(target=_refresh, args=(slot, build, key), name=name, daemon=True).start()
    return slot.current


def _refresh(slot, build, key):
    # Requests go first: this thread (and the faiss threads it starts) runs niced, on one
    # core fewer than the host has (OpenMP's thread count is per calling thread).
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BUILD_NICENESS)
    faiss.omp_set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    try:
        slot.current = build()
    except EmbeddingSpace.DoesNotExist:
        pass  # deleted while this was being built: the next look drops its slot
    except Exception:
        log.exception("building the index %s failed; the previous one (or the fallback) answers", key)
    finally:
        slot.building = False
        connection.close()  # this thread's own connection


def _db_version(space_id):
    return EmbeddingSpace.objects.filter(pk=space_id).values_list("version", flat=True).first()


def _path(space_id, created, layer, version):
    return shaped_path(space_id, created, f"l{layer}", version)


def shaped_path(space_id, created, part, version):
    """The file of one version of a space's index `part` (l{layer}, or a passage index's)."""
    # The settings that shape an index are part of its name: changing them rebuilds. So is
    # the space's creation time: ids and versions repeat in a recreated (e.g. test) database.
    shape = "-".join(str(getattr(settings, name)) for name in (
        "MESS_FAISS_COMPRESSION", "MESS_FAISS_EXACT_MAX", "MESS_FAISS_APPROXIMATE",
        "MESS_FAISS_HNSW_M", "MESS_FAISS_HNSW_EF_CONSTRUCTION"))
    return index_dir() / f"s{space_id}-{_stamp(created)}_{part}_v{version}_{shape}.faiss"


def _stamp(created):
    return int(created.timestamp() * 1e6)


# s{id}-{stamp}_l... for an index and its row files (a leading dot while being written),
# s{id}_l{layer}.lock for a lock, which has no stamp; _w... for a passage index's.
_SPACE_FILE = re.compile(r"\.?s(\d+)(?:-(\d+))?_[lw]")


def file_owner(name):
    """(space id, creation stamp or None for a lock) of a file in the index folder, or
    None for a name this module does not write."""
    match = _SPACE_FILE.match(name)
    return (int(match[1]), match[2] and int(match[2])) if match else None


def owners(space_id, created):
    """The file_owner() values of the space's files."""
    return {(space_id, _stamp(created)), (space_id, None)}


def space_files(space_id, created):
    """The space's files in the index folder: every layer's indices, their rows, its locks."""
    mine = owners(space_id, created)
    folder = index_dir()
    return [path for path in folder.iterdir() if file_owner(path.name) in mine] if folder.is_dir() else []


def _ids_path(path):
    return array_path(path, "ids")


def _rows_path(path):
    return array_path(path, "rows")


def _training_path(path):
    return path.with_suffix(".training.json")


def _save(index, rows, ids, training, path):
    # The training record before save(), which writes the .faiss file (what a reader looks for) last.
    temp = path.with_name(f".{path.name}.{os.getpid()}.json")
    temp.write_text(json.dumps(training))
    os.replace(temp, _training_path(path))
    save(index, path, {"ids": ids, "rows": rows})


def array_path(path, name):
    """The file of one of the arrays saved beside the index at `path`."""
    return path.with_suffix(f".{name}.npy")


def save(index, path, arrays):
    """Write the index and its {name: array} atomically (arrays first: a reader looks for
    the .faiss file), then drop the files of older versions; processes still mapping them
    keep their pages."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    for name, array in arrays.items():
        np.save(temp, array)  # appends .npy
        os.replace(temp.with_name(temp.name + ".npy"), array_path(path, name))
    faiss.write_index(index, str(temp))
    os.replace(temp, path)
    stem = path.name.split("_v")[0]
    for old in path.parent.glob(f"{stem}_v*"):
        if old.name.split(".")[0] != path.stem:
            old.unlink(missing_ok=True)


def _load(path, space_id, layer):
    index = mapped(path)
    ids = np.load(_ids_path(path))
    rows = np.load(_rows_path(path)) if _rows_path(path).exists() else None
    training = json.loads(_training_path(path).read_text()) if _training_path(path).exists() else None
    stat = path.stat()
    return LayerIndex(space_id, layer, file_version(path), index, ids, np.argsort(ids, kind="stable"), path, rows,
                      datetime.fromtimestamp(stat.st_mtime, timezone.utc), stat.st_size, training)


def mapped(path):
    # IO_FLAG_MMAP_IFC maps the vectors (and graph) instead of copying them to the heap.
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)


def file_version(path):
    return int(path.stem.split("_v")[1].split("_")[0])


def _previous(space_id, created, layer):
    """The newest saved index of this (space, layer) and shape that knows its rows and can
    be updated in place (flat or IVF: an HNSW graph cannot remove), or None."""
    saved = _saved(space_id, created).get(layer)
    if saved is None or not _rows_path(saved).exists():
        return None
    previous = _load(saved, space_id, layer)
    return None if backend_name(previous.index).startswith("faiss-hnsw") else previous


def _exact(previous):
    """Whether the saved vectors read back exactly (uncompressed flat or IVF)."""
    return backend_name(previous.index) in ("faiss-flat", "faiss-ivf")


def _search_params(index, k, selector=None):
    if isinstance(faiss.downcast_index(index), faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(k, settings.MESS_FAISS_HNSW_EF_SEARCH)
    elif isinstance(faiss.downcast_index(index), faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = settings.MESS_FAISS_IVF_NPROBE
    else:
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector
    return params


def _pairs(entry, scores, rows, excluded):
    pairs = ((int(entry.ids[row]), float(score)) for score, row in zip(scores, rows) if row >= 0)
    return [(track_id, score) for track_id, score in pairs if track_id not in excluded]
