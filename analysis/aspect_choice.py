"""How a probe run chooses each aspect's layers, with what a curator needs to trust it.
Run on the worker at the end of a probe run; the result is stored on the run
(`ProbeRun.aspect_choices`) and read by recommendations.aspects.aspect_map.

1. R² (every aspect with proxy targets among the run's): the best layer by the mean R²
   of the aspect's targets, or the weighted probe's layer mix when it scores more than
   MESS_ASPECT_WEIGHTED_GAIN higher (recommendations.aspects.choices_from_run).
2. Retrieval (aspects with a labelled task, analysis/retrieval.py, when enough of the
   run's tracks carry its labels): the candidates are every single layer, the R² choice,
   the previous map's choice, and the best two and three layers by retrieval mixed
   equally; the best mean average precision wins. So an aspect's choice is never worse at
   its task than its best single layer, on the run's tracks.
3. Spread: `agreement` is the share of resamples in which the chosen candidate is the
   best: bootstrap samples of the queries for retrieval, the outer folds for R².
4. Stability: the previous map's choice (the newest run that may set the map) stays unless
   the new best beats it by more than max(MESS_ASPECT_SWITCH_MARGIN, twice the spread of
   their difference over the resamples): a few more tracks of the same kind do not flip
   the map. (Which runs may set the map at all: MESS_ASPECT_MIN_TRACKS, in aspect_map.)
"""

import numpy as np
from django.conf import settings

from analysis.retrieval import TASKS, mix_similarity, query_average_precisions, task_relevance, unit_track_vectors

BOOTSTRAP_SAMPLES = 200
MIN_QUERIES = 4  # queries with a relevant track, for a task to count
MAX_RETRIEVAL_TRACKS = 2000  # a seeded sample of larger runs: the [n, n] similarities stay small
WEIGHTED = "weighted"  # the R² candidate that is the weighted probe's mix


def choose_aspects(run, report, specs, X, groups, tracks, previous):
    """{aspect: stored choice} (see the module docstring). `report`: the run's ProbeReport;
    `specs`: its targets' TargetSpecs in report order; X, groups: the probed windows and
    their track ids; `tracks`: {id: Track}; `previous`: {aspect: {"layers": {layer: w}}}
    of the map this run may replace (empty when none)."""
    from recommendations.aspects import choices_from_run

    summary = report.to_dict()
    r2 = {int(layer): {t: cell["r2"] for t, cell in by_target.items()} for layer, by_target in summary["layers"].items()}
    aspects = {spec.name: spec.aspect for spec in specs}
    base = choices_from_run(run.pk, r2, aspects, summary["weighted"])
    widths = [run.space.layer_dim(layer) for layer in range(run.space.num_layers)]
    retrieval = _Retrieval(X, groups, tracks, widths)
    choices = {}
    for name, choice in base.items():
        targets = [t for t, spec in enumerate(specs) if spec.aspect == name]
        layers, agreement, basis, kept = _settle_r2(report, targets, choice.layers, previous.get(name))
        stored = {"layers": layers, "agreement": agreement, "agreement_basis": basis, "kept_previous": kept,
                  "retrieval": None}
        task = retrieval.task_for(name)
        if task is not None:
            stored.update(retrieval.settle(task, layers, previous.get(name)))
        stored["layers"] = {str(layer): weight for layer, weight in stored["layers"].items()}
        choices[name] = stored
    return choices


def _settle_r2(report, targets, layers, previous):
    """(layers, agreement, basis, kept previous) by R² over the outer folds. A previous
    mix of layers is scored as this run's weighted probe (its weights are estimates that
    move a little with every run: a mix chosen again keeps the previous weights)."""
    per_layer = np.nanmean(report.layers.r2[:, targets, :], axis=1)  # [L, K]
    folds = {layer: per_layer[layer] for layer in range(len(per_layer))}
    folds[WEIGHTED] = np.nanmean(report.weighted.r2[targets, :], axis=0)
    chosen = next(iter(layers)) if len(layers) == 1 else WEIGHTED
    if not previous or not all(int(layer) in folds for layer in previous["layers"]):
        return layers, _agreement(folds, chosen), "outer folds (R²)", False
    before_layers = {int(layer): float(weight) for layer, weight in previous["layers"].items()}
    before = next(iter(before_layers)) if len(before_layers) == 1 else WEIGHTED
    if before == chosen or _keeps(folds[chosen], folds[before]):
        return before_layers, _agreement(folds, before), "outer folds (R²)", before_layers != layers
    return layers, _agreement(folds, chosen), "outer folds (R²)", False


