"""When should an IVF updated in place be trained again? `python -m bench.search.drift [--tracks 50000]`

Trains the default IVF (recommendations.index) on `--tracks` synthetic vectors, then adds
10 %, 30 % and 60 % more from clusters it never saw, in place, and prints for each: the new
rows' quantisation error against the training sample's, the layer's mean error (what
IVF_RETRAIN_DRIFT is compared with), and recall@10 at nprobe 8 of queries from the new
material, in place against an IVF trained on everything. No database.
"""

import argparse
import os

import faiss
import numpy as np

from bench.search.sweep import recall

NEW_MATERIAL = (0.1, 0.3, 0.6)


def main():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
    django.setup()
    from bench.search.__main__ import QUERIES, synthetic
    from recommendations import index

    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=50_000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)

    def unit(n, seed):
        x = synthetic(n, seed)
        faiss.normalize_L2(x)
        return x

    def recall_of(ivf, matrix, queries):
        truth = [list(np.argsort(-(matrix @ q))[:10]) for q in queries]
        ivf.nprobe = 8
        return recall(ivf.search(queries, 10)[1].tolist(), truth)

    base = unit(args.tracks, 0)
    for share in NEW_MATERIAL:
        new = unit(int(args.tracks * share), 77)  # other centres than seed 0's
        ivf = index._build_ivf(base, None)
        training = index._training(ivf, base)
        added_error = index._quantisation_error(ivf, new)
        mean = (training["error"] * training["trained"] + added_error) / (training["trained"] + len(new))
        ivf.add(new)
        everything = np.concatenate([base, new])
        queries = new[np.random.default_rng(1).choice(len(new), QUERIES, replace=False)]
        retrained = index._build_ivf(everything, None)
        print(f"new material {share:.0%}: its error {added_error / len(new) / training['error']:.1f}x the training "
              f"sample's, layer mean +{mean / training['error'] - 1:.0%}, recall@10 of its queries in place "
              f"{recall_of(ivf, everything, queries):.3f}, re-trained {recall_of(retrained, everything, queries):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
