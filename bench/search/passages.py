"""Passage queries while their window index is refreshed: `python -m bench.search.passages
[--tracks 10000] [--windows 10]`, also a part of `python -m bench.search` (--passage-tracks).

`--tracks` synthetic tracks of `--windows` windows each, one 768-dim layer, in a space of
their own. Reports the window index's build+save (before, the first query after any version
move waited that long, building in the request), then similar_passages' p50/p99 steady and
while the refresh after 1 % of the tracks are re-extracted runs in a background thread (the
old index answering; it reads only the new files), and the ratio of the two p99s.
"""

import argparse
import os
import time

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
DIM, QUERIES = 768, 200
WEIGHTS = ((0, 1.0),)  # layer 0 alone, as the queries below ask


def populate(dataset, tracks, windows):
    """A one-layer space holding `windows` windows of each of `tracks` new tracks."""
    from analysis.embeddings import save_window_features
    from analysis.models import EmbeddingSpace, TrackFeatures
    from bench.search.__main__ import synthetic
    from catalog.models import Track

    space = EmbeddingSpace.objects.create(
        name="bench-passages", model_id="bench", weights_hash=f"bench-passages-{os.getpid()}", num_layers=1,
        dim=DIM, sample_rate=24000, window_seconds=5, overlap=0.5,
    )
    created = Track.objects.bulk_create(
        (Track(dataset=dataset, title=f"p{i}", audio_path=f"bench/p{i}.wav", sha256=f"p{i}",
               duration=2.5 * windows + 2.5, sample_rate=24000, channels=1, format="WAV", size_bytes=1)
         for i in range(tracks)),
        batch_size=10_000,
    )
    vectors = synthetic(tracks * windows, seed=5).reshape(tracks, windows, 1, DIM)
    starts = (np.arange(windows) * 2.5).tolist()
    TrackFeatures.objects.bulk_create(
        (TrackFeatures(track=track, space=space, num_windows=windows, window_starts=starts, audio_sha256=track.sha256,
                       path=save_window_features(f"features/{space.pk}/{track.pk}", vectors[i]))
         for i, track in enumerate(created)),
        batch_size=5_000,
    )
    return space, created


def reextract(space, tracks, windows):
    """New features files for `tracks`, as a re-extraction writes them; moves the version."""
    from django.db.models import F

    from analysis.embeddings import save_window_features
    from analysis.models import EmbeddingSpace, TrackFeatures
    from bench.search.__main__ import synthetic

    vectors = synthetic(len(tracks) * windows, seed=6).reshape(len(tracks), windows, 1, DIM)
    for track, features in zip(tracks, vectors):
        TrackFeatures.objects.filter(track=track, space=space).update(
            path=save_window_features(f"features/{space.pk}/{track.pk}", features))
    EmbeddingSpace.objects.filter(pk=space.pk).update(version=F("version") + 1)
    return len(tracks)


def run(dataset, tracks, windows):
    """Rows (name, value, note) of the passage figures."""
    from django.conf import settings

    from bench.search.__main__ import latencies
    from recommendations import passages

    began = time.perf_counter()
    space, created = populate(dataset, tracks, windows)
    rows = [(f"passages: populate ({tracks} tracks x {windows} windows)", f"{time.perf_counter() - began:.1f} s", "")]
    settings.MESS_INDEX_CHECK_SECONDS = 0  # every query reads the version: the move is seen at once
    try:
        began = time.perf_counter()
        passages.load_or_build(space.pk, WEIGHTS)
        build = time.perf_counter() - began
        picks = [created[i] for i in np.random.default_rng(2).choice(tracks, QUERIES, replace=False)]

        def query(track):
            return passages.similar_passages(track, start=0, end=5, space=space, layer=0, k=10)

        latencies(query, picks)  # maps the saved file, warms the tracks' rows and files
        steady_p50, steady_p99 = latencies(query, picks * 5)  # as many queries as a refresh sees, for its p99
        changed = reextract(space, created[: max(1, tracks // 100)], windows)
        slot = next(slot for key, slot in passages._slots.items() if key[0] == space.pk)
        during, began = [], time.perf_counter()
        while slot.current.version == space.version:  # the old version answers until the swap
            asked = time.perf_counter()
            query(picks[len(during) % len(picks)])
            during.append(time.perf_counter() - asked)
        refresh = time.perf_counter() - began
        during_p50, during_p99 = np.percentile(during, (50, 99)) * 1e3
        after_p50, after_p99 = latencies(query, picks * 5)
        rows += [
            (f"passages: window index build+save ({tracks * windows} windows)", f"{build:.2f} s",
             f"before: in the first request after a version move, {build * 1e3 / steady_p99:.0f}x its steady p99"),
            ("passages: similar_passages steady p50/p99", f"{steady_p50:.2f} / {steady_p99:.2f} ms", ""),
            (f"passages: during a refresh after {changed} tracks re-extracted ({refresh:.1f} s) p50/p99",
             f"{during_p50:.2f} / {during_p99:.2f} ms",
             f"{len(during)} queries, p99 {during_p99 / steady_p99:.2f}x steady (goal <= 2x); "
             f"after it {after_p50:.2f} / {after_p99:.2f} ms"),
        ]
    finally:
        for path in [*passages.index.index_dir().glob(f"s{space.pk}-*"),
                     *passages.index.index_dir().glob(f"s{space.pk}_*")]:
            path.unlink()
        space.delete()  # its features' files go with it
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=10)
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command

    from catalog.models import Dataset
    from messsite.embedded import EmbeddedServices

    services = EmbeddedServices().start()
    call_command("migrate", verbosity=0)
    dataset = Dataset.objects.create(name="bench-passages", slug=f"bench-passages-{os.getpid()}")
    try:
        for name, value, note in run(dataset, args.tracks, args.windows):
            print(f"{name:<60}  {value:>20}  {note}")
    finally:
        dataset.delete()
        services.stop()


if __name__ == "__main__":
    main()
