"""The probing engine: nested, track-grouped ridge probes per layer (analysis.probes)."""

import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold, PredefinedSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis import probes
from analysis.probes import probe_layers, shuffled_across_tracks, track_folds

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def windows(tracks=60, per_track=20, layers=13, dims=24, seed=0):
    """Random embeddings [N, layers, dims] with per-track offsets and unequal feature scales
    (so a scaler fitted on the wrong rows changes the answer), and the track id per window."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(tracks), per_track)
    offsets = rng.standard_normal((tracks, layers, dims))
    X = (rng.standard_normal((len(groups), layers, dims)) + offsets[groups]) * rng.uniform(0.1, 10, dims)
    return X, groups


def planted(X, layer, rng, noise=0.3):
    """A target linear in one layer's features (+ noise), with unit signal variance."""
    z = (X[:, layer] - X[:, layer].mean(0)) / X[:, layer].std(0)
    signal = z @ rng.standard_normal(X.shape[2])
    return signal / signal.std() + noise * rng.standard_normal(len(X))


def sklearn_nested(X, y, outer, inner, alphas):
    """The reference: GridSearchCV over Pipeline(StandardScaler, Ridge) on each outer training
    part, inner folds as ours; per fold (r2, corr, rmse, chosen alpha). NaN rows dropped."""
    rows = np.isfinite(y)
    X, y, outer, inner = X[rows], y[rows], outer[rows], inner[rows]
    results = []
    for k in range(outer.max() + 1):
        train, test = outer != k, outer == k
        search = GridSearchCV(make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": list(alphas)},
                              cv=PredefinedSplit(inner[train]), scoring="neg_mean_squared_error")
        pred = search.fit(X[train], y[train]).predict(X[test])
        results.append((r2_score(y[test], pred), np.corrcoef(y[test], pred)[0, 1],
                        np.sqrt(mean_squared_error(y[test], pred)), search.best_params_["ridge__alpha"]))
    return np.array(results).T


def test_folds_keep_each_track_whole_and_are_deterministic():
    groups = np.random.default_rng(0).integers(0, 70, 2000)
    outer, inner = track_folds(groups, folds=5, inner_folds=3, seed=1)
    for labels in (outer, inner):
        for track in np.unique(groups):
            assert len(np.unique(labels[groups == track])) == 1
    sizes = np.bincount(outer)
    assert sizes.max() - sizes.min() <= np.bincount(groups).max()
    for k in range(5):  # every outer training part is split into 3 non-empty inner folds
        assert set(inner[outer != k]) == {0, 1, 2}
    again = track_folds(groups, folds=5, inner_folds=3, seed=1)
    assert all((a == b).all() for a, b in zip(again, (outer, inner)))
    assert not (track_folds(groups, folds=5, inner_folds=3, seed=2)[0] == outer).all()


def test_a_track_level_random_target_scores_no_better_than_chance():
    # 40 tracks with distinctive features and 64 dims: a linear model can memorise every
    # track, so a split that let a track into train and test would score high (the control).
    X, groups = windows(tracks=40, per_track=30, layers=2, dims=64, seed=1)
    rng = np.random.default_rng(1)
    y = rng.standard_normal(40)[groups] + 0.1 * rng.standard_normal(len(groups))
    leaky = cross_val_score(make_pipeline(StandardScaler(), Ridge(1.0)), X[:, 0], y,
                            cv=KFold(5, shuffle=True, random_state=0))
    assert leaky.mean() > 0.5
    report = probe_layers(X, y, groups)
    assert (np.nanmean(report.layers.r2, axis=-1) < 0.05).all()
    assert (np.nanmean(report.weighted.r2, axis=-1) < 0.05).all()


