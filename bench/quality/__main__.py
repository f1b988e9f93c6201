"""Retrieval quality: `python -m bench.quality [--dataset demo] [--prepare] [--stability] [--plot FILE] [--cross-plot FILE]`.

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
MTT_musicnn: two spaces) and the musicnn + classic stack when its wheel is installed, and
with MERT and MERT + classic when its weights load; tracks already extracted in a space
are skipped. Each space is then probed on the demo (manage.py probe), whose labels back
the harmony and timbre aspects by retrieval (analysis/aspect_choice.py). For the spaces with tags (musicnn) it
also prints each instrument's three best tags (tag scores averaged over its tracks). Run
it with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.

Generalisation, through the REST API (bench/quality/crossrender.py): `--prepare` also
renders the demo with two other SoundFonts (RENDERINGS: MuseScore_General's samples and
an OPL-3's FM sounds, each its own dataset) and extracts them in the same spaces. Then
gunicorn serves the platform on loopback and, with each space holding the renderings
active in turn, every layer and aspect (GET /api/v1/aspects/) is asked GET
/api/v1/tracks/{id}/similar/?dataset=<other rendering>&k=<all of it> for each track of
the demo and of the other rendering; relevant: the same work there. Reported, both
directions averaged: MAP, MAP "strict" (the same work in another ensemble: the rendition
of the very same ensemble dropped from the ranking) and P@5, against a random ranking
and the 20-line baseline: librosa's chroma_cqt averaged over each file, ranked by cosine.

`--stability` (bench/quality/stability.py) probes the default space (the stack) again
after 5 % more demo tracks of the same kind arrive, and compares its aspect map.
"""

import argparse
import os
import sys
from pathlib import Path

import django
import numpy as np

from bench.quality.crossrender import baselines, dataset_labels, evaluate_over_api, http_getter, mean_chroma
from bench.quality.measures import SHUFFLES, TOP, average_precision, random_scores, relevance, scores  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
# The demo corpus rendered with other SoundFonts (catalog.demo_corpus.SOUNDFONTS), the first the reference.
RENDERINGS = ("timgm6mb", "musescore", "opl3")


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
    """The demo corpus in each of RENDERINGS whose SoundFont is installed, extracted here
    by the classic encoder, musicnn (both checkpoints) when its wheel is installed and
    MERT when its weights can be had: the same checks and extraction as `manage.py demo`
    (analysis.encoder_choice, messsite/demo.py)."""
    from django.core.management import call_command
    from django.test import override_settings

    from analysis.encoder_choice import mert_problem, musicnn_problem
    from bench.quality.stability import probe_demo
    from catalog.demo_corpus import DATASET_SLUG, DemoCorpusError, find_soundfont
    from catalog.models import Dataset
    from messsite import demo

    tracks = []
    for key in RENDERINGS:
        try:
            slug, _name = find_soundfont(key).dataset
        except DemoCorpusError as exc:
            print(f"not rendering with {key}: {exc}", file=stream)
            continue
        call_command("make_demo_corpus", soundfont=key, stdout=stream)
        tracks += Dataset.objects.get(slug=slug).tracks.order_by("pk")
    runs = [("classic", {})]  # (encoder, settings for its extraction)
    problem = musicnn_problem()
    if problem is None:
        runs += [("musicnn", {"MESS_MUSICNN_MODEL": model}) for model in ("MSD_musicnn", "MTT_musicnn")]
        runs.append(("musicnn+classic", {}))
    else:
        print(f"musicnn is not available here: {problem}", file=stream)
    problem = mert_problem(lambda line: print(line, file=stream))
    if problem is None:
        runs += [("mert", {}), ("mert+classic", {})]
    else:
        print(f"MERT weights are not available here, so MERT does not run: {problem}", file=stream)
    demo_dataset = Dataset.objects.get(slug=DATASET_SLUG)
    for encoder, options in runs:
        print(f"extracting {len(tracks)} tracks with {options.get('MESS_MUSICNN_MODEL', encoder)}...", file=stream)
        with override_settings(**options):
            space, _count = demo.extract_here(tracks, encoder, stream)
        # Aspects mean something only once probed: on the demo, whose labels back harmony and timbre.
        probe_demo(space, demo_dataset, stream)


def default_space():
    """The space `make demo` serves (MESS_ENCODER=auto): MERT + classic where MERT ran, else
    musicnn + classic, else the active one."""
    from analysis.models import EmbeddingSpace, Encoder
    from analysis.services import active_space

    stacks = EmbeddingSpace.objects.filter(encoder__in=[Encoder.MERT_CLASSIC, Encoder.MUSICNN_CLASSIC])
    return stacks.order_by("encoder").first() or active_space()


