"""Similarity-search benchmark: `python -m bench.search [--tracks 100000] [--layer-tracks 20000]`.

Puts a synthetic catalogue in PostgreSQL under a dedicated dataset and embedding space
(deleted at the end): clustered unit vectors of 768 dims with a low intrinsic dimension,
as real embeddings have, `--tracks` of them in layer 0 and `--layer-tracks` in layers
1-12. Reports, in one run: index build time from the database, in-process query latency
(recommendations.index.search) for FAISS exact, FAISS HNSW and IVF (plain and 8-bit;
IVF is the default) and pgvector HNSW with recall@10 against the exact answer, the
research prototype's method (scikit-learn cosine_similarity then argsort) as the baseline; the
refresh after 1 % and then 10 % of layer 0 is rewritten (the saved index updated in place,
against a full rebuild of the same version in the same run, recall@10 of both); the RSS of a process
holding all 13 layers built in memory vs memory-mapped from the saved files (RSS, USS,
PSS). Then a sweep of HNSW (M, efConstruction, efSearch) and IVF-Flat shapes on layer 0
(build time, p50/p99, recall; bench/search/sweep.py), and end-to-end HTTP latency and
requests/s of GET /api/v1/tracks/{id}/similar/?layer=0&k=10 under gunicorn (2 sync
workers mapping the saved default index, the bench space made active for the run, throttling off)
with 1 and 50 closed-loop clients (capacity), then 50 clients offering 50 % and 80 % of
that capacity on a fixed schedule (latency at a sustainable load), plus each worker's RSS/USS/PSS (bench/search/http.py),
and passage queries steady and during a refresh of their window index (bench/search/passages.py).
Ratios are to the baseline: latency to the prototype's p50; a sweep row's build time to
the HNSW build+save from the DB above (which includes the read and the save, so even the
sweep's own row of that shape shows ~1.2x).
`--refresh-only` stops after the refresh rows (the default index only: a few minutes at 100k).
Loopback only; run with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.
"""

import argparse
import os
import re
import subprocess
import sys
import time

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
DIM, LAYERS, QUERIES = 768, 13, 200


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, DIM))
    basis = rng.standard_normal((32, DIM)) / np.sqrt(32)
    x = centres[rng.integers(0, 200, n)] + 0.8 * rng.standard_normal((n, 32)) @ basis
    x += 0.05 * rng.standard_normal((n, DIM))
    return x.astype(np.float32)


def copy_layer(space, layer, track_ids, vectors):
    """Binary COPY built in numpy: ~1 s per 100k rows."""
    from django.db import connection

    row = np.dtype([("fields", ">i2"), ("l1", ">i4"), ("track", ">i8"), ("l2", ">i4"), ("space", ">i8"),
                    ("l3", ">i4"), ("layer", ">i2"), ("l4", ">i4"), ("dim", ">i2"), ("unused", ">i2"),
                    ("vector", ">f4", (DIM,))])
    records = np.zeros(len(track_ids), dtype=row)
    records["fields"], records["l1"], records["l2"], records["l3"] = 4, 8, 8, 2
    records["l4"], records["dim"] = 4 + 4 * DIM, DIM
    records["track"], records["space"], records["layer"], records["vector"] = track_ids, space.pk, layer, vectors
    with connection.cursor() as cursor, cursor.copy(
        "COPY analysis_trackembedding (track_id, space_id, layer, vector) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + records.tobytes() + b"\xff\xff")


def drop_pg_indexes(space):
    from django.db import connection

    from recommendations import pgsearch

    with connection.cursor() as cursor:
        for layer in range(LAYERS):
            cursor.execute(f"DROP INDEX IF EXISTS {pgsearch.index_name(space.pk, layer)}")


def populate(tracks, layer_tracks):
    from analysis.models import EmbeddingSpace
    from catalog.models import Dataset, Track

    dataset = Dataset.objects.create(name="bench-search", slug=f"bench-search-{os.getpid()}")
    space = EmbeddingSpace.objects.create(
        name="bench-search", model_id="bench", weights_hash=f"bench-{os.getpid()}", num_layers=LAYERS, dim=DIM,
        sample_rate=24000, window_seconds=5, overlap=0.5,
    )
    # The post_save hook gives a new space its pgvector HNSW indexes at once; the bench
    # drops them so the COPY is not slowed by them and the index build is timed below.
    drop_pg_indexes(space)
    created = Track.objects.bulk_create(
        (Track(dataset=dataset, title=f"t{i}", audio_path=f"bench/{i}.wav", sha256=str(i), duration=60,
               sample_rate=24000, channels=1, format="WAV", size_bytes=1) for i in range(tracks)),
        batch_size=10_000,
    )
    ids = np.array([t.pk for t in created], dtype=np.int64)
    for layer in range(LAYERS):
        n = tracks if layer == 0 else layer_tracks
        copy_layer(space, layer, ids[:n], synthetic(n, seed=layer))
    return dataset, space, ids


def latencies(fn, queries, percentiles=(50, 99)):
    """The milliseconds fn(query) takes over `queries`, at each of `percentiles`."""
    times = []
    for q in queries:
        began = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - began)
    return tuple(np.percentile(times, percentiles) * 1e3)


