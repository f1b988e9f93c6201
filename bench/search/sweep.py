"""Build-time / latency / recall sweep of FAISS index shapes on one normalised matrix.

`python -m bench.search.sweep [--tracks 100000]` runs it alone on the synthetic vectors
(no database), or with `--space ID --layer L` on a real layer of this installation's
database, to choose MESS_FAISS_IVF_NPROBE for real embeddings; bench.search runs it on
layer 0 and adds its rows to the one table.
Latency here is faiss's own `index.search` of one query (no registry, no version check).
"""

import argparse
import os
import time

import faiss
import numpy as np

# (M, efConstruction) pairs built; every HNSW graph is searched at each efSearch.
HNSW_SHAPES = [(32, 64), (32, 40), (16, 64), (16, 40), (16, 32)]
EF_SEARCH = (64, 128)
NPROBE = (2, 4, 8, 16)
IVF_TRAIN_PER_LIST = (None, 32)  # None: faiss default (at most 256 points per list)


def _time_queries(search, queries, picks):
    times, found = [], []
    for q, p in zip(queries, picks):
        began = time.perf_counter()
        _, rows = search(q[None])
        times.append(time.perf_counter() - began)
        found.append([r for r in rows[0] if r != p][:10])
    return np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3, found


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def sweep(unit, picks, log=print):
    """Rows (name, build s, p50 ms, p99 ms, recall@10) for HNSW shapes and IVF-Flat."""
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    n, dim = unit.shape
    queries = unit[picks]
    truth = [list(np.argsort(-(unit @ unit[p]))[1:11]) for p in picks]
    rows = []
    for m, efc in HNSW_SHAPES:
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        began = time.perf_counter()
        index.add(unit)
        built = time.perf_counter() - began
        for ef in EF_SEARCH:
            params = faiss.SearchParametersHNSW()
            params.efSearch = ef
            p50, p99, found = _time_queries(lambda q: index.search(q, 11, params=params), queries, picks)
            rows.append((f"HNSW M {m}, efC {efc}, efSearch {ef}", built, p50, p99, recall(found, truth)))
            log(*rows[-1])
    nlist = int(round(np.sqrt(n)))
    for per_list in IVF_TRAIN_PER_LIST:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = unit
        if per_list:
            sample = unit[np.sort(np.random.default_rng(2).choice(n, min(n, per_list * nlist), replace=False))]
        began = time.perf_counter()
        index.train(sample)
        index.add(unit)
        built = time.perf_counter() - began
        trained = f"train {len(sample) if per_list else min(n, 256 * nlist)}"
        for nprobe in NPROBE:
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            p50, p99, found = _time_queries(lambda q: index.search(q, 11, params=params), queries, picks)
            rows.append((f"IVF-Flat nlist {nlist} ({trained}), nprobe {nprobe}", built, p50, p99,
                         recall(found, truth)))
            log(*rows[-1])
        del index
    return rows


if __name__ == "__main__":
    from bench.search.__main__ import QUERIES, synthetic

    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--space", type=int, help="an embedding space of this installation's database")
    parser.add_argument("--layer", type=int, default=0)
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    if args.space:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
        django.setup()
        from recommendations.index import read_vectors

        unit = read_vectors(args.space, args.layer)[3]  # normalised
    else:
        unit = synthetic(args.tracks, seed=0)
        faiss.normalize_L2(unit)
    picks = np.random.default_rng(1).choice(len(unit), min(QUERIES, len(unit)), replace=False)
    sweep(unit, picks, log=lambda *r: print("%-40s build %6.2f s  p50 %.3f  p99 %.3f ms  recall %.3f" % r, flush=True))
