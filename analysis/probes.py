"""Layer probing: how well each MERT layer linearly predicts each proxy target.

Per layer and target: StandardScaler + Ridge, scored by outer K-fold cross-validation
grouped by track, with alpha chosen by an inner grouped cross-validation on each outer
training part only (nested CV; the scaler is refitted on every fitting set).

Speed: tracks are dealt into K x J cells (outer fold k, inner part j). Every fitting,
validation and test set is a union of cells, so one pass per layer collects each cell's
sums (n, sum x, X^T X, sum y, sum y^2, X^T y); a scaler and ridge fit for any union come
from summed cell statistics, and validation errors from the same sums, without touching
rows again. Each alpha is one D x D Cholesky solve shared by all targets. Layers run in
parallel threads.

Weighted probe: stacking (Breiman 1996, "Stacked regressions"). Within each outer
training part, every layer's inner out-of-fold predictions are combined with
non-negative least squares; the outer test rows get the same combination of the layers'
outer predictions. `weights` are each layer's share of the combination: its coefficient
times the spread of its predictions, so a layer whose probe predicts almost a constant
counts for little whatever its coefficient. This is a weighted sum of the layers' probes
rather than of their features (which would need 13 x 13 cross-layer Gram blocks: too
slow and too large), and it costs almost nothing on top of the per-layer probes.

Baselines, scored on the same folds: `shuffled` (each track's target values replaced
by another track's, so within-track structure stays but the link to the audio is gone;
probed on every layer as extra target columns, which shares the per-layer solves) and
`train_mean` (the training part's mean as the prediction).
"""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.linalg import cho_factor, cho_solve, cholesky, solve_triangular
from scipy.optimize import nnls
from threadpoolctl import threadpool_limits

DEFAULT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
_EPS = np.finfo(np.float64).eps


@dataclass
class Scores:
    """Per-fold scores; the last axis is the outer fold."""

    r2: np.ndarray
    corr: np.ndarray
    rmse: np.ndarray

    @classmethod
    def empty(cls, shape):
        return cls(*(np.full(shape, np.nan) for _ in range(3)))

    def put(self, index, values):
        for field, value in zip((self.r2, self.corr, self.rmse), values):
            field[index] = value

    def summary(self, index=()):
        out = {}
        for name in ("r2", "corr", "rmse"):
            folds = getattr(self, name)[index]
            out[name] = _number(_nanmean(folds))
            out[f"{name}_std"] = _number(_nanstd(folds))
        return out


@dataclass
class ProbeReport:
    """Fold-level results of probe_layers; to_dict() summarises them (mean and std over folds)."""

    targets: list
    layers: Scores  # [L, T, K]
    alphas: np.ndarray  # [L, T, K]: alpha chosen in each outer fold
    weighted: Scores  # [T, K]
    weights: np.ndarray  # [T, K, L]: each layer's share of the weighted probe
    shuffled: Scores  # [L, T, K]: targets shuffled across tracks
    train_mean: Scores  # [T, K]
    windows: int
    tracks: int

    def best_layers(self):
        """Per target: (layer, mean r2) of the layer with the highest mean r2."""
        r2 = _nanmean(self.layers.r2, axis=-1)
        best = {}
        for t, name in enumerate(self.targets):
            if np.isnan(r2[:, t]).all():
                best[name] = (None, None)
            else:
                layer = int(np.nanargmax(r2[:, t]))
                best[name] = (layer, float(r2[layer, t]))
        return best

    def to_dict(self):
        """JSON-ready: Python numbers, NaN as None; layer keys are strings, as after a JSON round trip."""
        best = self.best_layers()
        layers = {
            str(layer): {
                name: {**self.layers.summary((layer, t)), "alpha": self.alphas[layer, t].tolist()}
                for t, name in enumerate(self.targets)
            }
            for layer in range(len(self.layers.r2))
        }
        weighted, baseline = {}, {}
        for t, name in enumerate(self.targets):
            layer, layer_r2 = best[name]
            summary = self.weighted.summary(t)
            gain = None if summary["r2"] is None or layer_r2 is None else summary["r2"] - layer_r2
            weights = [_number(w) for w in _nanmean(self.weights[t], axis=0)]
            weighted[name] = {**summary, "weights": weights, "gain": gain}
            by_chance = _all_nan_quiet(np.nanmax, _nanmean(self.shuffled.r2[:, t]), None)
            baseline[name] = {
                # at the target's best real layer; max_r2: the best of all layers, by chance
                "shuffled": {**self.shuffled.summary((layer or 0, t)), "layer": layer, "max_r2": _number(by_chance)},
                "train_mean": self.train_mean.summary(t),
            }
        return {"layers": layers, "weighted": weighted, "baseline": baseline,
                "samples": {"windows": self.windows, "tracks": self.tracks}}