class _Retrieval:
    """The run's tracks as labelled retrieval tasks, with their unit track vectors."""

    def __init__(self, X, groups, tracks, widths):
        ids = np.unique(groups)
        if len(ids) > MAX_RETRIEVAL_TRACKS:
            keep = np.sort(np.random.default_rng(0).choice(ids, MAX_RETRIEVAL_TRACKS, replace=False))
            windows = np.isin(groups, keep)
            X, groups = X[windows], groups[windows]
        self.units, ids = unit_track_vectors(X, groups, widths)
        self.relevance = task_relevance([tracks[int(i)] for i in ids])

    def task_for(self, aspect):
        for task in TASKS:
            if task.aspect == aspect and self.relevance[task.name].any(axis=1).sum() >= MIN_QUERIES:
                return task
        return None

    def settle(self, task, r2_layers, previous):
        """The retrieval part of a stored choice (module docstring, 2-4)."""
        relevant = self.relevance[task.name]

        def precisions(weights):
            return query_average_precisions(mix_similarity(self.units, weights), relevant)

        singles = {layer: precisions({layer: 1.0}) for layer in self.units}
        by_map = sorted(singles, key=lambda layer: -singles[layer].mean())
        candidates = {_key({layer: 1.0}): {layer: 1.0} for layer in singles}
        aps = {_key({layer: 1.0}): values for layer, values in singles.items()}
        before = None
        if previous and all(int(layer) in singles for layer in previous["layers"]):
            before = {int(layer): weight for layer, weight in previous["layers"].items()}
        mixes = [r2_layers, *({layer: 1 / size for layer in by_map[:size]} for size in (2, 3)), before]
        for weights in filter(None, mixes):
            if _key(weights) not in aps:
                candidates[_key(weights)], aps[_key(weights)] = weights, precisions(weights)
        samples = _bootstrap(aps)
        # Best by MAP; a tie keeps the R² choice, then the fewest layers.
        chosen = min(candidates, key=lambda key: (-aps[key].mean(), key != _key(r2_layers), len(key)))
        kept = False
        if before is not None and _key(before) != chosen and _keeps(samples[chosen], samples[_key(before)]):
            chosen, kept = _key(before), True
        best = _key({by_map[0]: 1.0})
        return {
            "layers": candidates[chosen],
            "agreement": _agreement(samples, chosen),
            "agreement_basis": f"{BOOTSTRAP_SAMPLES} bootstrap samples of {len(aps[chosen])} queries (retrieval)",
            "kept_previous": kept,
            "retrieval": {
                "task": task.name, "description": task.description, "metric": "MAP",
                "score": float(aps[chosen].mean()), "queries": len(aps[chosen]),
                "best_layer": int(by_map[0]), "best_layer_score": float(aps[best].mean()),
                "r2_choice_score": float(aps[_key(r2_layers)].mean()),
            },
        }


def _key(weights):
    return tuple(sorted((int(layer), round(float(weight), 6)) for layer, weight in weights.items()))


def _bootstrap(aps):
    """{key: [BOOTSTRAP_SAMPLES] MAP of resampled queries}, the same resamples for every key."""
    count = len(next(iter(aps.values())))
    picks = np.random.default_rng(0).integers(0, count, size=(BOOTSTRAP_SAMPLES, count))
    return {key: values[picks].mean(axis=1) for key, values in aps.items()}


def _keeps(best, before):
    """Whether the previous choice stays: `best` (the new winner's resample scores) does not
    beat `before` by more than the margin (module docstring)."""
    difference = np.asarray(best) - np.asarray(before)
    spread = 2 * float(np.nanstd(difference)) if np.isfinite(difference).any() else 0.0
    return float(np.nanmean(difference)) <= max(settings.MESS_ASPECT_SWITCH_MARGIN, spread)


def _agreement(samples, chosen):
    """Share of resamples in which `chosen` scores highest of all candidates."""
    keys = list(samples)
    table = np.vstack([np.nan_to_num(np.asarray(samples[key], dtype=float), nan=-np.inf) for key in keys])
    return float(np.mean(table.argmax(axis=0) == keys.index(chosen)))
