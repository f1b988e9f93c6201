"""Radio and paths benchmark: `python -m bench.radio [--tracks 100000] [--seeds 10]`.

On the demo catalogue (prepared by `manage.py demo --no-serve`, or `make demo`, in the same
MESS_DATA_DIR), in its active embedding space, with a copy of every demo track added in a
dataset of its own (the same audio, the same vectors and the exact-duplicate pair intake
records: the many copies of one recording that AudioMuse-AI #30 complains of), removed at
the end:
- radio of 50 by aspect=harmony from each of --seeds seeds: pairs of tracks in it that are
  copies of one recording (same sha256 or a duplicate pair; 0 expected) and cap
  violations (rules.violations over the seed and the 50; 0 expected), against the 50
  most similar tracks by harmony (similar tracks: no such rules);
- radio of 50 by aspect=timbre: share of its tracks in the seed's instrument group
  (metadata["instrument"], the demo's ensemble), over the first 10 and all 50, against 50
  tracks drawn at random, and the ratio;
- paths of 8 steps by timbre from each piano piece to a string piece of another work:
  mean similarity to the end at each step, whether it rises at every step on average,
  and Spearman's rho of step against similarity to the end, averaged over the pairs, for
  the spherical (slerp, the default) and the normalised linear interpolation.
Then, in-process on bench/search's synthetic catalogue (clustered 768-dim vectors in
layer 0, deleted at the end) of 10k and of --tracks tracks: the latency of one next radio
track (count=1, 20 played, layer=0) against similar tracks (k=10, layer=0), p50/p95, and
the ratio, in the same run, so the cost growth from 10k to --tracks is compared too.
Run it with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.
"""

import argparse
import os
import sys
import time
from collections import Counter

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
RADIO_LENGTH, PATH_STEPS, QUERIES, PLAYED = 50, 8, 200, 20


def add_copies(dataset):
    """A dataset holding a copy of each of `dataset`'s tracks, with its vectors in every
    space and the exact pair intake records: (the copies dataset)."""
    from django.db import connection
    from django.db.models import F

    from analysis.models import EmbeddingSpace
    from catalog.models import Dataset, Track, TrackDuplicate

    copies = Dataset.objects.create(name="bench-radio copies", slug=f"bench-radio-copies-{os.getpid()}")
    originals = list(dataset.tracks.order_by("pk"))
    made = Track.objects.bulk_create(
        Track(**{**{f.attname: getattr(t, f.attname) for f in Track._meta.concrete_fields if not f.primary_key},
                 "dataset_id": copies.pk}) for t in originals
    )
    with connection.cursor() as cursor:
        for original, copy in zip(originals, made):
            cursor.execute(
                "INSERT INTO analysis_trackembedding (track_id, space_id, layer, vector) "
                "SELECT %s, space_id, layer, vector FROM analysis_trackembedding WHERE track_id = %s",
                [copy.pk, original.pk],
            )
    TrackDuplicate.objects.bulk_create(
        TrackDuplicate(track=copy, of_track=original, kind="exact", score=1.0) for original, copy in zip(originals, made)
    )
    # New vectors move the version (as storing a track's does), so the indices take them in.
    EmbeddingSpace.objects.filter(embeddings__track__dataset=copies).distinct().update(version=F("version") + 1)
    return copies


def copy_pairs(tracks):
    """Pairs among `tracks` that are copies of one recording (same sha256 or a duplicate pair)."""
    from catalog.models import TrackDuplicate

    ids = [t.pk for t in tracks]
    paired = set(TrackDuplicate.objects.filter(track__in=ids, of_track__in=ids).values_list("track", "of_track"))
    return sum(1 for i, a in enumerate(tracks) for b in tracks[i + 1:]
               if a.sha256 == b.sha256 or (a.pk, b.pk) in paired or (b.pk, a.pk) in paired)