def probe_layers(X, Y, groups, *, targets=None, folds=5, alphas=DEFAULT_ALPHAS, inner_folds=3, seed=0,
                 progress=None, threads=None, widths=None):
    """Probe every layer of X [N windows, L layers, D] for every target of Y [N, T] (NaN:
    that row is left out for that target), folds grouped by track id `groups` [N].
    `progress(done, total)` is called after each layer and after the weighted probe;
    `threads` layers run at once (default: one per CPU). `widths[layer]`: how many leading
    dimensions of the layer carry values (the rest is padding, skipped); default all."""
    Y, groups, targets, alphas = _validated(X, Y, groups, targets, folds, alphas, inner_folds)
    n, layers, _ = X.shape
    t_count = Y.shape[1]
    outer, inner = track_folds(groups, folds, inner_folds, seed)
    cell = outer * inner_folds + inner
    order = np.argsort(cell, kind="stable")  # rows of a cell contiguous: each cell is a slice
    cell, outer = cell[order], outer[order]
    # Real targets, then their shuffled twins (same NaN places, so they share every solve).
    Y = np.hstack([Y, shuffled_across_tracks(Y, groups, seed)])[order]
    _check_coverage(Y[:, :t_count], cell, targets, folds * inner_folds)

    scores = Scores.empty((layers, 2 * t_count, folds))
    chosen = np.full((layers, 2 * t_count, folds), np.nan)
    test_pred = np.full((n, layers, t_count), np.nan, np.float32)
    oof = np.full((folds, n, layers, t_count), np.nan, np.float32)  # inner out-of-fold, per outer fold
    by_mask = _by_mask(np.isfinite(Y))  # targets with the same missing rows are solved together

    def probe(layer):
        X_layer = np.asarray(X[order, layer, : widths[layer] if widths else None], dtype=np.float64)
        if not np.isfinite(X_layer).all():
            raise ValueError(f"X has NaN or infinite values in layer {layer}")
        for keep, cols in by_mask:
            rows = np.flatnonzero(keep)
            part = _probe_layer(X_layer[rows] if len(rows) < n else X_layer, Y[np.ix_(rows, cols)], cell[rows],
                                folds, inner_folds, alphas)
            fold_scores, fold_alphas, pred, inner_pred = part
            scores.put((layer, cols), fold_scores)
            chosen[layer, cols] = fold_alphas
            for i, col in enumerate(cols):
                if col < t_count:
                    test_pred[rows, layer, col] = pred[:, i]
                    oof[:, rows, layer, col] = inner_pred[:, :, i]

    # One layer per thread, each with single-threaded BLAS: the solves are too small to
    # share well, and numpy's and scipy's BLAS thread pools stall each other when both spin.
    with threadpool_limits(1, user_api="blas"):
        with ThreadPoolExecutor(threads or _cpus()) as pool:
            try:
                for done, future in enumerate(as_completed([pool.submit(probe, layer) for layer in range(layers)]), 1):
                    future.result()
                    if progress:
                        progress(done, layers + 1)
            except BaseException:
                pool.shutdown(cancel_futures=True)  # a bad layer stops the rest
                raise
        weighted, weights = _stack(Y[:, :t_count], outer, folds, test_pred, oof)
    if progress:
        progress(layers + 1, layers + 1)
    real, twins = slice(0, t_count), slice(t_count, None)
    return ProbeReport(
        targets=targets,
        layers=Scores(scores.r2[:, real], scores.corr[:, real], scores.rmse[:, real]),
        alphas=chosen[:, real],
        weighted=weighted,
        weights=weights,
        shuffled=Scores(scores.r2[:, twins], scores.corr[:, twins], scores.rmse[:, twins]),
        train_mean=_train_mean(Y[:, :t_count], outer, folds),
        windows=n,
        tracks=len(np.unique(groups)),
    )


