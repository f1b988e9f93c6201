"""Nearest neighbours in PostgreSQL with pgvector: the fallback that answers whenever a
process has no in-memory index for a (space, layer), and the engine that scales past one host.

`analysis_trackembedding.vector` has no fixed dimension (spaces of different sizes share
the table, and a layer is stored at its own width, `space.layer_dim`), and pgvector
indexes only fixed-size columns. So each (space, layer) gets a partial HNSW index on the
expression ``vector::vector(width)``; queries repeat that exact expression and WHERE clause
(with the ids inlined as literals) so the planner can use it. Queries come at the space's
dim and are cut to the layer's width (the rest is padding).
"""

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from analysis.embeddings import padded
from analysis.models import TrackEmbedding


def index_name(space_id, layer):
    return f"embedding_hnsw_s{int(space_id)}_l{int(layer)}"


def ensure_hnsw_indexes(space, layers=None):
    """Create the partial HNSW index of every layer (or the given ones) of `space` (idempotent). Building on a
    large table takes a while and blocks writes to it: run it when the space is created, so
    later rows are indexed as they are inserted."""
    with connection.cursor() as cursor:
        for layer in range(space.num_layers) if layers is None else layers:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {index_name(space.pk, layer)} ON analysis_trackembedding "
                f"USING hnsw ((vector::vector({int(space.layer_dim(layer))})) vector_cosine_ops) "
                f"WHERE {_predicate(space.pk, layer)}"
            )


def search(space, layer, query, k, *, exclude=(), allowed=None):
    """Up to k (track_id, cosine) best first, as `recommendations.index.search`."""
    if k <= 0 or (allowed is not None and not allowed):
        return []
    width = int(space.layer_dim(layer))
    distance = f"(vector::vector({width})) <=> %(query)s::vector({width})"
    conditions = [_predicate(space.pk, layer)]
    params = {"query": _vector_literal(np.asarray(query).ravel()[:width]), "k": int(k)}
    if exclude:
        conditions.append("NOT (track_id = ANY(%(exclude)s))")
        params["exclude"] = [int(i) for i in exclude]
    if allowed is not None:
        conditions.append("track_id = ANY(%(allowed)s)")
        params["allowed"] = [int(i) for i in allowed]
    sql = (
        f"SELECT track_id, 1 - ({distance}) FROM analysis_trackembedding "
        f"WHERE {' AND '.join(conditions)} ORDER BY {distance} LIMIT %(k)s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # pgvector caps ef_search at 1000 and never returns more rows than it.
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [min(max(int(k), ef_search()), 1000)])
        if exclude or allowed is not None:
            # Filters apply after the index scan; without this a filtered query can come back short.
            cursor.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        cursor.execute(sql, params)
        return [(track_id, float(score)) for track_id, score in cursor.fetchall()]


def fetch_vectors(space, layer, track_ids):
    """[len(track_ids), dim] L2-normalised float32 from the database, rows in the given
    order; KeyError naming the ids that have no embedding in this (space, layer)."""
    track_ids = [int(i) for i in track_ids]
    found = dict(
        TrackEmbedding.objects.filter(space=space, layer=layer, track_id__in=track_ids).values_list("track_id", "vector")
    )
    missing = [i for i in track_ids if i not in found]
    if missing:
        raise KeyError(f"no layer-{layer} embedding in space {space.pk} for tracks {missing[:10]}")
    matrix = np.array([found[i] for i in track_ids], dtype=np.float32).reshape(len(track_ids), space.layer_dim(layer))
    return padded(normalised(matrix), space.dim)


def normalised(matrix):
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.array(matrix, dtype=np.float32, copy=True, ndmin=2)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1)


def ef_search():
    return settings.MESS_PGVECTOR_EF_SEARCH


def _predicate(space_id, layer):
    return f"space_id = {int(space_id)} AND layer = {int(layer)}"


def _vector_literal(query):
    return "[" + ",".join(map(repr, np.asarray(query, dtype=np.float32).ravel().tolist())) + "]"