def cross_rendering():
    """({slug: dataset name}, reference slug, {other slug: (chroma scores, random scores)},
    [(space, [(row label, {other slug: scores})])]) of the renderings present
    (crossrender.evaluate_over_api), asked of gunicorn with each space active in turn;
    None without a second rendering."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from analysis.models import EmbeddingSpace
    from analysis.services import activate_space, active_space
    from bench.search.http import gunicorn
    from catalog.demo_corpus import SOUNDFONTS
    from catalog.models import Dataset, Track
    from recommendations.recommender import MAX_K

    slugs = [slug for slug in (SOUNDFONTS[key].dataset[0] for key in RENDERINGS)
             if Dataset.objects.filter(slug=slug).exists()]
    if len(slugs) < 2:
        return None
    reference, others = slugs[0], slugs[1:]
    spaces = EmbeddingSpace.objects.all()
    for slug in slugs:  # a space must hold every rendering
        spaces = spaces.filter(pk__in=EmbeddingSpace.objects.filter(embeddings__track__dataset__slug=slug))
    token = Token.objects.get_or_create(user=get_user_model().objects.get_or_create(username="quality-bench")[0])[0]
    previous = active_space()
    results = []
    try:
        with gunicorn() as (port, _server):
            get = http_getter(f"http://127.0.0.1:{port}", token.key)
            labels = {slug: dataset_labels(get, slug) for slug in slugs}
            chroma = mean_chroma(Track.objects.filter(dataset__slug__in=slugs))
            base = {other: baselines(labels[reference], labels[other], chroma) for other in others}
            for space in spaces.order_by("pk"):
                activate_space(space)  # the API serves the active space
                by_other = {other: evaluate_over_api(get, reference, other, MAX_K, space.layer_label)
                            for other in others}
                rows = [(label, {other: by_other[other][i][1] for other in others})
                        for i, (label, _scores) in enumerate(by_other[others[0]])]
                results.append((space, rows))
    finally:
        if previous is not None:
            activate_space(previous)
    names = dict(Dataset.objects.filter(slug__in=slugs).values_list("slug", "name"))
    return names, reference, base, results


def print_cross(names, reference, base, results):
    columns = ("MAP", "strict", f"P@{TOP}", "vs chroma")
    print(f"\nCross-rendering retrieval through the API: {names[reference]} against "
          f"{' and '.join(names[o] for o in base)}, both ways; relevant: the same work "
          f"(strict: in another ensemble); vs chroma: MAP / the chroma baseline's MAP")
    print(f"{'space':<40}{'layer / aspect':<52}" + "".join(f"{names[o][:38]:>40}" for o in base))
    print(f"{'':<92}" + "".join("".join(f"{c:>10}" for c in columns) for _ in base))

    def line(space, label, by_other):
        cells = "".join(f"{by_other[o][0]:>10.3f}{by_other[o][1]:>10.3f}{by_other[o][2]:>10.3f}"
                        f"{by_other[o][0] / base[o][0][0]:>9.2f}x" for o in base)
        print(f"{space[:39]:<40}{label[:51]:<52}{cells}")

    line("", "random ranking", {o: base[o][1] for o in base})
    line("", "chroma_cqt mean + cosine (baseline)", {o: base[o][0] for o in base})
    for space, rows in results:
        for i, (label, by_other) in enumerate(rows):
            line(space.name if i == 0 else "", label, by_other)


def plot_cross(names, reference, base, results, path):
    """MAP same work per layer, one panel per other rendering; dotted: chroma, dashed: random."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(base), figsize=(6 * len(base), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, other in zip(axes[0], base):
        for (space, rows), colour in zip(results, colours):
            layers = [(label, scores[other]) for label, scores in rows if label.startswith("Layer")]
            axis.plot(range(len(layers)), [s[0] for _, s in layers], marker="o", color=colour, label=space.name)
            axis.plot(range(len(layers)), [s[1] for _, s in layers], marker="x", linestyle=":", color=colour)
        axis.axhline(base[other][0][0], color="black", linestyle="-.", linewidth=1, label="chroma_cqt baseline")
        axis.axhline(base[other][1][0], color="grey", linestyle="--", linewidth=1, label="random ranking")
        axis.set_title(f"same work: {names[reference]} vs {names[other]}", fontsize=9)
        axis.set_xlabel("layer")
        axis.set_ylabel("MAP (x: strict)")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=80)


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
    parser.add_argument("--cross-plot", help="where to write the cross-rendering plot "
                        "(default DATA_DIR/quality-cross.png)")
    parser.add_argument("--stability", action="store_true",
                        help="also probe the default space (the stack) again with 5%% more demo tracks and compare its aspect map")
    args = parser.parse_args()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from analysis.models import EmbeddingSpace
    from bench.quality.stability import print_table, stability
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
        cross = cross_rendering() if args.dataset == "demo" else None
        stable = stability(default_space(), sys.stderr) if args.stability else None
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
    if cross:
        print_cross(*cross)
        path = Path(args.cross_plot or settings.DATA_DIR / "quality-cross.png")
        plot_cross(*cross, path)
        print(f"plot: {path}")
    if stable:
        print_table(*stable)


if __name__ == "__main__":
    main()