def memory_child(space_id, mode):
    """RSS (MB) of a process holding all layers: built in memory or mapped from files."""
    from recommendations import index

    q = np.ones((1, DIM), np.float32)
    held = []
    for layer in range(LAYERS):
        if mode == "built":
            held.append(index.build(index.read_vectors(space_id, layer)[3]))
        else:
            held.append(index.load_or_build(space_id, layer).index)
        held[-1].search(q, 10)
    import psutil

    rollup = open("/proc/self/smaps_rollup").read()
    rss, anon = (int(re.search(rf"{f}:\s+(\d+)", rollup).group(1)) / 1024 for f in ("Rss", "Anonymous"))
    info = psutil.Process().memory_full_info()
    print(f"{rss:.0f} {anon:.0f} {info.uss / 2**20:.0f} {info.pss / 2**20:.0f}")


def entry_recall(entry, ids, raw, picks, truth):
    """recall@10 of a LayerIndex's own search (self excluded), at the configured nprobe."""
    from bench.search.sweep import recall
    from recommendations import index

    queries = raw[picks] / np.linalg.norm(raw[picks], axis=1, keepdims=True)
    _, found = entry.index.search(queries, 11, params=index._search_params(entry.index, 11))
    return recall([[int(t) for t in entry.ids[row] if t != ids[p]][:10] for row, p in zip(found, picks)], truth)


