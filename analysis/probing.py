"""Running one probe run on a worker: proxy targets per window, the windows' features,
one probe per (layer, target), results stored. Worker-only (librosa, via targets).

Tracks are those with per-window features in the run's space (and dataset), computed
from their present audio. A track whose audio or MIDI cannot be read is left out with
its reason (`run.skipped`); it never fails the run. The run fails, with a reason for
people, only when what is left cannot be probed (too few tracks for the folds).
"""

import logging
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from analysis.aspect_choice import choose_aspects
from analysis.embeddings import load_window_features, local_file
from analysis.models import ProbeResult, ProbeRun, TrackFeatures
from analysis.probes import DEFAULT_ALPHAS, empty_cells, probe_layers
from analysis.progress import throttled
from analysis.target_specs import specs, target_names
from analysis.targets import TargetError, cached_targets
from catalog.models import Track

log = logging.getLogger(__name__)
Status = ProbeRun.Status
TARGETS_SHARE = 50.0  # percent of the progress bar for computing targets; the rest is probing


class ProbeFailed(Exception):
    """The run cannot go on; the message says why, for people."""


def run_probe(run_id, *, on_progress=None):
    """Run one queued (or interrupted) probe run; returns it, or None when it is finished or gone."""
    run = ProbeRun.objects.filter(pk=run_id, status__in=ProbeRun.ACTIVE_STATES).select_related("space").first()
    if run is None:
        log.debug("probe run %s is finished or gone; nothing to do", run_id)
        return None
    ProbeRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, started_at=timezone.now(), progress=0, stage="computing targets", error=""
    )
    report = _progress_reporter(run.pk, on_progress)
    try:
        chosen = specs(run.targets or target_names())
        names = [spec.name for spec in chosen]
        began = time.perf_counter()
        X, Y, groups, skipped = collect(run, names, report)
        collected = time.perf_counter()
        parameters = {"folds": 5, "inner_folds": 3, "alphas": list(DEFAULT_ALPHAS), "seed": 0, **run.parameters}
        dropped = uncovered_targets(Y, groups, names, parameters)
        if len(dropped) == len(names):
            raise ProbeFailed(f"Cannot probe: no target has values on enough tracks ({dropped[0][1]}).")
        kept = [t for t, name in enumerate(names) if name not in {d[0] for d in dropped}]
        chosen, names, Y = [chosen[t] for t in kept], [names[t] for t in kept], Y[:, kept]
        try:
            result = probe_layers(
                X, Y, groups, targets=names, folds=parameters["folds"], inner_folds=parameters["inner_folds"],
                alphas=parameters["alphas"], seed=parameters["seed"],
                widths=[run.space.layer_dim(layer) for layer in range(run.space.num_layers)],
                progress=lambda done, total: report(TARGETS_SHARE + (100 - TARGETS_SHARE) * done / total,
                                                    f"probing: {done} of {total} steps"),
            )
        except ValueError as exc:  # too few tracks for the folds, a target without values, ...
            raise ProbeFailed(f"Cannot probe: {exc}") from exc
        probed = time.perf_counter()
        report(99.0, "choosing each aspect's layers")
        aspects = choose_aspects(run, result, chosen, X, groups, Track.objects.in_bulk(np.unique(groups).tolist()),
                                 previous_choices(run.space))
        timings = {"targets_and_features": collected - began, "probes": probed - collected,
                   "aspects": time.perf_counter() - probed}
    except ProbeFailed as exc:
        fail_run(run.pk, str(exc))
        return run
    store_results(run, result.to_dict(), chosen, skipped, dropped, parameters, timings, aspects)
    return run


def previous_choices(space):
    """{aspect: {"layers": ...}} of the space's map run, which a new run may replace."""
    from recommendations.aspects import map_run, run_choices

    previous = map_run(space)
    return {name: {"layers": choice.layers} for name, choice in run_choices(previous).items()} if previous else {}


