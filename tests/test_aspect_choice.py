"""A probe run's aspect choice backed by retrieval on labelled tracks, with its agreement
across resamples, and stable: a new run keeps the previous choice unless it clearly loses."""

import numpy as np
import pytest

from analysis.aspect_choice import choose_aspects
from analysis.models import ProbeRun
from analysis.probes import ProbeReport, Scores
from analysis.target_specs import specs
from tests.factories import make_dataset
from tests.test_recommender import make_space, track

pytestmark = pytest.mark.django_db
WORKS, INSTRUMENTS, WINDOWS, FOLDS = 5, 3, 2, 3
TARGETS = specs(["spectral_centroid", "mfcc_1", "key_clarity"])  # brightness, timbre, harmony
# Layers: 0 codes the work, 1 the instrument, 2 is noise (and predicts every target best by
# R²), 3 codes the work a little less cleanly than 0.
LAYERS, DIM = 4, 8


@pytest.fixture
def labelled():
    """WORKS x INSTRUMENTS tracks, each with WINDOWS windows of features coded by layer."""
    space = make_space(num_layers=LAYERS, dim=DIM)
    run = ProbeRun.objects.create(space=space)
    dataset = make_dataset()
    rng = np.random.default_rng(0)
    work_codes, instrument_codes = rng.standard_normal((WORKS, DIM)), rng.standard_normal((INSTRUMENTS, DIM))
    tracks, X, groups = {}, [], []
    for w in range(WORKS):
        for i in range(INSTRUMENTS):
            t = track(dataset, f"w{w}i{i}", composer="C", work=f"W{w}", metadata={"instrument": f"I{i}"})
            tracks[t.pk] = t
            for _ in range(WINDOWS):
                X.append([work_codes[w] + 0.3 * rng.standard_normal(DIM),
                          instrument_codes[i] + 0.3 * rng.standard_normal(DIM),
                          rng.standard_normal(DIM),
                          work_codes[w] + 0.5 * rng.standard_normal(DIM)])
                groups.append(t.pk)
    return run, np.asarray(X, dtype=np.float32), np.asarray(groups), tracks


def report_preferring(layer):
    """A probe report in which `layer` predicts every target best (R² 0.9, others 0.2)."""
    r2 = np.full((LAYERS, len(TARGETS), FOLDS), 0.2)
    r2[layer] = 0.9
    nothing = np.full((LAYERS, len(TARGETS), FOLDS), np.nan)
    return ProbeReport(
        targets=[spec.name for spec in TARGETS], layers=Scores(r2, r2.copy(), r2.copy()),
        alphas=np.ones_like(r2), weighted=Scores(*(np.full((len(TARGETS), FOLDS), 0.5) for _ in range(3))),
        weights=np.full((len(TARGETS), FOLDS, LAYERS), 1 / LAYERS), shuffled=Scores(nothing, nothing, nothing),
        train_mean=Scores(*(np.zeros((len(TARGETS), FOLDS)) for _ in range(3))), windows=30, tracks=15,
    )


def test_aspects_with_labelled_tasks_take_the_layers_that_retrieve_best(labelled):
    run, X, groups, tracks = labelled
    choices = choose_aspects(run, report_preferring(2), TARGETS, X, groups, tracks, previous={})

    harmony, timbre, brightness = choices["harmony"], choices["timbre"], choices["brightness"]
    assert harmony["layers"] == {"0": 1.0} and harmony["retrieval"]["task"] == "same_work"
    assert timbre["layers"] == {"1": 1.0} and timbre["retrieval"]["task"] == "same_instrument"
    for choice in (harmony, timbre):
        retrieval = choice["retrieval"]
        assert retrieval["score"] >= retrieval["best_layer_score"] > retrieval["r2_choice_score"]
        assert retrieval["queries"] == WORKS * INSTRUMENTS and 0.5 < choice["agreement"] <= 1
    # No labelled task for brightness: the R² choice, agreeing in every fold.
    assert brightness["layers"] == {"2": 1.0} and brightness["retrieval"] is None
    assert (brightness["agreement"], brightness["agreement_basis"]) == (1.0, "outer folds (R²)")


def test_the_previous_choice_stays_unless_it_clearly_loses(labelled):
    run, X, groups, tracks = labelled
    # Layer 3 finds the same works nearly as well as layer 0: within the noise, it stays.
    nearly = choose_aspects(run, report_preferring(2), TARGETS, X, groups, tracks,
                            previous={"harmony": {"layers": {"3": 1.0}}})["harmony"]
    assert nearly["layers"] == {"3": 1.0} and nearly["kept_previous"]
    # Noise (layer 2) clearly loses at retrieval: replaced.
    clearly = choose_aspects(run, report_preferring(2), TARGETS, X, groups, tracks,
                             previous={"harmony": {"layers": {"2": 1.0}}})["harmony"]
    assert clearly["layers"] == {"0": 1.0} and not clearly["kept_previous"]
    # By R² too: brightness stays on its previous layer only when that is within the margin.
    report = report_preferring(1)
    report.layers.r2[0] = 0.89
    kept = choose_aspects(run, report, TARGETS, X, groups, tracks, previous={"brightness": {"layers": {"0": 1}}})
    assert kept["brightness"]["layers"] == {"0": 1.0} and kept["brightness"]["kept_previous"]
    report.layers.r2[0] = 0.5
    moved = choose_aspects(run, report, TARGETS, X, groups, tracks, previous={"brightness": {"layers": {"0": 1}}})
    assert moved["brightness"]["layers"] == {"1": 1.0} and not moved["brightness"]["kept_previous"]



def test_a_mix_chosen_again_keeps_its_previous_weights(labelled):
    run, X, groups, tracks = labelled
    report = report_preferring(1)
    report.weighted.r2[:] = 0.95  # the weighted probe beats layer 1 by more than MESS_ASPECT_WEIGHTED_GAIN
    previous = {"brightness": {"layers": {"0": 0.6, "1": 0.4}}}
    brightness = choose_aspects(run, report, TARGETS, X, groups, tracks, previous=previous)["brightness"]
    assert brightness["layers"] == {"0": 0.6, "1": 0.4} and brightness["kept_previous"]
    report.weighted.r2[:] = 0.5  # now layer 1 alone is clearly better than any mix
    brightness = choose_aspects(run, report, TARGETS, X, groups, tracks, previous=previous)["brightness"]
    assert brightness["layers"] == {"1": 1.0} and not brightness["kept_previous"]
