"""Each process's FAISS indices answer like pgvector, stay fresh when embeddings change,
and are shared between processes through memory-mapped files."""

import time

import faiss
import numpy as np
import pytest
from django.core.management import call_command
from django.db.models import F

from analysis.embeddings import store_track_embeddings
from analysis.models import EmbeddingSpace, TrackEmbedding
from catalog.models import Track
from recommendations import index
from tests.factories import make_dataset, make_track
from tests.test_pgsearch import (  # noqa: F401 (space and catalogue are fixtures)
    DIM, LAYERS, brute_force, catalogue, exact_scan, make_catalogue, make_space, space,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_registry(settings, tmp_path):
    settings.MESS_INDEX_DIR = tmp_path / "indexes"
    settings.MESS_INDEX_CHECK_SECONDS = 0
    index.clear()
    yield
    index.clear()


def wait_for_index(space, layer, timeout=30):
    """Search until this process answers from a FAISS index of the space's current version."""
    space.refresh_from_db()
    deadline = time.monotonic() + timeout
    while True:
        index.search(space, layer, np.ones(space.dim, np.float32), 1)
        row = next(r for r in index.index_status() if (r["space"], r["layer"]) == (space.pk, layer))
        if row["version"] == space.version and row["backend"].startswith("faiss"):
            return row
        assert time.monotonic() < deadline, f"no index of version {space.version}: {row}"
        time.sleep(0.02)


def ids_of(results):
    return [track_id for track_id, _ in results]


def test_pgvector_answers_until_the_index_is_built_then_faiss_agrees(space, catalogue):
    ids, vectors = catalogue[1]
    expected = exact_scan(space, 1, vectors[4], 10, exclude={int(ids[4])})
    assert ids_of(index.search(space, 1, vectors[4], 10, exclude={int(ids[4])})) == ids_of(expected)

    status = wait_for_index(space, 1)
    assert status["backend"] == "faiss-flat" and status["size"] == len(ids) and status["memory_bytes"] > 0
    results = index.search(space, 1, vectors[4], 10, exclude={int(ids[4])})
    assert ids_of(results) == ids_of(expected)
    np.testing.assert_allclose([s for _, s in results], [s for _, s in expected], atol=1e-5)
    # Only the layer asked for is loaded.
    assert [(r["space"], r["layer"]) for r in index.index_status()] == [(space.pk, 1)]


@pytest.mark.parametrize("approximate, compression, backend, min_overlap", [
    ("hnsw", "none", "faiss-hnsw", 10), ("hnsw", "fp16", "faiss-hnsw-fp16", 9), ("hnsw", "sq8", "faiss-hnsw-sq8", 8),
    ("ivf", "none", "faiss-ivf", 9), ("ivf", "sq8", "faiss-ivf-sq8", 8),
])
def test_approximate_and_compressed_indices_find_the_same_neighbours(space, catalogue, settings, approximate,
                                                                      compression, backend, min_overlap):
    settings.MESS_FAISS_EXACT_MAX = 100
    settings.MESS_FAISS_APPROXIMATE = approximate
    settings.MESS_FAISS_COMPRESSION = compression
    ids, vectors = catalogue[0]
    assert wait_for_index(space, 0)["backend"] == backend
    for row in (0, 50, 250):
        expected = brute_force(ids, vectors, vectors[row], 10)[0]
        assert len(set(ids_of(index.search(space, 0, vectors[row], 10))) & set(expected)) >= min_overlap
    # Rows can be read back from every kind of index (MMR and mixes rescore from them).
    np.testing.assert_allclose(index.vectors(space, 0, [int(ids[7])])[0], vectors[7] / np.linalg.norm(vectors[7]),
                               atol=0.02)


@pytest.mark.parametrize("exact_max", [20_000, 0], ids=["scored-exactly", "filtered-search"])
def test_allowed_ids_restrict_results(space, catalogue, settings, exact_max):
    settings.MESS_FAISS_ALLOWED_EXACT_MAX = exact_max
    ids, vectors = catalogue[0]
    wait_for_index(space, 0)
    allowed = {int(i) for i in ids[100:110]} | {10**12}  # a track without embeddings is ignored
    results = index.search(space, 0, vectors[100], 20, exclude={int(ids[100])}, allowed=allowed)
    assert set(ids_of(results)) == allowed - {int(ids[100]), 10**12}
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_another_spaces_tracks_are_never_returned(space, catalogue):
    other = make_space("other", active=False)
    other_ids = set(make_catalogue(other, n=50, seed=9)[0][0].tolist())
    ids, vectors = catalogue[0]
    wait_for_index(space, 0)
    wait_for_index(other, 0)
    assert not other_ids & set(ids_of(index.search(space, 0, vectors[0], 400)))


def test_vectors_are_normalised_rows_in_the_order_asked(space, catalogue):
    ids, vectors = catalogue[1]
    for _ in range(2):  # from pgvector, then from the index
        np.testing.assert_allclose(index.vectors(space, 1, [ids[9], ids[2]]), vectors[[9, 2]], atol=1e-6)
        with pytest.raises(KeyError):
            index.vectors(space, 1, [ids[0], 10**12])
        wait_for_index(space, 1)


@pytest.mark.parametrize("connections", [1, 3])
@pytest.mark.parametrize("debug", [False, True])  # DEBUG wraps cursors in Django's query logger
def test_the_bulk_read_returns_every_row_once_whatever_the_connections(space, catalogue, settings, connections,
                                                                       debug):
    settings.MESS_INDEX_READ_CONNECTIONS = connections
    settings.DEBUG = debug
    ids, vectors = catalogue[1]
    version, _rows, read_ids, matrix = index.read_vectors(space.pk, 1)
    assert version == space.version
    order = np.argsort(read_ids)
    assert read_ids[order].tolist() == sorted(ids)
    np.testing.assert_allclose(matrix[order], vectors[np.argsort(ids)], atol=1e-6)


def test_new_embeddings_appear_and_deleted_tracks_disappear_without_restart(space, catalogue):
    ids, vectors = catalogue[0]
    wait_for_index(space, 0)
    query = -vectors[0]  # far from every clustered track
    newcomer = make_track(title="newcomer")
    store_track_embeddings(
        newcomer, space, track_mean=np.stack([query] * LAYERS),
        window_means=np.stack([np.stack([query] * LAYERS)] * 2), window_starts=[0, 2.5],
    )
    # The old index answers until the new one is swapped in.
    assert newcomer.pk not in ids_of(index.search(space, 0, query, 5))
    wait_for_index(space, 0)
    assert index.search(space, 0, query, 1)[0] == (newcomer.pk, pytest.approx(1.0, abs=1e-5))

    newcomer.delete()  # the delete trigger moves the space's version
    wait_for_index(space, 0)
    assert newcomer.pk not in ids_of(index.search(space, 0, query, 5))
    Track.objects.filter(pk__in=ids[:150].tolist()).delete()
    status = wait_for_index(space, 0)
    assert status["size"] == len(ids) - 150


@pytest.mark.parametrize("exact_max", [50_000, 0], ids=["flat", "ivf"])
def test_a_refresh_reads_only_the_rows_written_since(space, catalogue, settings, monkeypatch, exact_max):
    settings.MESS_FAISS_EXACT_MAX = exact_max
    settings.MESS_FAISS_IVF_NPROBE = 64  # every list: the IVF answers exactly
    ids, vectors = catalogue[0]
    index.load_or_build(space.pk, 0)
    # One track re-extracted (new vector, new row), one added, one deleted: 3 of 300 rows.
    moved, newcomer = Track.objects.get(pk=ids[7]), make_track(title="newcomer")
    for track, vector in ((moved, -vectors[0]), (newcomer, -vectors[1])):
        store_track_embeddings(track, space, track_mean=np.stack([vector] * LAYERS),
                               window_means=np.stack([np.stack([vector] * LAYERS)]), window_starts=[0])
    Track.objects.filter(pk=ids[8]).delete()
    monkeypatch.setattr(index, "read_vectors", lambda *args: pytest.fail("read the whole layer again"))
    refreshed = index.load_or_build(space.pk, 0)
    assert refreshed.index.ntotal == len(ids) and ids[8] not in refreshed.ids
    wait_for_index(space, 0)  # this process swaps in the saved refresh
    for track_id, vector in ((moved.pk, -vectors[0]), (newcomer.pk, -vectors[1]), (ids[3], vectors[3])):
        np.testing.assert_allclose(index.vectors(space, 0, [track_id])[0], vector / np.linalg.norm(vector), atol=1e-6)
    for query in (-vectors[0], vectors[5]):
        assert ids_of(index.search(space, 0, query, 5)) == ids_of(exact_scan(space, 0, query, 5))


def test_a_refresh_after_many_changes_reads_the_whole_layer(space, catalogue, monkeypatch):
    ids, _ = catalogue[0]
    index.load_or_build(space.pk, 0)
    Track.objects.filter(pk__in=ids[:100].tolist()).delete()  # a third of the layer
    full_reads = []
    read = index.read_vectors
    monkeypatch.setattr(index, "read_vectors", lambda *args: full_reads.append(args) or read(*args))
    assert len(index.load_or_build(space.pk, 0).ids) == len(ids) - 100
    assert full_reads == [(space.pk, 0)]


def test_a_saved_index_is_memory_mapped_by_the_next_process(space, catalogue, settings):
    ids, vectors = catalogue[0]
    first = wait_for_index(space, 0)
    before = index.search(space, 0, vectors[3], 10)
    index.clear()  # as a fresh process: finds the file of the current version, builds nothing
    again = wait_for_index(space, 0)
    assert again["built_at"] == first["built_at"]
    assert index.search(space, 0, vectors[3], 10) == before
    files = sorted(p.name for p in settings.MESS_INDEX_DIR.iterdir())
    saved = f"s{space.pk}-{int(space.created_at.timestamp() * 1e6)}_l0_v{space.version}_none-50000-ivf-32-64"
    assert files == [f"{saved}.faiss", f"{saved}.ids.npy", f"{saved}.rows.npy", f"{saved}.training.json",
                     f"s{space.pk}_l0.lock"]

    settings.MESS_FAISS_COMPRESSION = "sq8"  # another shape of index is built, not the saved one reused
    index.clear()
    assert wait_for_index(space, 0)["backend"] == "faiss-flat-sq8"


def test_build_indexes_saves_every_layer_of_the_active_space(space, catalogue, settings):
    call_command("build_indexes")
    saved = sorted(p.name for p in settings.MESS_INDEX_DIR.glob("*.faiss"))
    created = int(space.created_at.timestamp() * 1e6)
    assert saved == [f"s{space.pk}-{created}_l{layer}_v{space.version}_none-50000-ivf-32-64.faiss" for layer in range(LAYERS)]


def test_status_lists_saved_indices_before_any_query_then_loaded_ones(space, catalogue, settings):
    """Right after build_indexes (the demo, make run) a process that has answered no query yet
    still reports every saved layer, as saved rather than loaded."""
    call_command("build_indexes")
    status = index.index_status()
    assert [(r["layer"], r["loaded"], r["memory_bytes"]) for r in status] == [(layer, False, 0) for layer in range(LAYERS)]
    assert all(r["version"] == space.version and r["size"] == len(catalogue[0][0]) for r in status)
    loaded = wait_for_index(space, 1)
    assert loaded["loaded"] and loaded["memory_bytes"] > 0
    assert sorted((r["layer"], r["loaded"]) for r in index.index_status()) == [
        (layer, layer == 1) for layer in range(LAYERS)
    ]


def test_disabled_faiss_answers_from_pgvector(space, catalogue, settings):
    settings.MESS_FAISS_ENABLED = False
    ids, vectors = catalogue[0]
    assert ids_of(index.search(space, 0, vectors[1], 5)) == ids_of(exact_scan(space, 0, vectors[1], 5))
    assert index.index_status() == []


def test_queries_of_the_wrong_shape_or_layer_are_refused(space, catalogue):
    with pytest.raises(ValueError):
        index.search(space, 0, np.ones(DIM + 1, np.float32), 5)
    with pytest.raises(ValueError):
        index.search(space, LAYERS, np.ones(DIM, np.float32), 5)


def add_layer_rows(space, vectors, title):
    """Tracks with these layer-0 vectors, written as one version move (as an import would)."""
    dataset = make_dataset(title)
    tracks = Track.objects.bulk_create(
        Track(dataset=dataset, title=f"{title}{i}", audio_path=f"x/{i}.wav", sha256=f"{title}-{i}", duration=10,
              sample_rate=24000, channels=1, format="WAV", size_bytes=1) for i in range(len(vectors)))
    TrackEmbedding.objects.bulk_create(TrackEmbedding(track=t, space=space, layer=0, vector=v)
                                       for t, v in zip(tracks, vectors))
    EmbeddingSpace.objects.filter(pk=space.pk).update(version=F("version") + 1)
    return [t.pk for t in tracks]


def churn(space, ids, vectors):
    """A version move touching 8 of the 300 rows: 4 tracks deleted, 4 added near others."""
    Track.objects.filter(pk__in=ids[10:14].tolist()).delete()
    return add_layer_rows(space, vectors[20:24] + 0.01, "near")


@pytest.mark.parametrize("exact_max, nprobe", [(50_000, None), (0, 2)], ids=["flat", "ivf"])
def test_an_update_in_place_finds_what_a_rebuild_finds(space, catalogue, settings, monkeypatch, exact_max, nprobe):
    """Flat: the same rows in the same order as a rebuild, so identical answers. IVF: the
    same neighbours as the same trained quantiser filled with the whole layer afresh, at
    few probes (lists must match, not just the top of the ranking)."""
    settings.MESS_FAISS_EXACT_MAX = exact_max
    settings.MESS_FAISS_IVF_NPROBE = nprobe or settings.MESS_FAISS_IVF_NPROBE
    ids, vectors = catalogue[0]
    before = index.load_or_build(space.pk, 0)
    churn(space, ids, vectors)
    monkeypatch.setattr(index, "build", lambda *args: pytest.fail("built again instead of updating"))
    updated = index.load_or_build(space.pk, 0)
    assert updated.training["trained"] == len(ids)
    _, rows, fresh_ids, matrix = index.read_vectors(space.pk, 0)
    assert sorted(updated.embedding_rows[updated.embedding_rows != index.HOLE]) == sorted(rows)
    if exact_max:  # rebuilt from the same rows in the same order, ties break alike
        order = np.argsort(rows)[np.searchsorted(rows, updated.embedding_rows, sorter=np.argsort(rows))]
        rebuilt, rebuilt_ids = faiss.IndexFlatIP(matrix.shape[1]), fresh_ids[order]
        rebuilt.add(matrix[order])
    else:
        centroids = before.index.quantizer.reconstruct_n(0, before.index.nlist)
        np.testing.assert_array_equal(updated.index.quantizer.reconstruct_n(0, updated.index.nlist), centroids)
        rebuilt, rebuilt_ids = faiss.read_index(str(updated.path)), fresh_ids
        rebuilt.set_direct_map_type(faiss.DirectMap.NoMap)
        rebuilt.reset()  # keeps the trained quantiser, empties the lists
        rebuilt.add(matrix)
    queries = np.ascontiguousarray(matrix[::7])
    k = 20
    params = index._search_params(updated.index, k)
    got_scores, got = updated.index.search(queries, k, params=params)
    want_scores, want = rebuilt.search(queries, k, params=params)
    if exact_max:
        assert (updated.ids[got] == rebuilt_ids[want]).all()
        assert (got_scores == want_scores).all()
    else:
        for row in range(len(queries)):  # ties may come out in either order
            assert set(updated.ids[got[row]]) == set(rebuilt_ids[want[row]])
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-6)