@pytest.mark.parametrize("alphas", [(10.0,), ALPHAS], ids=["fixed alpha", "nested alpha search"])
def test_agrees_with_scikit_learn_pipeline_on_the_same_split(alphas):
    X, groups = windows(layers=2, dims=16, seed=2)
    rng = np.random.default_rng(2)
    Y = np.stack([planted(X, 1, rng, noise=1.0), rng.standard_normal(len(X))], axis=1)
    report = probe_layers(X, Y, groups, alphas=alphas)
    outer, inner = track_folds(groups)
    for layer in range(2):
        for t in range(2):
            r2, corr, rmse, alpha = sklearn_nested(X[:, layer], Y[:, t], outer, inner, alphas)
            np.testing.assert_array_equal(report.alphas[layer, t], alpha)
            np.testing.assert_allclose(report.layers.r2[layer, t], r2, atol=1e-6)
            np.testing.assert_allclose(report.layers.corr[layer, t], corr, atol=1e-6)
            np.testing.assert_allclose(report.layers.rmse[layer, t], rmse, rtol=1e-6)


def test_every_fit_sees_only_its_training_rows(monkeypatch):
    """Instrumented: each scaler+ridge fit's row count and feature sums are those of an outer
    training part or an inner fitting set; never of a set holding test rows."""
    X, groups = windows(tracks=30, layers=2, dims=8, seed=3)
    y = np.random.default_rng(3).standard_normal(len(X))
    seen = []
    ridge = probes._ridge
    monkeypatch.setattr(probes, "_ridge", lambda s, alphas: seen.append((float(s.n), s.sx.copy())) or ridge(s, alphas))
    probe_layers(X, y, groups, folds=4, inner_folds=3)

    outer, inner = track_folds(groups, folds=4, inner_folds=3)
    training = [outer != k for k in range(4)] + [(outer != k) & (inner != j) for k in range(4) for j in range(3)]
    sums = [(rows.sum(), X[rows, layer].sum(0)) for rows in training for layer in range(2)]
    assert len(seen) == 2 * 4 * (3 + 1)  # per layer, 4 outer folds x (3 inner fits + 1 refit)
    for n, sx in seen:
        assert any(n == m and np.allclose(sx, s) for m, s in sums)


def test_test_rows_never_choose_the_alpha():
    X, groups = windows(layers=3, dims=16, seed=4)
    rng = np.random.default_rng(4)
    y = planted(X, 1, rng, noise=1.0)
    before = probe_layers(X, y, groups, alphas=ALPHAS)
    outer, _ = track_folds(groups)
    y[outer == 0] = 1e3 * rng.standard_normal((outer == 0).sum())  # wreck fold 0's test rows
    after = probe_layers(X, y, groups, alphas=ALPHAS)
    np.testing.assert_array_equal(after.alphas[..., 0], before.alphas[..., 0])
    assert (after.alphas[..., 1:] != before.alphas[..., 1:]).any()  # they are training rows there


def test_a_planted_layer_is_found_and_chance_stays_near_zero():
    X, groups = windows(tracks=80, seed=5)
    rng = np.random.default_rng(5)
    Y = np.stack([planted(X, 5, rng), rng.standard_normal(len(X))], axis=1)
    report = probe_layers(X, Y, groups, targets=["planted", "noise"])
    r2 = np.nanmean(report.layers.r2, axis=-1)
    assert report.best_layers()["planted"][0] == 5
    assert r2[5, 0] > 0.8
    assert (np.delete(r2[:, 0], 5) < 0.2).all()
    assert (r2[:, 1] < 0.05).all()
    assert report.alphas[:, 1].min() > report.alphas[5, 0].max()  # noise is regularised harder than signal
    assert np.nanmean(report.weights[0], axis=0)[5] > 0.8
    result = report.to_dict()
    assert result["baseline"]["planted"]["shuffled"]["r2"] < 0.05
    assert result["baseline"]["planted"]["shuffled"]["max_r2"] < 0.1
    assert result["baseline"]["planted"]["train_mean"]["r2"] <= 0


def test_weighted_probe_gains_when_a_target_spans_two_layers():
    X, groups = windows(tracks=80, seed=6)
    rng = np.random.default_rng(6)
    y = planted(X, 3, rng, noise=0) + planted(X, 9, rng, noise=0) + 0.4 * rng.standard_normal(len(X))
    result = probe_layers(X, y, groups, targets=["spread"]).to_dict()
    single = max(result["layers"][str(layer)]["spread"]["r2"] for layer in range(13))
    weighted = result["weighted"]["spread"]
    assert single < 0.5
    assert weighted["r2"] > 0.75
    assert weighted["gain"] == pytest.approx(weighted["r2"] - single)
    assert weighted["gain"] > 0.25
    assert weighted["weights"][3] + weighted["weights"][9] > 0.8
    assert sum(weighted["weights"]) == pytest.approx(1.0)