def track_folds(groups, folds=5, inner_folds=3, seed=0):
    """(outer, inner) part per row, whole tracks each. Inner fold j of outer fold k is every
    row with outer != k and inner == j: a grouped split of k's training part that never
    looks at its test part. Tracks are dealt largest first (ties in seeded random order) to
    the part with the fewest windows so far, as scikit-learn's GroupKFold does."""
    _, index, counts = np.unique(groups, return_inverse=True, return_counts=True)
    shuffled = np.random.default_rng(seed).permutation(len(counts))
    order = shuffled[np.argsort(-counts[shuffled], kind="stable")]
    outer_of = _deal(order, counts, folds)
    inner_of = np.empty_like(outer_of)
    for k in range(folds):
        members = order[outer_of[order] == k]
        inner_of[members] = _deal(members, counts, inner_folds)[members]
    return outer_of[index], inner_of[index]


def shuffled_across_tracks(Y, groups, seed=0):
    """Y with each track's values (per target, NaNs left in place) replaced by those of
    another track, tiled or cut to length; donors follow a random cycle through the tracks
    that have values, so no track keeps its own."""
    Y = np.asarray(Y, dtype=np.float64)
    out = np.full_like(Y, np.nan)
    _, index = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    for t in range(Y.shape[1]):
        rows = np.flatnonzero(np.isfinite(Y[:, t]))
        rows = rows[np.argsort(index[rows], kind="stable")]
        _, start, track, count = np.unique(index[rows], return_index=True, return_inverse=True, return_counts=True)
        cycle = rng.permutation(len(count))
        donor = np.empty_like(cycle)
        donor[cycle] = np.roll(cycle, -1)
        position = np.arange(len(rows)) - start[track]
        source = start[donor[track]] + position % count[donor[track]]
        out[rows, t] = Y[rows[source], t]
    return out


class _Stats(NamedTuple):
    """Sums over a set of rows; stacked per cell (leading axis) or summed over cells."""

    n: np.ndarray
    sx: np.ndarray  # [D]
    gram: np.ndarray  # [D, D]
    sy: np.ndarray  # [T]
    syy: np.ndarray  # [T]
    xy: np.ndarray  # [D, T]

    @classmethod
    def per_cell(cls, X, Y, parts):
        gram = np.empty((len(parts), X.shape[1], X.shape[1]))
        for c, p in enumerate(parts):
            np.matmul(X[p].T, X[p], out=gram[c])  # in place: the largest field, not stacked from copies
        return cls(np.array([p.stop - p.start for p in parts], dtype=np.float64),
                   np.stack([X[p].sum(0) for p in parts]), gram, np.stack([Y[p].sum(0) for p in parts]),
                   np.stack([(Y[p] ** 2).sum(0) for p in parts]), np.stack([X[p].T @ Y[p] for p in parts]))

    def over(self, cells):
        weights = cells.astype(np.float64)
        return _Stats(*(np.tensordot(weights, field, axes=1) for field in self))

    def sse(self, coef, intercept):
        """Sum of squared errors of y ~ intercept + x @ coef over these rows, for all
        alphas and targets at once (coef [A, D, T], intercept [A, T]), from the sums alone."""
        cross = intercept * self.sy + (self.xy * coef).sum(-2)
        square = (self.n * intercept**2 + 2 * intercept * (self.sx @ coef)
                  + (coef * (self.gram @ coef)).sum(-2))
        return self.syy - 2 * cross + square


def _ridge(s, alphas):
    """StandardScaler then Ridge(alpha) fitted on the rows summed in s, for each alpha,
    folded back into raw-feature units: coef [A, D, T], intercept [A, T]."""
    mean = s.sx / s.n
    gram = s.gram - s.n * np.outer(mean, mean)
    var = np.diag(gram) / s.n
    scale = np.sqrt(np.maximum(var, 0))
    # StandardScaler's rule: a feature constant up to rounding is left unscaled.
    scale[var <= s.n * _EPS * var + (s.n * mean * _EPS) ** 2] = 1.0
    gram /= np.outer(scale, scale)
    xy = (s.xy - np.outer(mean, s.sy)) / scale[:, None]
    eye = np.eye(len(gram))
    coef = np.stack([cho_solve(cho_factor(gram + alpha * eye, check_finite=False), xy, check_finite=False)
                     for alpha in alphas])
    coef /= scale[:, None]
    return coef, s.sy / s.n - mean @ coef