@pytest.mark.parametrize("exact_max", [50_000, 0], ids=["flat", "ivf"])
def test_removed_tracks_never_come_back(space, catalogue, settings, monkeypatch, exact_max):
    settings.MESS_FAISS_EXACT_MAX = exact_max
    settings.MESS_FAISS_IVF_NPROBE = 64  # every list: nothing is missed by probing
    ids, vectors = catalogue[0]
    index.load_or_build(space.pk, 0)
    monkeypatch.setattr(index, "build", lambda *args: pytest.fail("built again instead of updating"))
    churn(space, ids, vectors)
    index.load_or_build(space.pk, 0)
    add_layer_rows(space, vectors[30:32] - 0.01, "later")  # a second update on top of the first
    index.load_or_build(space.pk, 0)
    wait_for_index(space, 0)
    gone = set(ids[10:14].tolist())
    for row in (10, 11, 13, 50):
        assert not gone & set(ids_of(index.search(space, 0, vectors[row], 400)))
    assert not gone & set(ids_of(index.search(space, 0, vectors[10], 400, allowed=set(ids.tolist()))))
    with pytest.raises(KeyError):
        index.vectors(space, 0, [int(ids[10])])
    assert wait_for_index(space, 0)["size"] == len(ids) - 4 + 4 + 2


