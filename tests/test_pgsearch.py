"""pgvector answers the same nearest-neighbour query as the in-memory index: exact scans
and the per-(space, layer) partial HNSW index agree, with exclusions and filters."""

import numpy as np
import pytest
from django.db import connection, transaction

from analysis.models import EmbeddingSpace, TrackEmbedding
from catalog.models import Track
from recommendations import pgsearch
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)
LAYERS, DIM = 2, 32


def make_space(name="tiny", active=True):
    return EmbeddingSpace.objects.create(
        name=name, model_id=name, weights_hash=name.ljust(64, "0"), num_layers=LAYERS, dim=DIM,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=active,
    )


def clustered(n, seed, dim=DIM, clusters=8):
    """Unit vectors around a few centres: neighbours are well defined, ties are unlikely."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    vectors = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def make_catalogue(space, n=300, seed=0):
    """n tracks with one clustered vector per layer in `space`: {layer: (track ids, [n, dim])}."""
    dataset = make_dataset(f"Synthetic {space.pk}-{seed}")
    tracks = Track.objects.bulk_create(
        Track(dataset=dataset, title=f"t{i}", audio_path=f"x/{i}.wav", sha256=f"{seed}-{i}", duration=10,
              sample_rate=24000, channels=1, format="WAV", size_bytes=1)
        for i in range(n)
    )
    ids = np.array([t.pk for t in tracks])
    layers = {}
    for layer in range(space.num_layers):
        vectors = clustered(n, seed=seed * 100 + layer)
        TrackEmbedding.objects.bulk_create(
            TrackEmbedding(track_id=track_id, space=space, layer=layer, vector=v) for track_id, v in zip(ids, vectors)
        )
        layers[layer] = (ids, vectors)
    return layers


def brute_force(ids, vectors, query, k, exclude=()):
    scores = vectors @ (query / np.linalg.norm(query))
    order = [i for i in np.argsort(-scores) if ids[i] not in exclude][:k]
    return [int(ids[i]) for i in order], scores[order]


def exact_scan(*args, **kwargs):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        return pgsearch.search(*args, **kwargs)


@pytest.fixture
def space():
    return make_space()


@pytest.fixture
def catalogue(space):
    return make_catalogue(space)


def test_exact_scan_returns_the_true_neighbours_with_cosine_scores(space, catalogue):
    ids, vectors = catalogue[1]
    query = vectors[5] * 3  # any length: cosine ignores it
    results = exact_scan(space, 1, query, 10)
    expected_ids, expected_scores = brute_force(ids, vectors, query, 10)
    assert [track_id for track_id, _ in results] == expected_ids
    np.testing.assert_allclose([score for _, score in results], expected_scores, atol=1e-5)
    assert results[0] == (int(ids[5]), pytest.approx(1.0, abs=1e-5))


def test_hnsw_index_is_used_and_agrees_with_the_exact_scan(space, catalogue, settings):
    settings.MESS_PGVECTOR_EF_SEARCH = 400
    pgsearch.ensure_hnsw_indexes(space)
    pgsearch.ensure_hnsw_indexes(space)  # idempotent
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", [f"embedding_hnsw_s{space.pk}_%"])
        assert sorted(name for (name,) in cursor.fetchall()) == [pgsearch.index_name(space.pk, layer) for layer in range(LAYERS)]
    ids, vectors = catalogue[0]
    with transaction.atomic(), connection.cursor() as cursor:
        # 300 rows: the planner would rather scan them, or sort what the btree finds.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(
            f"EXPLAIN SELECT track_id FROM analysis_trackembedding WHERE space_id = {space.pk} AND layer = 0 "
            f"ORDER BY (vector::vector({DIM})) <=> %s::vector({DIM}) LIMIT 10", [pgsearch._vector_literal(vectors[0])]
        )
        assert pgsearch.index_name(space.pk, 0) in " ".join(line for (line,) in cursor.fetchall())
        for row in (0, 17, 123):
            assert pgsearch.search(space, 0, vectors[row], 10) == exact_scan(space, 0, vectors[row], 10)


def test_exclusions_and_allowed_ids_are_respected(space, catalogue):
    ids, vectors = catalogue[0]
    query_id = int(ids[7])
    results = exact_scan(space, 0, vectors[7], 5, exclude={query_id})
    assert query_id not in [track_id for track_id, _ in results]
    assert [track_id for track_id, _ in results] == brute_force(ids, vectors, vectors[7], 5, exclude={query_id})[0]

    allowed = {int(i) for i in ids[100:110]}
    filtered = pgsearch.search(space, 0, vectors[7], 20, exclude={query_id}, allowed=allowed)
    assert {track_id for track_id, _ in filtered} == allowed  # all ten, though none is a near neighbour
    assert pgsearch.search(space, 0, vectors[7], 5, allowed=set()) == []


def test_another_spaces_vectors_are_never_returned(space, catalogue):
    other = make_space("other", active=False)
    other_ids = set(make_catalogue(other, n=50, seed=9)[0][0].tolist())
    ids, vectors = catalogue[0]
    results = pgsearch.search(space, 0, vectors[0], 400)
    assert len(results) == len(ids)
    assert not other_ids & {track_id for track_id, _ in results}


def test_fetch_vectors_keeps_order_and_names_missing_tracks(space, catalogue):
    ids, vectors = catalogue[1]
    np.testing.assert_allclose(pgsearch.fetch_vectors(space, 1, [ids[3], ids[1]]), vectors[[3, 1]], atol=1e-6)
    with pytest.raises(KeyError):
        pgsearch.fetch_vectors(space, 1, [ids[0], 10**12])