def refresh_rows(space, ids, raw, picks, truth):
    """Version moves that rewrite 1 % then 10 % of layer 0 (re-extracted tracks: rows deleted
    and written again, same vectors): the refresh updates the saved index in place. The
    baseline, per step: a full rebuild of that same version from the database (no saved file)."""
    from django.db import connection

    from recommendations import index

    rows = []
    for share in (0.01, 0.10):
        changed = ids[: max(1, int(len(ids) * share))]
        with connection.cursor() as cursor:
            cursor.execute(  # the delete trigger moves the version
                "DELETE FROM analysis_trackembedding WHERE space_id = %s AND layer = 0 AND track_id = ANY(%s)",
                [space.pk, changed.tolist()],
            )
        copy_layer(space, 0, changed, raw[: len(changed)])
        began = time.perf_counter()
        entry = index.load_or_build(space.pk, 0)
        updated = time.perf_counter() - began
        kind = index.backend_name(entry.index)
        in_place = entry.training.get("added", 0) > 0 or kind.startswith("faiss-flat")
        updated_recall = entry_recall(entry, ids, raw, picks, truth)
        for path in index.index_dir().glob(f"s{space.pk}-*_l0_*"):
            path.unlink()
        began = time.perf_counter()
        entry = index.load_or_build(space.pk, 0)
        rebuilt = time.perf_counter() - began
        rows.append((f"refresh after {len(changed)} rows rewritten ({kind}, {share:.0%})",
                     f"{updated:.2f} s", f"{'in place' if in_place else 'RE-TRAINED'}, "
                     f"recall@10 {updated_recall:.3f}, {rebuilt / updated:.1f}x faster than a rebuild"))
        rows.append(("  baseline: full rebuild of that version", f"{rebuilt:.2f} s",
                     f"recall@10 {entry_recall(entry, ids, raw, picks, truth):.3f}"))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--layer-tracks", type=int, default=20_000)
    parser.add_argument("--http-seconds", type=int, default=15, help="duration of the 50-client HTTP load")
    parser.add_argument("--no-sweep", action="store_true", help="skip the HNSW/IVF shape sweep")
    parser.add_argument("--refresh-only", action="store_true",
                        help="only the default index's build, query and refresh rows (a few minutes)")
    parser.add_argument("--passage-tracks", type=int, default=10_000, help="tracks of the passage figures")
    parser.add_argument("--passage-windows", type=int, default=10, help="windows per track of the passage figures")
    parser.add_argument("--memory-child", nargs=2, metavar=("SPACE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    django.setup()
    if args.memory_child:
        return memory_child(int(args.memory_child[0]), args.memory_child[1])

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from sklearn.metrics.pairwise import cosine_similarity

    from analysis.models import EmbeddingSpace
    from bench.search import http, passages, sweep
    from bench.search.sweep import recall
    from messsite.embedded import EmbeddedServices
    from recommendations import index, pgsearch

    services = EmbeddedServices().start()
    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    dataset, space, ids = populate(args.tracks, args.layer_tracks)
    rows = [("populate (COPY)", f"{time.perf_counter() - began:.1f} s", "")]
    was_active = list(EmbeddingSpace.objects.filter(is_active=True).values_list("pk", flat=True))
    default_exact_max = settings.MESS_FAISS_EXACT_MAX
    try:
        raw = synthetic(args.tracks, seed=0)
        unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        picks = np.random.default_rng(1).choice(args.tracks, QUERIES, replace=False)
        queries = [(int(ids[i]), raw[i]) for i in picks]

        def baseline(query):  # the research prototype: score everything, sort everything
            scores = cosine_similarity(query[1][None], raw)[0]
            return [int(ids[i]) for i in np.argsort(-scores) if ids[i] != query[0]][:10]

        truth = [[int(ids[i]) for i in np.argsort(-(unit @ unit[p]))[1:11]] for p in picks]
        base_p50, base_p99 = latencies(baseline, queries)
        rows.append(("baseline sklearn+argsort p50/p99", f"{base_p50:.2f} / {base_p99:.2f} ms", "1x"))

        began = time.perf_counter()
        index.read_vectors(space.pk, 0)
        rows.append((f"read layer 0 from DB ({args.tracks})", f"{time.perf_counter() - began:.2f} s", ""))
        settings.MESS_INDEX_CHECK_SECONDS = 2
        approximate_max = default_exact_max if args.tracks > default_exact_max else 0
        default_build = None
        hnsw = (f"FAISS HNSW (M {settings.MESS_FAISS_HNSW_M}, efC {settings.MESS_FAISS_HNSW_EF_CONSTRUCTION}, "
                f"efS {settings.MESS_FAISS_HNSW_EF_SEARCH})")
        ivf = f"FAISS IVF (sqrt(n) lists, nprobe {settings.MESS_FAISS_IVF_NPROBE})"
        # The default shape last: its saved file is the one the HTTP workers then map.
        shapes = [("FAISS exact", 10**9, "none", "hnsw"), (hnsw, 0, "none", "hnsw"), ("FAISS HNSW sq8", 0, "sq8", "hnsw"),
                  ("FAISS IVF sq8", 0, "sq8", "ivf"), (ivf, approximate_max, "none", "ivf")]
        if args.refresh_only:
            shapes = shapes[-1:]
        for label, exact_max, compression, approximate in shapes:
            settings.MESS_FAISS_EXACT_MAX, settings.MESS_FAISS_COMPRESSION = exact_max, compression
            settings.MESS_FAISS_APPROXIMATE = approximate
            index.clear()
            began = time.perf_counter()
            entry = index.load_or_build(space.pk, 0)
            built = time.perf_counter() - began
            if label == hnsw:
                default_build = built
            rows.append((f"{label}: build+save from DB", f"{built:.2f} s", index.backend_name(entry.index)))
            index.search(space, 0, raw[0], 10)  # loads the saved file into the registry
            while not index.index_status()[0]["size"]:
                time.sleep(0.05)
                index.search(space, 0, raw[0], 10)

            def faiss_query(query):
                return [t for t, _ in index.search(space, 0, query[1], 10, exclude={query[0]})]

            p50, p99 = latencies(faiss_query, queries)
            found = [faiss_query(q) for q in queries]
            rows.append((f"{label} p50/p99", f"{p50:.3f} / {p99:.3f} ms",
                         f"{base_p50 / p50:.0f}x faster, recall@10 {recall(found, truth):.3f}"))

        rows += refresh_rows(space, ids, raw, picks, truth)
        if args.refresh_only:
            return

        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '2GB'")
        pgsearch.ensure_hnsw_indexes(space, layers=[0])
        rows.append(("pgvector HNSW index build (layer 0)", f"{time.perf_counter() - began:.1f} s", ""))

        def pg_query(query):
            return [t for t, _ in pgsearch.search(space, 0, query[1], 10, exclude={query[0]})]

        p50, p99 = latencies(pg_query, queries)
        found = [pg_query(q) for q in queries]
        rows.append(("pgvector HNSW p50/p99", f"{p50:.3f} / {p99:.3f} ms",
                     f"{base_p50 / p50:.0f}x faster, recall@10 {recall(found, truth):.3f}"))

        settings.MESS_FAISS_EXACT_MAX, settings.MESS_FAISS_COMPRESSION = default_exact_max, "none"
        index.load_or_build(space.pk, 0)  # the default shape, which the memory children map
        began = time.perf_counter()
        for layer in range(1, LAYERS):
            index.load_or_build(space.pk, layer)
        rows.append((f"build+save layers 1-12 ({args.layer_tracks} each)",
                     f"{(time.perf_counter() - began) / (LAYERS - 1):.2f} s/layer", "faiss-flat"))
        env = {**os.environ, "MESS_DATA_DIR": str(settings.DATA_DIR)}
        for mode in ("built", "mapped"):
            out = subprocess.run([sys.executable, "-m", "bench.search", "--memory-child", str(space.pk), mode],
                                 env=env, capture_output=True, text=True, check=True).stdout.split()
            rss, anon, uss, pss = out[-4:]
            rows.append((f"13 layers {mode}, 1 process: RSS", f"{rss} MB",
                         f"anonymous {anon} MB, USS {uss} MB, PSS {pss} MB"))

        if not args.no_sweep:
            for name, built, p50, p99, rec in sweep.sweep(unit, picks, log=lambda *r: None):
                ratio = f", build {default_build / built:.1f}x vs HNSW above" if default_build else ""
                rows.append((f"sweep {name}", f"{built:.1f} s, {p50:.3f} / {p99:.3f} ms",
                             f"recall@10 {rec:.3f}, {base_p50 / p50:.0f}x faster{ratio}"))

        rows += passages.run(dataset, args.passage_tracks, args.passage_windows)

        # HTTP: the bench space active, its layer-0 index saved in the default shape above.
        EmbeddingSpace.objects.filter(is_active=True).update(is_active=False)
        EmbeddingSpace.objects.filter(pk=space.pk).update(is_active=True)
        loads = ((1, 5, None), (50, args.http_seconds, None), (50, args.http_seconds, 0.5),
                 (50, args.http_seconds, 0.8))
        loads, workers = http.run(ids[:args.tracks], loads=loads)
        for clients, seconds, rate, p50, p99, rps, errors in loads:
            how = f"{rate} req/s offered" if rate else "closed loop"
            rows.append((f"HTTP similar, gunicorn 2 workers, {clients} clients ({how}) {seconds} s",
                         f"{p50:.1f} / {p99:.1f} ms", f"{rps:.0f} req/s, {errors} errors, "
                         f"p50 {base_p50 / p50:.0f}x faster than in-process baseline"))
        for n, (rss, uss, pss) in enumerate(workers):
            rows.append((f"gunicorn worker {n + 1} (layer 0 mapped)", f"RSS {rss:.0f} MB",
                         f"USS {uss:.0f} MB, PSS {pss:.0f} MB"))
    finally:
        EmbeddingSpace.objects.filter(pk=space.pk).update(is_active=False)
        EmbeddingSpace.objects.filter(pk__in=was_active).update(is_active=True)
        drop_pg_indexes(space)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM analysis_trackembedding WHERE space_id = %s", [space.pk])
        for path in [*index.index_dir().glob(f"s{space.pk}-*"), *index.index_dir().glob(f"s{space.pk}_*")]:
            path.unlink()
        space.delete()
        dataset.delete()
        services.stop()
        width = max(len(r[0]) for r in rows)  # printed even when a step failed
        for name, value, note in rows:
            print(f"{name:<{width}}  {value:>26}  {note}")


if __name__ == "__main__":
    main()
