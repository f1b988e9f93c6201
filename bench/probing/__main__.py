"""Probing benchmark: `python -m bench.probing [--windows 20000 --tracks 500 --layers 13 --dims 768 --targets 20]`.

Synthetic windows shaped like stored MERT features (float16 [windows, layers, dims]):
tracks fall into clusters, each target is a latent (half track-level, half window-level)
that one layer encodes most strongly and its neighbours less, and a quarter of the
targets are encoded nowhere. Times, in one run and with tracemalloc's peak of the
memory each allocates:
  naive   the obvious loop, one (layer, target) pair at a time: cross_val_score of
          make_pipeline(StandardScaler(), RidgeCV(alphas)) with GroupKFold(5); run on
          --naive-pairs pairs and extrapolated linearly to all layers x targets;
  engine  analysis.probes.probe_layers on everything: every pair with nested alpha
          selection, the weighted probe and both baselines.
Then the r2 of both on the naive run's pairs (folds and alpha selection differ: GroupKFold
vs our seeded split, RidgeCV's leave-one-out vs grouped inner folds, so close, not equal).
"""

import argparse
import sys
import time
import tracemalloc

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis.probes import DEFAULT_ALPHAS, probe_layers


def synthetic(windows, tracks, layers, dims, targets, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(tracks), 1 + rng.multinomial(windows - tracks, np.full(tracks, 1 / tracks)))
    latent = 0.7 * rng.standard_normal((tracks, targets))[groups] + 0.7 * rng.standard_normal((windows, targets))
    Y = latent + 0.3 * rng.standard_normal((windows, targets))
    peaks = rng.integers(0, layers, targets)
    planted = np.arange(targets) < targets - targets // 4
    cluster = rng.integers(0, 50, tracks)[groups]
    X = np.empty((windows, layers, dims), np.float16)
    for layer in range(layers):
        gain = np.where(planted, np.exp(-0.5 * (layer - peaks) ** 2), 0.0)  # fades over neighbouring layers
        loadings = 2 * rng.standard_normal((targets, dims)) / np.sqrt(dims)
        centres = 3 * rng.standard_normal((50, dims))
        X[:, layer] = centres[cluster] + (latent * gain) @ loadings + rng.standard_normal((windows, dims))
    return X, Y, groups, peaks, planted


def measured(fn):
    """(result, wall seconds, peak MB allocated while it ran)."""
    tracemalloc.start()
    began = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def naive(X, Y, groups, pairs, folds):
    r2 = {}
    for layer, t in pairs:
        pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=DEFAULT_ALPHAS))
        r2[layer, t] = cross_val_score(pipeline, X[:, layer].astype(np.float32), Y[:, t], groups=groups,
                                       cv=GroupKFold(folds)).mean()
    return r2


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.probing", description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20_000)
    parser.add_argument("--tracks", type=int, default=500)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--naive-pairs", type=int, default=4, help="(layer, target) pairs the naive loop runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print("generating synthetic windows...", file=sys.stderr)
    X, Y, groups, peaks, planted = synthetic(args.windows, args.tracks, args.layers, args.dims, args.targets, args.seed)
    # Half the naive pairs on a target's peak layer (a real signal), half off it.
    pairs = [(int(peaks[t]) if t % 2 == 0 else (int(peaks[t]) + args.layers // 2) % args.layers, t)
             for t in range(min(args.naive_pairs, args.targets))]
    all_pairs = args.layers * args.targets

    print(f"naive loop on {len(pairs)} pairs...", file=sys.stderr)
    naive_r2, naive_s, naive_mb = measured(lambda: naive(X, Y, groups, pairs, args.folds))
    naive_all_s = naive_s / len(pairs) * all_pairs

    def progress(done, total):
        print(f"\rprobe_layers {done}/{total}", end="\n" if done == total else "", file=sys.stderr)

    report, engine_s, engine_mb = measured(lambda: probe_layers(X, Y, groups, folds=args.folds, progress=progress))

    print(f"\n{args.windows} windows from {args.tracks} tracks, {args.layers} layers x {args.dims} dims (float16), "
          f"{args.targets} targets, {args.folds} outer folds grouped by track, {len(DEFAULT_ALPHAS)} alphas")
    rows = [
        (f"naive sklearn loop, measured on {len(pairs)} pairs", naive_s, naive_mb, None),
        (f"naive sklearn loop, extrapolated to {all_pairs} pairs", naive_all_s, naive_mb, naive_all_s),
        (f"probe_layers, {all_pairs} pairs + weighted + baselines", engine_s, engine_mb, engine_s),
    ]
    print(f"{'method':<52}{'wall s':>9}{'peak MB':>9}{'vs naive':>10}")
    for name, seconds, mb, comparable in rows:
        ratio = f"{naive_all_s / comparable:.1f}x" if comparable else ""
        print(f"{name:<52}{seconds:>9.1f}{mb:>9.0f}{ratio:>10}")

    print(f"\n{'pair (layer, target)':<24}{'naive r2':>10}{'engine r2':>11}{'diff':>8}")
    for (layer, t), r2 in naive_r2.items():
        ours = np.nanmean(report.layers.r2[layer, t])
        print(f"{f'({layer}, {t})':<24}{r2:>10.3f}{ours:>11.3f}{ours - r2:>+8.3f}")

    best = report.best_layers()
    found = sum(best[str(t)][0] == peaks[t] for t in np.flatnonzero(planted))
    result = report.to_dict()
    gains = [result["weighted"][str(t)]["gain"] for t in range(args.targets)]
    shuffled = [result["baseline"][str(t)]["shuffled"]["max_r2"] for t in range(args.targets)]
    print(f"\nbest layer = planted peak for {found}/{planted.sum()} planted targets; weighted-probe gain over the "
          f"best layer {min(gains):+.3f} to {max(gains):+.3f}; shuffled-track baseline r2 at most {max(shuffled):.3f}")


if __name__ == "__main__":
    main()