def test_an_ivf_outgrown_or_drifted_from_its_training_is_trained_again(space, catalogue, settings, monkeypatch):
    settings.MESS_FAISS_EXACT_MAX = 0
    ids, vectors = catalogue[0]
    first = index.load_or_build(space.pk, 0)
    assert first.training["trained"] == len(ids) and first.training["added"] == 0
    builds = []
    build = index.build
    monkeypatch.setattr(index, "build", lambda matrix: builds.append(len(matrix)) or build(matrix))
    # Two tracks far from every centroid move the mean error too little: updated in place.
    add_layer_rows(space, -vectors[:2], "far")
    assert index.load_or_build(space.pk, 0).training["added"] == 2 and builds == []
    # Twelve more do (each ~10x the training error): the layer is clustered again.
    add_layer_rows(space, -vectors[2:14], "farther")
    drifted = index.load_or_build(space.pk, 0)
    assert builds == [len(ids) + 14]
    assert drifted.training == dict(drifted.training, trained=len(ids) + 14, added=0)
    assert (drifted.ids != index.HOLE).all()

    monkeypatch.setattr(index, "IVF_RETRAIN_GROWTH", 1.01)  # 1 % more rows than trained on
    add_layer_rows(space, vectors[40:42] + 0.01, "near")
    assert index.load_or_build(space.pk, 0).training["added"] == 2 and len(builds) == 1
    add_layer_rows(space, vectors[42:45] + 0.01, "nearer")
    assert index.load_or_build(space.pk, 0).training["trained"] == len(ids) + 19 and len(builds) == 2


def test_crossing_the_exact_limit_builds_the_other_kind(space, catalogue, settings):
    ids, vectors = catalogue[0]
    settings.MESS_FAISS_EXACT_MAX = len(ids) + 1
    assert index.backend_name(index.load_or_build(space.pk, 0).index) == "faiss-flat"
    add_layer_rows(space, vectors[:2] + 0.01, "over")
    assert index.backend_name(index.load_or_build(space.pk, 0).index) == "faiss-ivf"
