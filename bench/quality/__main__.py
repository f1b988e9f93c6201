"""Retrieval quality: `python -m bench.quality [--dataset demo] [--prepare] [--plot FILE]`.

For every embedding space holding the dataset's tracks and every layer, ranks the
dataset's other tracks by cosine similarity of their stored track vectors and reports:
- MAP "same work": mean average precision where the relevant tracks are the other
  renditions of the query's work (same composer and work, and another instrument when
  both tracks name one), over the queries that have at least one;
- P@5 "same composer": precision of the 5 nearest tracks, relevant = same composer;
- P@5 "same instrument": relevant = the tracks of the query's metadata["instrument"]
  (the demo's ensemble), over the queries with at least one other track of theirs: what
  a timbre model (a learned tagger such as musicnn) should find.
The baseline is a random ranking (the mean over 200 seeded shuffles) of the same
queries. Labels come from the catalogue (composer, work, metadata["instrument"]), so any
labelled dataset works: `--dataset smd` on SMD with real MERT weights, say.

`--prepare` first builds the demo corpus (manage.py make_demo_corpus) and extracts it in
this process with the classic encoder, with musicnn's two checkpoints (MSD_musicnn and
MTT_musicnn: two spaces) when its wheel is installed, and with MERT when its weights load;
tracks already extracted in a space are skipped. For the spaces with tags (musicnn) it
also prints each instrument's three best tags (tag scores averaged over its tracks). Run
it with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.
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
    """(same work, same composer, same instrument): [n, n] booleans, never a track to
    itself. Same work: another rendition (same composer and work; another instrument when
    both name one). Same instrument: both name the same one."""
    n = len(composers)
    other = ~np.eye(n, dtype=bool)
    composer = np.array([c.strip().lower() for c in composers])
    same_composer = (composer[:, None] == composer[None, :]) & other
    work = np.array([f"{c}\n{w.strip().lower()}" if w else "" for c, w in zip(composer, works)])
    same_work = (work[:, None] == work[None, :]) & (work[:, None] != "") & other
    named = np.array([bool(i) for i in instruments])
    instrument = np.array([i or "" for i in instruments])
    same_instrument = named[:, None] & named[None, :] & (instrument[:, None] == instrument[None, :]) & other
    return same_work & ~same_instrument, same_composer, same_instrument


def scores(similarity, same_work, same_composer, same_instrument):
    """(MAP same work, P@TOP same composer, P@TOP same instrument) of the rankings by
    `similarity` [n, n]; NaN where no query has a relevant track."""
    aps, composer_precisions, instrument_precisions = [], [], []
    for query in range(len(similarity)):
        order = np.argsort(-similarity[query], kind="stable")
        order = order[order != query]
        if same_work[query].any():
            aps.append(average_precision(same_work[query, order]))
        composer_precisions.append(same_composer[query, order[:TOP]].mean())
        if same_instrument[query].any():
            instrument_precisions.append(same_instrument[query, order[:TOP]].mean())
    return tuple(float(np.mean(values)) if values else float("nan")
                 for values in (aps, composer_precisions, instrument_precisions))


def random_scores(same_work, same_composer, same_instrument, seed=0):
    rng = np.random.default_rng(seed)
    n = len(same_work)
    runs = [scores(rng.random((n, n)), same_work, same_composer, same_instrument) for _ in range(SHUFFLES)]
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
    """Rows (layer label, *scores) of every layer of `space`, and the random baseline's scores."""
    kept, layers = space_vectors(space, tracks)
    relevant = relevance([t.composer for t in kept], [t.work for t in kept],
                         [t.metadata.get("instrument") for t in kept])
    rows = [(space.layer_label(layer), *scores(unit @ unit.T, *relevant)) for layer, unit in layers.items()]
    return len(kept), rows, random_scores(*relevant)