def collect(run, names, report):
    """(X [windows, layers, dim] float16, Y [windows, targets] float32, track id per
    window, [[track id, reason]] left out) over the run's tracks."""
    features = list(
        TrackFeatures.objects.filter(space=run.space, **({"track__dataset": run.dataset_id} if run.dataset_id else {}))
        .select_related("track")
        .order_by("track_id")
    )
    current = [f for f in features if f.audio_sha256 == f.track.sha256]
    skipped = [[f.track_id, "its features are of an older version of its audio; extract it again"]
               for f in features if f.audio_sha256 != f.track.sha256]
    if not current:
        raise ProbeFailed(f"No track has current per-window features in {run.space}"
                          + (f" and dataset {run.dataset}" if run.dataset_id else "") + ": extract some first.")
    total = sum(f.num_windows for f in current)
    X = np.empty((total, run.space.num_layers, run.space.dim), np.float16)
    Y = np.empty((total, len(names)), np.float32)
    groups = np.empty(total, np.int64)
    at = 0
    for done, feature in enumerate(current):
        report(TARGETS_SHARE * done / len(current), f"computing targets: track {done + 1} of {len(current)}")
        try:
            table = track_targets(feature, run.space)
        except TargetError as exc:
            skipped.append([feature.track_id, str(exc)])
            continue
        except OSError as exc:  # the stored file went missing
            skipped.append([feature.track_id, f"cannot read {feature.track.file_name}: {exc.strerror or exc}"])
            continue
        windows = load_window_features(feature.path)
        if len(windows) != len(table.windows):
            skipped.append([feature.track_id, f"{len(windows)} feature windows but {len(table.windows)} target rows"])
            continue
        columns = [table.names.index(name) for name in names]
        X[at:at + len(windows)] = windows
        Y[at:at + len(windows)] = table.windows[:, columns]
        groups[at:at + len(windows)] = feature.track_id
        at += len(windows)
    return X[:at], Y[:at], groups[:at], skipped


def uncovered_targets(Y, groups, names, parameters):
    """[[name, reason]] of the targets without a value in some part of the folds (every
    part needs one, else a fit or a test set would be empty)."""
    folds, inner_folds = parameters["folds"], parameters["inner_folds"]
    if len(np.unique(groups)) < folds * inner_folds:
        return []  # too few tracks for any target: probe_layers says so
    empty = empty_cells(Y, groups, folds, inner_folds, parameters["seed"])
    return [[name, f"{name} has values on {len(np.unique(groups[np.isfinite(Y[:, t])]))} of "
                   f"{len(np.unique(groups))} tracks, too few for {folds} x {inner_folds} folds grouped by track"]
            for t, (name, missing) in enumerate(zip(names, empty)) if missing]


def track_targets(feature, space):
    """The track's target table on its extraction windows, from the cache when it is current."""
    track = feature.track
    # A track shorter than one window is one window of its own length (the window rule).
    window_seconds = min(space.window_seconds, track.duration)
    with local_file(track.storage, track.audio_path) as path, midi_file(track) as midi:
        return cached_targets(path, track.sha256, feature.window_starts, window_seconds,
                              settings.MESS_TARGET_CACHE_DIR, midi_path=midi)


@contextmanager
def midi_file(track):
    """A path to the track's score-aligned MIDI file, or None: the copy kept in storage
    by the importer (`midi_path`), else the dataset's own file beside in-place audio
    (`midi_filename`, relative to the import root: SMD, MAESTRO)."""
    stored, name = track.metadata.get("midi_path"), track.metadata.get("midi_filename")
    if stored and default_storage.exists(stored):
        with local_file(default_storage, stored) as path:
            yield path
    elif name and track.audio_root and (Path(track.audio_root) / name).is_file():
        yield Path(track.audio_root) / name
    else:
        yield None


@transaction.atomic
def store_results(run, report, chosen, skipped, dropped, parameters, timings, aspect_choices):
    ProbeResult.objects.filter(run=run).delete()  # a re-delivered run replaces its results
    ProbeResult.objects.bulk_create(
        ProbeResult(run=run, layer=int(layer), target=target, alphas=scores.pop("alpha"), **scores)
        for layer, by_target in report["layers"].items()
        for target, scores in by_target.items()
    )
    ProbeRun.objects.filter(pk=run.pk).update(
        status=Status.SUCCEEDED, progress=100, stage="done", finished_at=timezone.now(),
        target_specs=[asdict(spec) for spec in chosen], weighted=report["weighted"], baseline=report["baseline"],
        tracks=report["samples"]["tracks"], windows=report["samples"]["windows"], skipped=skipped,
        dropped_targets=dropped, aspect_choices=aspect_choices,
        parameters=parameters, timings=timings,
    )


def fail_run(run_id, reason):
    ProbeRun.objects.filter(pk=run_id, status__in=ProbeRun.ACTIVE_STATES).update(
        status=Status.FAILED, error=reason, finished_at=timezone.now(), stage="failed"
    )


def _progress_reporter(run_id, also=None):
    def write(percent, stage):
        ProbeRun.objects.filter(pk=run_id).update(progress=round(percent, 1), stage=stage)

    return throttled(write, also)