def _pick(coef, intercept, which):
    """Per target t, the fit for alpha index which[t]: coef [D, T], intercept [T]."""
    cols = np.arange(len(which))
    return coef[which, :, cols].T, intercept[which, cols]


def _probe_layer(X, Y, cell, folds, inner_folds, alphas):
    """Nested CV of one layer for targets with no missing rows in X [n, D] / Y [n, T]
    (rows sorted by cell). Returns (r2, corr, rmse) [T, K], chosen alphas [T, K], outer
    test predictions [n, T] and inner out-of-fold predictions [K, n, T]."""
    cells = folds * inner_folds
    bounds = np.searchsorted(cell, np.arange(cells + 1))
    parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    stats = _Stats.per_cell(X, Y, parts)
    outer_of, inner_of = np.divmod(np.arange(cells), inner_folds)
    n, t_count = Y.shape
    fold_scores = Scores.empty((t_count, folds))
    chosen = np.empty((t_count, folds))
    pred = np.empty((n, t_count))
    inner_pred = np.full((folds, n, t_count), np.nan, np.float32)
    for k in range(folds):
        training = outer_of != k
        inner_fits, mse = [], 0.0
        for j in range(inner_folds):
            fit = _ridge(stats.over(training & (inner_of != j)), alphas)
            validation = stats.over(training & (inner_of == j))
            mse = mse + validation.sse(*fit) / validation.n / inner_folds  # mean of fold MSEs, as GridSearchCV
            inner_fits.append(fit)
        best = np.argmin(mse, axis=0)  # the first of equal errors, as GridSearchCV
        chosen[:, k] = alphas[best]
        used, which = np.unique(best, return_inverse=True)
        coef, intercept = _pick(*_ridge(stats.over(training), alphas[used]), which)
        test = slice(bounds[k * inner_folds], bounds[(k + 1) * inner_folds])
        pred[test] = X[test] @ coef + intercept
        fold_scores.put((slice(None), k), _scores(Y[test], pred[test]))
        for j, fit in enumerate(inner_fits):
            coef, intercept = _pick(*fit, best)
            for c in np.flatnonzero(training & (inner_of == j)):
                inner_pred[k, parts[c]] = X[parts[c]] @ coef + intercept
    return (fold_scores.r2, fold_scores.corr, fold_scores.rmse), chosen, pred, inner_pred


def _stack(Y, outer, folds, test_pred, oof):
    """The weighted probe: per outer fold and target, non-negative least squares of the
    layers' inner out-of-fold predictions on the training part, applied to the layers'
    outer predictions on the test part."""
    t_count, layers = Y.shape[1], test_pred.shape[1]
    scores = Scores.empty((t_count, folds))
    weights = np.full((t_count, folds, layers), np.nan)
    for k in range(folds):
        for t in range(t_count):
            train = (outer != k) & np.isfinite(Y[:, t])
            test = (outer == k) & np.isfinite(Y[:, t])
            P, y = oof[k, train, :, t].astype(np.float64), Y[train, t]
            p_mean, y_mean = P.mean(0), y.mean()
            P -= p_mean
            # nnls on the L x L Cholesky factor of P^T P has nnls(P, y)'s minimiser and is
            # far cheaper than on n rows; the tiny ridge keeps the factor defined when layers agree.
            gram = P.T @ P
            jitter = 1e-10 * np.trace(gram) / layers + np.finfo(np.float64).tiny
            factor = cholesky(gram + jitter * np.eye(layers))
            coef = nnls(factor, solve_triangular(factor, P.T @ (y - y_mean), trans="T"))[0]
            spread = coef * P.std(0)  # in units of each layer's prediction: a share of the signal
            if spread.sum() > 0:
                weights[t, k] = spread / spread.sum()
            pred = y_mean + (test_pred[test, :, t] - p_mean) @ coef
            scores.put((t, k), _scores(Y[test, t], pred))
    return scores, weights