def demo_rows(dataset, seeds):
    from scipy.stats import spearmanr

    from recommendations.listening.paths import track_path
    from recommendations.listening.radio import Seed, radio
    from recommendations.listening.rules import Caps, violations
    from recommendations.recommender import similar_tracks

    rows = []
    tracks = list(dataset.tracks.order_by("pk"))
    picks = [tracks[i] for i in np.linspace(0, len(tracks) - 1, seeds).astype(int)]
    caps = Caps()

    pairs, broken, plain_pairs, served = [], [], [], []
    for n, seed in enumerate(picks):
        found = radio(Seed(seed), aspect="harmony", count=RADIO_LENGTH, random_seed=n)
        played = [r.track for r in found.results]
        served.append(len(played))
        pairs.append(copy_pairs([seed, *played]))
        broken.append(len(violations(caps, [seed, *played])))
        plain = similar_tracks(seed, aspect="harmony", k=RADIO_LENGTH)
        plain_pairs.append(copy_pairs([seed, *(r.track for r in plain.results)]))
    rows.append((f"harmony radio of {RADIO_LENGTH}, {seeds} seeds: tracks served (mean)", f"{np.mean(served):.1f}",
                 "fewer than 50 when nothing left fits the caps"))
    rows.append(("  pairs of copies of one recording (total)", f"{sum(pairs)}",
                 f"similar tracks k={RADIO_LENGTH} by harmony: {sum(plain_pairs)}"))
    rows.append(("  cap violations (total)", f"{sum(broken)}",
                 f"default caps: window {caps.window}, composer {caps.max_per_composer}, work {caps.max_per_work}, "
                 f"album {caps.max_per_album}"))

    rng = np.random.default_rng(0)
    same, same_first, chance, most, most_first = [], [], [], [], []
    group_sizes = Counter(t.metadata.get("instrument") for t in tracks)
    for n, seed in enumerate(picks):
        group = seed.metadata.get("instrument")
        found = radio(Seed(seed), aspect="timbre", count=RADIO_LENGTH, random_seed=n)
        groups = [r.track.metadata.get("instrument") for r in found.results]
        same.append(np.mean([g == group for g in groups]))
        same_first.append(np.mean([g == group for g in groups[:10]]))
        # The most a radio can hold of the seed's group: the group's other tracks.
        most.append(min(group_sizes[group] - 1, len(groups)) / len(groups))
        most_first.append(min(group_sizes[group] - 1, 10) / min(10, len(groups)))
        others = [t for t in tracks if t.pk != seed.pk]
        drawn = rng.choice(len(others), min(RADIO_LENGTH, len(others)), replace=False)
        chance.append(np.mean([others[i].metadata.get("instrument") == group for i in drawn]))
    random_share = np.mean(chance)
    rows.append((f"timbre radio of {RADIO_LENGTH}: share in the seed's instrument group, first 10",
                 f"{np.mean(same_first):.3f}", f"{np.mean(same_first) / random_share:.1f}x random; "
                 f"the group's size allows at most {np.mean(most_first):.3f}"))
    rows.append((f"  all {RADIO_LENGTH}", f"{np.mean(same):.3f}", f"{np.mean(same) / random_share:.1f}x random; "
                 f"the group's size allows at most {np.mean(most):.3f}"))
    rows.append((f"  {RADIO_LENGTH} random tracks", f"{random_share:.3f}", "1.0x"))

    pianos = [t for t in tracks if t.metadata.get("instrument") == "piano"]
    strings = [t for t in tracks if t.metadata.get("instrument") == "strings"]
    ends = [(a, b) for a in pianos for b in strings if (a.composer, a.work) != (b.composer, b.work)]
    ends = [ends[i] for i in np.linspace(0, len(ends) - 1, min(seeds, len(ends))).astype(int)]
    for interpolation in ("slerp", "lerp"):
        curves, rhos = [], []
        for a, b in ends:
            path = track_path(a, b, aspect="timbre", steps=PATH_STEPS, interpolation=interpolation)
            to_end = [step.score_to_end for step in path.steps]
            if len(to_end) == PATH_STEPS:
                curves.append(to_end)
                rhos.append(spearmanr(range(len(to_end)), to_end).statistic)
        mean = np.mean(curves, axis=0)
        rising = bool(np.all(np.diff(mean) > 0))
        rows.append((f"path piano -> strings by timbre ({interpolation}), {len(curves)} pairs: "
                     f"similarity to the end by step", " ".join(f"{v:.3f}" for v in mean),
                     f"rises at every step on average: {'yes' if rising else 'no'}; "
                     f"mean Spearman {np.mean(rhos):.2f}"))
    return rows