def instrument_tags(space, tracks, top=3):
    """{instrument: its `top` tags in `space`, by tag score averaged over its tracks}; empty
    for a space without tags."""
    from analysis.models import TrackTags

    by_instrument = {}
    for tags in TrackTags.objects.filter(space=space, track__in=tracks).select_related("track").order_by("track"):
        instrument = tags.track.metadata.get("instrument")
        if instrument:
            by_instrument.setdefault(instrument, []).append(tags.scores)
    means = {instrument: {tag: np.mean([s[tag] for s in scores]) for tag in scores[0]}
             for instrument, scores in by_instrument.items()}
    return {instrument: sorted(mean, key=mean.get, reverse=True)[:top] for instrument, mean in sorted(means.items())}


def prepare(stream):
    """The demo corpus, extracted here by the classic encoder, musicnn (both checkpoints)
    when its wheel is installed and MERT when its weights can be had: the same checks and
    extraction as `manage.py demo` (analysis.encoder_choice, messsite/demo.py)."""
    from django.core.management import call_command
    from django.test import override_settings

    from analysis.encoder_choice import mert_problem, musicnn_problem
    from catalog.demo_corpus import DATASET_SLUG
    from catalog.models import Dataset
    from messsite import demo

    call_command("make_demo_corpus", stdout=stream)
    tracks = list(Dataset.objects.get(slug=DATASET_SLUG).tracks.order_by("pk"))
    runs = [("classic", {})]  # (encoder, settings for its extraction)
    problem = musicnn_problem()
    if problem is None:
        runs += [("musicnn", {"MESS_MUSICNN_MODEL": model}) for model in ("MSD_musicnn", "MTT_musicnn")]
    else:
        print(f"musicnn is not available here: {problem}", file=stream)
    problem = mert_problem(lambda line: print(line, file=stream))
    if problem is None:
        runs.append(("mert", {}))
    else:
        print(f"MERT weights are not available here, so MERT does not run: {problem}", file=stream)
    for encoder, options in runs:
        print(f"extracting {len(tracks)} tracks with {options.get('MESS_MUSICNN_MODEL', encoder)}...", file=stream)
        with override_settings(**options):
            demo.extract_here(tracks, encoder, stream)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    for (space, count, rows, baseline), colour in zip(results, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        for axis, column in zip(axes, (1, 2, 3)):
            axis.plot(range(len(rows)), [row[column] for row in rows], marker="o", color=colour,
                      label=f"{space.name} ({count} tracks)")
            axis.axhline(baseline[column - 1], color=colour, linestyle="--", linewidth=1)
    titles = ("MAP, same work in another instrument", f"P@{TOP}, same composer", f"P@{TOP}, same instrument")
    for axis, title in zip(axes, titles):
        axis.set_title(title)
        axis.set_xlabel("layer")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8,
               title="dashed: random ranking")
    fig.tight_layout(rect=(0, 0.15, 1, 1))
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
        spaces = EmbeddingSpace.objects.filter(embeddings__track__dataset=dataset).distinct().order_by("pk")
        results = [(space, *evaluate(space, tracks)) for space in spaces]
        tags = {space.name: instrument_tags(space, tracks) for space in spaces}
    finally:
        services.stop()
    if not results:
        sys.exit(f"No track of {dataset} has embeddings yet: extract it first (or add --prepare).")
    print(f"Retrieval quality on {dataset} ({len(tracks)} tracks); baseline: random ranking, {SHUFFLES} shuffles")
    columns = ("MAP same work", f"P@{TOP} composer", f"P@{TOP} instrument")
    print(f"{'space':<44}{'layer':<26}" + "".join(f"{column:>17}{'vs random':>10}" for column in columns))
    for space, _count, rows, baseline in results:
        print(f"{space.name[:43]:<44}{'random ranking':<26}"
              + "".join(f"{value:>17.3f}{'1.0x':>10}" for value in baseline))
        for layer, *values in rows:
            print(f"{'':<44}{layer[:25]:<26}"
                  + "".join(f"{value:>17.3f}{value / base:>9.1f}x" for value, base in zip(values, baseline)))
    for name, by_instrument in tags.items():
        if by_instrument:
            print(f"\nbest tags by instrument (mean tag score over its tracks), {name}:")
            for instrument, best in by_instrument.items():
                print(f"  {instrument:<22}{', '.join(best)}")
    path = Path(args.plot or settings.DATA_DIR / "quality.png")
    plot(results, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