def _train_mean(Y, outer, folds):
    scores = Scores.empty((Y.shape[1], folds))
    for k in range(folds):
        for t in range(Y.shape[1]):
            y = Y[:, t]
            test = (outer == k) & np.isfinite(y)
            mean = np.nanmean(y[outer != k])
            r2, _, rmse = _scores(y[test], np.full(test.sum(), mean))
            scores.put((t, k), (r2, np.nan, rmse))  # a constant prediction has no correlation
    return scores


def _scores(y, pred):
    """r2, Pearson correlation and RMSE per column (or of a vector); NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = ((y - pred) ** 2).mean(0)
        y_c, p_c = y - y.mean(0), pred - pred.mean(0)
        r2 = 1 - mse / (y_c**2).mean(0)
        corr = (y_c * p_c).sum(0) / np.sqrt((y_c**2).sum(0) * (p_c**2).sum(0))
    return r2, corr, np.sqrt(mse)


def _by_mask(masks):
    """(rows kept, target columns) for each distinct pattern of finite rows."""
    patterns, column_pattern = np.unique(masks.T, axis=0, return_inverse=True)
    return [(pattern, np.flatnonzero(column_pattern == i)) for i, pattern in enumerate(patterns)]


def _cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _deal(order, counts, parts):
    load = np.zeros(parts)
    part = np.zeros(len(counts), dtype=np.int64)
    for track in order:
        part[track] = np.argmin(load)
        load[part[track]] += counts[track]
    return part


def _validated(X, Y, groups, targets, folds, alphas, inner_folds):
    if getattr(X, "ndim", None) != 3 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be a numeric array [windows, layers, dims], got shape {np.shape(X)}")
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    groups = np.asarray(groups)
    if Y.ndim != 2 or groups.ndim != 1 or not len(X) == len(Y) == len(groups):
        raise ValueError(f"X {X.shape}, Y {Y.shape} and groups {groups.shape} must have one row per window")
    if Y.shape[1] == 0:
        raise ValueError("Y has no targets")
    targets = [str(t) for t in range(Y.shape[1])] if targets is None else [str(t) for t in targets]
    if len(targets) != Y.shape[1] or len(set(targets)) != len(targets):
        raise ValueError(f"targets must be {Y.shape[1]} distinct names, got {targets}")
    if np.isinf(Y).any():
        raise ValueError("Y has infinite values; use NaN for a missing value")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if not len(alphas) or not (np.isfinite(alphas) & (alphas > 0)).all():
        raise ValueError(f"alphas must be positive and finite, got {alphas.tolist()}")
    if folds < 2 or inner_folds < 2:
        raise ValueError(f"folds and inner_folds must be at least 2, got {folds} and {inner_folds}")
    tracks = len(np.unique(groups))
    if tracks < folds * inner_folds:
        raise ValueError(f"{tracks} tracks are too few for {folds} outer x {inner_folds} inner folds grouped by "
                         f"track: need at least {folds * inner_folds}; use fewer folds or more tracks")
    return Y, groups, targets, alphas


def empty_cells(Y, groups, folds=5, inner_folds=3, seed=0):
    """Per target, how many of the folds' track groups hold none of its values: a target
    needs a value in every group, or some fit or test set would be empty."""
    outer, inner = track_folds(groups, folds, inner_folds, seed)
    return _empty_cells(Y, outer * inner_folds + inner, folds * inner_folds)


def _empty_cells(Y, cell, cells):
    return [cells - len(np.unique(cell[np.isfinite(Y[:, t])])) for t in range(Y.shape[1])]


def _check_coverage(Y, cell, targets, cells):
    for name, empty in zip(targets, _empty_cells(Y, cell, cells)):
        if empty:
            raise ValueError(f"target {name!r} has no values in {empty} of the {cells} track groups the folds are "
                             f"built from; it needs values on more tracks (or use fewer folds)")


def _nanmean(a, axis=-1):
    return _all_nan_quiet(np.nanmean, a, axis)


def _nanstd(a, axis=-1):
    return _all_nan_quiet(np.nanstd, a, axis)


def _all_nan_quiet(reduce, a, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice is simply NaN here
        return reduce(a, axis=axis)


def _number(value):
    value = float(value)
    return value if np.isfinite(value) else None  # JSON has no NaN or infinity