def synthetic_rows(sizes):
    from django.db import connection

    from analysis.models import EmbeddingSpace
    from bench.search.__main__ import DIM, copy_layer, drop_pg_indexes, latencies, synthetic
    from catalog.models import Dataset, Track
    from recommendations import index
    from recommendations.listening.radio import Seed, radio
    from recommendations.recommender import similar_tracks

    rows, made = [], []
    try:
        for n in sizes:
            dataset = Dataset.objects.create(name=f"bench-radio-{n}", slug=f"bench-radio-{n}-{os.getpid()}")
            space = EmbeddingSpace.objects.create(
                name=f"bench-radio-{n}", model_id="bench", weights_hash=f"bench-radio-{n}-{os.getpid()}",
                num_layers=1, dim=DIM, sample_rate=24000, window_seconds=5, overlap=0.5,
            )
            made.append((dataset, space))
            drop_pg_indexes(space)
            began = time.perf_counter()
            created = Track.objects.bulk_create(
                (Track(dataset=dataset, title=f"t{i}", composer=f"c{i % 5000}", audio_path=f"bench/{i}.wav",
                       sha256=f"{n}-{i}", duration=60, sample_rate=24000, channels=1, format="WAV", size_bytes=1)
                 for i in range(n)), batch_size=10_000,
            )
            ids = np.array([t.pk for t in created], dtype=np.int64)
            copy_layer(space, 0, ids, synthetic(n, seed=0))
            entry = index.load_or_build(space.pk, 0)
            while not any(row["space"] == space.pk and row["loaded"] for row in index.index_status()):
                index.search(space, 0, np.ones(DIM), 1)  # maps the saved file, in the background
                time.sleep(0.05)
            rows.append((f"synthetic {n}: populate + index build", f"{time.perf_counter() - began:.1f} s",
                         index.backend_name(entry.index)))
            rng = np.random.default_rng(1)
            seeds = [created[i] for i in rng.choice(n, QUERIES, replace=False)]
            histories = {t.pk: [int(i) for i in rng.choice(ids, PLAYED, replace=False)] for t in seeds}

            def next_track(track):
                return radio(Seed(track), space=space, layer=0, count=1, played=histories[track.pk], random_seed=1)

            def similar(track):
                return similar_tracks(track, space=space, layer=0, k=10)

            for fn in (next_track, similar):  # warm-up: connections, caches
                fn(seeds[0])
            radio_p50, radio_p95 = latencies(next_track, seeds, percentiles=(50, 95))
            similar_p50, similar_p95 = latencies(similar, seeds, percentiles=(50, 95))
            rows.append((f"synthetic {n}: next radio track (count=1, {PLAYED} played) p50 / p95",
                         f"{radio_p50:.2f} / {radio_p95:.2f} ms", f"{radio_p50 / similar_p50:.2f}x similar tracks"))
            rows.append((f"synthetic {n}: similar tracks (k=10) p50 / p95", f"{similar_p50:.2f} / {similar_p95:.2f} ms",
                         ""))
    finally:
        began = time.perf_counter()
        for dataset, space in made:
            # In SQL: Django's cascade would load every track first (minutes at 100k), and nothing
            # else refers to these tracks.
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM analysis_trackembedding WHERE space_id = %s", [space.pk])
                cursor.execute("DELETE FROM catalog_track WHERE dataset_id = %s", [dataset.pk])
            for path in index.space_files(space.pk, space.created_at):
                path.unlink(missing_ok=True)
            space.delete()
            dataset.delete()
        index.clear()
        rows.append(("synthetic catalogues deleted", f"{time.perf_counter() - began:.1f} s", ""))
    return rows


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.radio", description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000, help="the larger synthetic catalogue")
    parser.add_argument("--seeds", type=int, default=10, help="radios and paths per measure on the demo")
    parser.add_argument("--no-demo", action="store_true", help="only the synthetic latency rows")
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command

    from catalog.demo_corpus import DATASET_SLUG
    from catalog.models import Dataset
    from messsite.embedded import EmbeddedServices

    began = time.perf_counter()
    services = EmbeddedServices().start()
    rows = []
    try:
        call_command("migrate", verbosity=0)
        dataset = Dataset.objects.filter(slug=DATASET_SLUG).first()
        if not args.no_demo:
            if dataset is None:
                sys.exit("There is no demo catalogue here: run `manage.py demo --no-serve` with this MESS_DATA_DIR "
                         "first (or pass --no-demo).")
            copies = add_copies(dataset)
            try:
                rows += demo_rows(dataset, args.seeds)
            finally:
                copies.delete()
            rows.append(("demo measures", f"{time.perf_counter() - began:.0f} s", "including start-up"))
        rows += synthetic_rows(sorted({10_000, args.tracks}))
    finally:
        services.stop()
        rows.append(("bench run time", f"{time.perf_counter() - began:.0f} s", f"{os.cpu_count()} CPUs"))
        width = max(len(r[0]) for r in rows)  # printed even when a step failed
        for name, value, note in rows:
            print(f"{name:<{width}}  {value:>30}  {note}")


if __name__ == "__main__":
    main()