def test_missing_target_values_drop_rows_for_that_target_only():
    X, groups = windows(layers=2, dims=16, seed=7)
    rng = np.random.default_rng(7)
    y = planted(X, 0, rng, noise=1.0)
    holed = y.copy()
    holed[rng.random(len(y)) < 0.2] = np.nan
    both = probe_layers(X, np.stack([y, holed], axis=1), groups, alphas=ALPHAS)
    alone = probe_layers(X, y, groups, alphas=ALPHAS)
    np.testing.assert_allclose(both.layers.r2[:, 0], alone.layers.r2[:, 0], atol=1e-12)
    outer, inner = track_folds(groups)
    r2, _, _, alpha = sklearn_nested(X[:, 0], holed, outer, inner, ALPHAS)
    np.testing.assert_array_equal(both.alphas[0, 1], alpha)
    np.testing.assert_allclose(both.layers.r2[0, 1], r2, atol=1e-6)
    assert np.isfinite(both.weighted.r2).all() and np.isfinite(both.shuffled.r2).all()


def test_shuffling_moves_whole_tracks_and_keeps_missing_values_in_place():
    groups = np.repeat(np.arange(30), np.random.default_rng(8).integers(2, 9, 30))
    y = groups * 100.0 + np.concatenate([np.arange(n) for n in np.bincount(groups)])  # track, position
    y[::7] = np.nan
    out = shuffled_across_tracks(y[:, None], groups, seed=0)[:, 0]
    np.testing.assert_array_equal(np.isnan(out), np.isnan(y))
    for track in range(30):
        values = out[(groups == track) & np.isfinite(out)]
        donor = values[0] // 100
        assert donor != track and (values // 100 == donor).all()
        donated = y[(groups == donor) & np.isfinite(y)]
        np.testing.assert_array_equal(values, np.resize(donated, len(values)))  # in order, tiled or cut


def test_report_is_json_ready_and_progress_is_reported():
    X, groups = windows(tracks=20, per_track=10, layers=3, dims=8, seed=9)
    Y = np.random.default_rng(9).standard_normal((len(X), 2))
    calls = []
    report = probe_layers(X.astype(np.float16), Y, groups, targets=["a", "b"], folds=4, inner_folds=2,
                          progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    result = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert result["samples"] == {"windows": 200, "tracks": 20}
    assert set(result["layers"]) == {"0", "1", "2"}
    cell = result["layers"]["1"]["b"]
    assert set(cell) == {"r2", "r2_std", "corr", "corr_std", "rmse", "rmse_std", "alpha"} and len(cell["alpha"]) == 4
    assert len(result["weighted"]["a"]["weights"]) == 3
    assert set(result["baseline"]["a"]) == {"shuffled", "train_mean"}
    assert result["baseline"]["a"]["train_mean"]["corr"] is None  # a constant prediction has none
    layer, r2 = report.best_layers()["a"]
    assert r2 == result["layers"][str(layer)]["a"]["r2"]


@pytest.mark.parametrize("change, message", [
    (lambda X, Y, g: (X[:, 0], Y, g), "windows, layers, dims"),
    (lambda X, Y, g: (X, Y[:-1], g), "one row per window"),
    (lambda X, Y, g: (X, Y, g % 10), "10 tracks are too few for 5 outer x 3 inner"),
    (lambda X, Y, g: (X, np.where(g[:, None] < 50, np.nan, Y), g), "target '0' has no values in"),
])
def test_bad_inputs_are_refused_with_a_reason(change, message):
    X, groups = windows(tracks=60, per_track=5, layers=2, dims=4)
    Y = np.zeros((len(X), 1))
    with pytest.raises(ValueError, match=message):
        probe_layers(*change(X, Y, groups))
    with pytest.raises(ValueError, match="alphas must be positive"):
        probe_layers(X, Y, groups, alphas=(0.0, 1.0))
