"""The aspect map from probing evidence: best layer per aspect, layer weights when the
weighted probe gains enough, confidence labels, curators' pins, defaults for the rest."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analysis.models import EmbeddingSpace, ProbeResult, ProbeRun
from recommendations.aspects import DEFAULT_MAP, aspect_map, choices_from_run, confidence, default_map, map_run
from recommendations.models import PinnedAspect
from tests.factories import make_user
from tests.test_recommender import make_space

ASPECTS = {"spectral_centroid": "brightness", "spectral_rolloff": "brightness", "rms_level": "dynamics",
           "tempo": "rhythm", "mystery": "not-an-aspect"}
R2 = {  # layer -> target -> R²
    0: {"spectral_centroid": 0.90, "spectral_rolloff": 0.70, "rms_level": 0.20, "tempo": None, "mystery": 0.99},
    1: {"spectral_centroid": 0.60, "spectral_rolloff": 0.90, "rms_level": 0.55, "tempo": 0.30, "mystery": 0.10},
    2: {"spectral_centroid": 0.10, "spectral_rolloff": 0.20, "rms_level": 0.60, "tempo": 0.35, "mystery": 0.10},
}


def weighted(r2=0.0, weights=(1 / 3, 1 / 3, 1 / 3)):
    return {"r2": r2, "weights": list(weights)}


def test_each_aspect_takes_the_layer_that_best_predicts_its_targets():
    choices = choices_from_run(7, R2, ASPECTS, {t: weighted() for t in ASPECTS})
    brightness = choices["brightness"]  # mean 0.80 at layer 0, 0.75 at layer 1
    assert brightness.layers == {0: 1.0} and brightness.r2 == pytest.approx(0.80)
    assert brightness.evidence == {"spectral_centroid": 0.90, "spectral_rolloff": 0.70}
    assert (brightness.confidence, brightness.source, brightness.run) == ("medium", "probe run 7", 7)
    assert brightness.description == DEFAULT_MAP["brightness"].description
    assert choices["dynamics"].layers == {2: 1.0} and choices["dynamics"].confidence == "medium"
    assert choices["rhythm"].layers == {2: 1.0} and choices["rhythm"].confidence == "low"  # layer 0 has no score
    assert set(choices) == {"brightness", "dynamics", "rhythm"}  # unprobed aspects keep their defaults


def test_layer_weights_replace_the_best_layer_only_when_they_gain_enough(settings):
    settings.MESS_ASPECT_WEIGHTED_GAIN = 0.05
    shares = (0.6, 0.38, 0.02), (0.38, 0.6, 0.02)
    close = {"spectral_centroid": weighted(0.83, shares[0]), "spectral_rolloff": weighted(0.80, shares[1])}
    assert choices_from_run(1, R2, ASPECTS, close)["brightness"].layers == {0: 1.0}  # +0.015: not enough

    better = {"spectral_centroid": weighted(0.95, shares[0]), "spectral_rolloff": weighted(0.93, shares[1])}
    brightness = choices_from_run(1, R2, ASPECTS, better)["brightness"]
    assert brightness.layers == pytest.approx({0: 0.5, 1: 0.5})  # layer 2's 2 % share left out
    assert brightness.r2 == pytest.approx(0.94) and brightness.confidence == "high"
    assert brightness.evidence == {"spectral_centroid": 0.95, "spectral_rolloff": 0.93}


@pytest.mark.parametrize("r2, label", [(0.81, "high"), (0.8, "medium"), (0.51, "medium"), (0.5, "low"), (-0.2, "low")])
def test_confidence_labels(r2, label):
    assert confidence(r2) == label


def finished_run(space, minutes_ago=0, tracks=40):
    run = ProbeRun.objects.create(
        space=space, status=ProbeRun.Status.SUCCEEDED, tracks=tracks,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
        target_specs=[{"name": t, "aspect": a} for t, a in ASPECTS.items()],
        weighted={t: weighted() for t in ASPECTS},
    )
    ProbeResult.objects.bulk_create(
        ProbeResult(run=run, layer=layer, target=t, r2=r2) for layer, row in R2.items() for t, r2 in row.items()
    )
    return run


@pytest.mark.django_db
def test_the_newest_finished_run_wins_and_a_pin_wins_over_it():
    space = make_space()
    assert aspect_map(space)["brightness"] == default_map(space)["brightness"]
    finished_run(space, minutes_ago=10)
    run = finished_run(space)
    ProbeRun.objects.create(space=space, status=ProbeRun.Status.RUNNING)  # not evidence yet
    assert aspect_map(space)["brightness"].run == run.pk

    curator = make_user("curator", staff=True, curator=True)
    PinnedAspect.objects.create(
        space=space, aspect="brightness", layers={"1": 1}, note="rolloff matters", pinned_by=curator
    )
    pinned = aspect_map(space)["brightness"]
    assert pinned.layers == {1: 1.0} and pinned.source == "pinned by curator: rolloff matters"
    assert pinned.r2 == pytest.approx(0.75) and pinned.confidence == "medium"  # the run's evidence at layer 1
    PinnedAspect.objects.create(space=space, aspect="rhythm", layers={"0": 1, "2": 3})
    rhythm = aspect_map(space)["rhythm"]
    assert rhythm.layers == {0: 0.25, 2: 0.75} and (rhythm.r2, rhythm.confidence) == (None, "pinned")


@pytest.mark.django_db
def test_a_run_on_fewer_tracks_than_the_minimum_does_not_set_the_map(settings):
    settings.MESS_ASPECT_MIN_TRACKS = 30
    space = make_space()
    small = finished_run(space, tracks=29)
    assert aspect_map(space)["brightness"] == default_map(space)["brightness"]
    enough = finished_run(space, minutes_ago=10, tracks=30)  # older, but large enough
    assert map_run(space) == enough and aspect_map(space)["brightness"].run == enough.pk
    settings.MESS_ASPECT_MIN_TRACKS = 29
    assert aspect_map(space)["brightness"].run == small.pk


@pytest.mark.django_db
@pytest.mark.parametrize("aspect, layers, message", [
    ("loudness", {"0": 1}, "Unknown aspect"),
    ("timbre", {"first": 1}, "layer -> weight"),
    ("timbre", {"0": -1, "1": 2}, "negative"),
    ("timbre", {"5": 1}, "layers 0-2"),
])
def test_pins_are_checked(aspect, layers, message):
    pin = PinnedAspect(space=make_space(), aspect=aspect, layers=layers)
    with pytest.raises(ValidationError, match=message):
        pin.full_clean()


def classic_space():
    return EmbeddingSpace.objects.create(
        name="classic", encoder="classic", model_id="classic", weights_hash="0" * 64, num_layers=3, dim=39,
        sample_rate=22050, window_seconds=5, overlap=0.5, is_active=True,
    )  # fmt: skip


@pytest.mark.django_db
def test_no_description_names_layers_and_mert_wording_stays_on_mert():
    """Issue 15 item 9: "upper-middle layers" was MERT's wording, shown on the classic space too."""
    assert not any("layer" in choice.description for choice in DEFAULT_MAP.values())
    classic = aspect_map(classic_space())
    for choice in classic.values():
        assert "MERT" not in choice.basis and "middle" not in choice.basis and "prototype" not in choice.basis
        assert choice.basis == f"No probe on classic has measured {choice.name}: all 3 layers weigh the same."

    mert = aspect_map(make_space("mert-95m", active=False, num_layers=13))
    assert mert["harmony"].basis == ("Layer 8: a guess, not measured here: MERT's published layer-wise results put "
                                     "pitch and key information in the upper-middle layers.")
    assert mert["brightness"].basis == ("Layer 0: R² 0.94 of its proxy targets in the research prototype's probe of "
                                        "MERT-v1-95M on SMD, not yet reproduced here.")


@pytest.mark.django_db
def test_the_basis_quotes_the_spaces_own_probe_and_says_what_it_did_not_measure(client):
    space = classic_space()
    run = finished_run(space)
    aspects = aspect_map(space)
    assert aspects["brightness"].basis == (
        f"Layer 0 measured on classic by probe run {run.pk}, R² 0.80 of its proxy targets."
    )
    assert aspects["harmony"].basis == "No probe on classic has measured harmony: all 3 layers weigh the same."

    curator = make_user("curator", staff=True, curator=True)
    PinnedAspect.objects.create(space=space, aspect="brightness", layers={"1": 1}, pinned_by=curator)
    PinnedAspect.objects.create(space=space, aspect="rhythm", layers={"0": 1, "2": 3})
    aspects = aspect_map(space)
    assert aspects["brightness"].basis == (
        f"Pinned by curator: layer 1; R² 0.75 of its proxy targets there in probe run {run.pk}."
    )
    assert aspects["rhythm"].basis == "Pinned by a curator: layers 0 (25%), 2 (75%); no probe evidence there."

    served = {aspect["name"]: aspect["basis"] for aspect in client.get("/api/v1/aspects/").json()["aspects"]}
    assert served["harmony"] == aspects["harmony"].basis
