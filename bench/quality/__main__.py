"""Retrieval quality: `python -m bench.quality [--dataset demo] [--prepare] [--plot FILE]`.

For every embedding space holding the dataset's tracks and every layer, ranks the
dataset's other tracks by cosine similarity of their stored track vectors and reports:
- MAP "same work": mean average precision where the relevant tracks are the other
  renditions of the query's work (same composer and work, and another instrument when
  both tracks name one), over the queries that have at least one;
- P@5 "same composer": precision of the 5 nearest tracks, relevant = same composer.
The baseline is a random ranking (the mean over 200 seeded shuffles) of the same
queries. Labels come from the catalogue (composer, work, metadata["instrument"]), so any
labelled dataset works: `--dataset smd` on SMD with real MERT weights, say.

`--prepare` first builds the demo corpus (manage.py make_demo_corpus) and extracts it in
this process with the classic encoder, and with MERT too when its weights load. Run it
with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.
"""

import argparse
import os
import sys
from pathlib import Path

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
SHUFFLES, TOP = 200, 5


def average_precision(ranked_relevant):
    """AP of one ranking, given as booleans in rank order (at least one True)."""
    ranked_relevant = np.asarray(ranked_relevant, dtype=bool)
    ranks = np.flatnonzero(ranked_relevant) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def relevance(composers, works, instruments):
    """(same work, same composer): [n, n] booleans, never a track to itself. Same work:
    another rendition (same composer and work; another instrument when both name one)."""
    n = len(composers)
    other = ~np.eye(n, dtype=bool)
    composer = np.array([c.strip().lower() for c in composers])
    same_composer = (composer[:, None] == composer[None, :]) & other
    work = np.array([f"{c}\n{w.strip().lower()}" if w else "" for c, w in zip(composer, works)])
    same_work = (work[:, None] == work[None, :]) & (work[:, None] != "") & other
    named = np.array([bool(i) for i in instruments])
    instrument = np.array([i or "" for i in instruments])
    same_instrument = named[:, None] & named[None, :] & (instrument[:, None] == instrument[None, :])
    return same_work & ~same_instrument, same_composer


def scores(similarity, same_work, same_composer):
    """(MAP same work, P@TOP same composer) of the rankings by `similarity` [n, n]."""
    aps, precisions = [], []
    for query in range(len(similarity)):
        order = np.argsort(-similarity[query], kind="stable")
        order = order[order != query]
        if same_work[query].any():
            aps.append(average_precision(same_work[query, order]))
        precisions.append(same_composer[query, order[:TOP]].mean())
    return (float(np.mean(aps)) if aps else float("nan")), float(np.mean(precisions))


def random_scores(same_work, same_composer, seed=0):
    rng = np.random.default_rng(seed)
    n = len(same_work)
    runs = [scores(rng.random((n, n)), same_work, same_composer) for _ in range(SHUFFLES)]
    return tuple(float(v) for v in np.nanmean(runs, axis=0))


def space_vectors(space, tracks):
    """(tracks with every layer in `space`, {layer: [n, dim] unit vectors in their order}),
    read as the similarity index reads a layer (recommendations.index.read_vectors)."""
    from recommendations.index import read_vectors

    read = {}
    for layer in range(space.num_layers):
        _version, _rows, track_ids, matrix = read_vectors(space.pk, layer)
        read[layer] = dict(zip(track_ids.tolist(), matrix))
    kept = [t for t in tracks if all(t.pk in vectors for vectors in read.values())]
    return kept, {layer: np.stack([vectors[t.pk] for t in kept]) for layer, vectors in read.items()}


def evaluate(space, tracks):
    """Rows (layer label, MAP, P@5) of every layer of `space`, and the random baseline's (MAP, P@5)."""
    kept, layers = space_vectors(space, tracks)
    same_work, same_composer = relevance([t.composer for t in kept], [t.work for t in kept],
                                         [t.metadata.get("instrument") for t in kept])
    rows = [(space.layer_label(layer), *scores(unit @ unit.T, same_work, same_composer))
            for layer, unit in layers.items()]
    return len(kept), rows, random_scores(same_work, same_composer)


def prepare(stream):
    """The demo corpus, extracted here by the classic encoder and, when its weights can be
    had, MERT: the same choice and extraction as `manage.py demo` (messsite/demo.py)."""
    from django.core.management import call_command

    from catalog.demo_corpus import DATASET_SLUG
    from catalog.models import Dataset
    from messsite import demo

    call_command("make_demo_corpus", stdout=stream)
    tracks = list(Dataset.objects.get(slug=DATASET_SLUG).tracks.order_by("pk"))
    encoders = ["classic"]
    problem = demo.mert_problem(lambda line: print(line, file=stream))
    if problem is None:
        encoders.append("mert")
    else:
        print(f"MERT weights are not available here, so only the classic encoder runs: {problem}", file=stream)
    for encoder in encoders:
        print(f"extracting {len(tracks)} tracks with {encoder}...", file=stream)
        demo.extract_here(tracks, encoder, stream)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (space, count, rows, baseline), colour in zip(results, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        for axis, column in zip(axes, (1, 2)):
            axis.plot(range(len(rows)), [row[column] for row in rows], marker="o", color=colour,
                      label=f"{space.name} ({count} tracks)")
            axis.axhline(baseline[column - 1], color=colour, linestyle="--", linewidth=1)
    for axis, title in zip(axes, ("MAP, same work in another instrument", f"P@{TOP}, same composer")):
        axis.set_title(title)
        axis.set_xlabel("layer")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="dashed: random ranking")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo", help="slug of a labelled dataset (default: the demo corpus)")
    parser.add_argument("--prepare", action="store_true", help="build and extract the demo corpus first")
    parser.add_argument("--plot", help="where to write the plot (default DATA_DIR/quality.png)")
    args = parser.parse_args()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from analysis.models import EmbeddingSpace
    from catalog.models import Dataset
    from messsite.embedded import EmbeddedServices

    services = EmbeddedServices().start()
    try:
        call_command("migrate", verbosity=0)
        if args.prepare:
            prepare(sys.stderr)
        dataset = Dataset.objects.filter(slug=args.dataset).first()
        if dataset is None:
            sys.exit(f"There is no dataset {args.dataset!r}" + (" (add --prepare)" if args.dataset == "demo" else ""))
        tracks = list(dataset.tracks.order_by("pk"))
        results = []
        for space in EmbeddingSpace.objects.filter(embeddings__track__dataset=dataset).distinct().order_by("pk"):
            results.append((space, *evaluate(space, tracks)))
    finally:
        services.stop()
    if not results:
        sys.exit(f"No track of {dataset} has embeddings yet: extract it first (or add --prepare).")
    print(f"Retrieval quality on {dataset} ({len(tracks)} tracks); baseline: random ranking, {SHUFFLES} shuffles")
    print(f"{'space':<44}{'layer':<26}{'MAP same work':>14}{'vs random':>10}{f'P@{TOP} composer':>15}{'vs random':>10}")
    for space, count, rows, (base_map, base_p) in results:
        print(f"{space.name[:43]:<44}{'random ranking':<26}{base_map:>14.3f}{'1.0x':>10}{base_p:>15.3f}{'1.0x':>10}")
        for layer, ap, precision in rows:
            print(f"{'':<44}{layer[:25]:<26}{ap:>14.3f}{ap / base_map:>9.1f}x{precision:>15.3f}"
                  f"{precision / base_p:>9.1f}x")
    path = Path(args.plot or settings.DATA_DIR / "quality.png")
    plot(results, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
