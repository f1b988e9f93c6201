"""Musical aspects ("brightness", "timbre", ...) and the layers that carry them.

A space's aspect map takes each aspect from, in order of precedence: a curator's pin
(PinnedAspect), the space's map run (`map_run`: the newest finished probe run of at least
MESS_ASPECT_MIN_TRACKS tracks, so that a run on a few tracks never flips the map), then
the space's default (`default_map`). A run's choices (analysis/aspect_choice.py, stored on
the run) come from R² of the aspect's proxy targets and, where the tracks carry labels,
from retrieval, with their agreement across resamples; runs from before that was stored
are read by `choices_from_run` (R² alone). What a layer means is measured on the space
itself, so the defaults quote evidence only where it was measured on that very model:

- DEFAULT_MAP is MERT-v1-95M's (13 hidden states: 0 = the input projection, 1-12 the
  transformer layers), for MERT spaces of that shape. brightness, timbre, structure come
  from the research prototype's probing (ridge regression on SMD, R² of a proxy target
  per layer): evidence, but measured on another corpus and not yet reproduced here, hence
  "medium" confidence. harmony, rhythm, dynamics, articulation are guesses after MERT's
  published layer-wise results (low-level signal properties early, beat and onset
  information in the lower middle, pitch and key information in the upper middle); "low"
  confidence, no R².
- Every other space (musicnn, classic, other MERT checkpoints) starts neutral until it is
  probed: each aspect uses all of the space's layers, equally weighted, with no R² and
  confidence "none". Every aspect is then served, never from a layer the space lacks.

Descriptions say what an aspect is, never which layers carry it: `basis` says that, per
space, from the evidence behind the choice.

A pin naming a layer the space lacks is kept and reported as unavailable for that space
instead of failing the whole map.
"""

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from django.conf import settings

from analysis.models import ProbeRun, ProbeResult
from recommendations.models import PinnedAspect

PROTOTYPE = "default (research prototype)"
MIN_LAYER_WEIGHT = 0.05  # a layer with a smaller share of a weighted probe is left out
GUESS = "default (guess)"
UNPROBED = "default before any probe: every layer equally"
MERT_95M_LAYERS = 13  # the model DEFAULT_MAP was written for


@dataclass(frozen=True)
class AspectChoice:
    name: str
    layers: dict[int, float]  # layer -> weight, weights summing to 1
    r2: float | None  # the probe's R² behind the choice, when there is one
    confidence: str  # "high", "medium", "low", "pinned", or "none" (no evidence at all)
    source: str
    description: str
    problem: str = ""  # why the aspect cannot be used in this space; empty when it can
    run: int | None = None  # the probe run behind the choice
    evidence: dict[str, float] = field(default_factory=dict)  # target -> R² at the chosen layers
    retrieval: dict | None = None  # the labelled retrieval task that backs the choice, and its scores
    agreement: float | None = None  # share of resamples in which the choice is the best candidate
    agreement_basis: str = ""  # what was resampled
    kept_previous: bool = False  # the previous map's choice stayed (its loss was within the noise)
    basis: str = ""  # what the layers rest on, in words, from this space's own evidence (see `basis`)

    @property
    def available(self):
        return not self.problem


DEFAULT_MAP = {
    choice.name: choice
    for choice in (
        AspectChoice("brightness", {0: 1.0}, 0.944, "medium", PROTOTYPE, "Spectral brightness (spectral centroid)."),
        AspectChoice("timbre", {1: 1.0}, 0.922, "medium", PROTOTYPE, "Timbral texture."),
        AspectChoice("structure", {2: 1.0}, 0.933, "medium", PROTOTYPE, "Acoustic structure."),
        AspectChoice("dynamics", {3: 1.0}, None, "low", GUESS, "Loudness and its changes."),
        AspectChoice("rhythm", {4: 1.0}, None, "low", GUESS, "Pulse, tempo and onsets."),
        AspectChoice("articulation", {5: 1.0}, None, "low", GUESS, "Attack and note connection (legato, staccato)."),
        AspectChoice("harmony", {8: 1.0}, None, "low", GUESS, "Pitch content, chords and key."),
    )
}

# Why DEFAULT_MAP guesses its layers: MERT's published layer-wise results, true of MERT-v1-95M
# only, so `basis` quotes them for the default map alone (descriptions name no layers).
MERT_GUESSES = {
    "dynamics": "low-level signal properties in the early layers",
    "rhythm": "beat and onset information in the lower-middle layers",
    "articulation": "onset detail in the lower-middle layers",
    "harmony": "pitch and key information in the upper-middle layers",
}

# What "more like this" means when nothing is asked for: how the music sounds.
DEFAULT_ASPECT = "timbre"


class UnknownAspect(ValueError):
    pass


def default_map(space):
    """The aspects of `space` before any probe (see the module docstring): DEFAULT_MAP for
    MERT-v1-95M-shaped MERT spaces, else every layer equally weighted, confidence "none"."""
    if _is_mert_95m(space):
        return {name: replace(choice, basis=basis(choice, space)) for name, choice in DEFAULT_MAP.items()}
    every_layer = {layer: 1 / space.num_layers for layer in range(space.num_layers)}
    unprobed = {
        name: replace(choice, layers=every_layer, r2=None, confidence="none", source=UNPROBED)
        for name, choice in DEFAULT_MAP.items()
    }
    return {name: replace(choice, basis=basis(choice, space)) for name, choice in unprobed.items()}


def _is_mert_95m(space):
    return space.encoder == "mert" and space.num_layers == MERT_95M_LAYERS


def map_run(space):
    """The probe run the space's map comes from: the newest finished one that probed at
    least MESS_ASPECT_MIN_TRACKS tracks, or None."""
    return ProbeRun.objects.filter(
        space=space, status=ProbeRun.Status.SUCCEEDED, tracks__gte=settings.MESS_ASPECT_MIN_TRACKS
    ).order_by("-finished_at").first()


def aspect_map(space):
    """Every known aspect for `space`, in DEFAULT_MAP's order: pinned, else from the map
    run, else the space's default. Entries naming layers the space does not have (a pin)
    carry a `problem` saying so."""
    run = map_run(space)
    probed = _run_choices(run) if run else None
    defaults = default_map(space)
    result = {name: probed[0].get(name, default) if probed else default for name, default in defaults.items()}
    for pin in PinnedAspect.objects.filter(space=space, aspect__in=list(DEFAULT_MAP)).select_related("pinned_by"):
        result[pin.aspect] = _pinned(pin, result[pin.aspect], probed, run)
    for name, choice in result.items():
        result[name] = choice = replace(choice, basis=basis(choice, space))
        missing = sorted(layer for layer in choice.layers if layer >= space.num_layers)
        if missing:
            problem = (
                f"{name} uses layer {', '.join(map(str, missing))}, but {space} has layers 0-{space.num_layers - 1}."
            )
            result[name] = replace(choice, problem=problem)
    return result


def basis(choice, space):
    """What `choice`'s layers rest on in `space`, for people: the probe, pin or default
    behind them and its R², or plainly that nothing was measured. MERT's wording only on a
    MERT-v1-95M space, the model it was written for."""
    mert_default = _is_mert_95m(space)
    layers = _layer_list(choice.layers)
    if choice.confidence == "none":
        return f"No probe on {space} has measured {choice.name}: all {space.num_layers} layers weigh the same."
    measured = f"R² {choice.r2:.2f} of its proxy targets" if choice.r2 is not None else ""
    if choice.source.startswith("pinned"):
        return f"{choice.source[0].upper()}{choice.source[1:]}: {layers}; " + (
            f"{measured} there in probe run {choice.run}." if measured else "no probe evidence there.")
    if choice.source == PROTOTYPE and mert_default:
        return (f"{layers.capitalize()}: {measured} in the research prototype's probe of MERT-v1-95M on SMD, "
                "not yet reproduced here.")
    if choice.source == GUESS and mert_default:
        return (f"{layers.capitalize()}: a guess, not measured here: MERT's published layer-wise results put "
                f"{MERT_GUESSES[choice.name]}.")
    if choice.run is None:
        return f"{layers.capitalize()}: no probe evidence on {space}."
    found = [f"{layers.capitalize()} measured on {space} by probe run {choice.run}"]
    if choice.retrieval:
        found.append(f"chosen by retrieval ({choice.retrieval.get('task', 'labelled')})")
    if measured:
        found.append(measured)
    return ", ".join(found) + "."


def _layer_list(layers):
    if len(layers) == 1:
        return f"layer {next(iter(layers))}"
    return "layers " + ", ".join(f"{layer} ({weight:.0%})" for layer, weight in sorted(layers.items()))


def choices_from_run(run_id, r2, aspects, weighted):
    """{aspect: AspectChoice} from a probe run's results, for the aspects of DEFAULT_MAP
    that its targets measure. `r2`: {layer: {target: mean R²}}; `aspects`: {target: aspect};
    `weighted`: {target: {"r2", "weights"}} of the weighted probe.

    An aspect's score at a layer is the mean R² of its targets there; it takes its best
    layer, or the weighted probe's layer weights (mean over its targets, shares under
    MIN_LAYER_WEIGHT dropped) when those score more than MESS_ASPECT_WEIGHTED_GAIN higher."""
    layers = sorted(r2)
    choices = {}
    for name, default in DEFAULT_MAP.items():
        targets = [t for t, aspect in aspects.items() if aspect == name
                   and any(r2[layer].get(t) is not None for layer in layers)]
        if not targets:
            continue
        table = _table(r2, layers, targets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a layer without any score: NaN, skipped
            scores = np.nanmean(table, axis=1)
        best = int(np.nanargmax(scores))
        weights, score = {layers[best]: 1.0}, float(scores[best])
        evidence = {t: float(table[best, i]) for i, t in enumerate(targets) if not np.isnan(table[best, i])}
        blended = [weighted.get(t) or {} for t in targets]
        # A target whose weighted probe left a layer unscored (None) has no usable weights.
        if all(w.get("r2") is not None and w.get("weights") and None not in w["weights"] for w in blended):
            blended_score = float(np.mean([w["r2"] for w in blended]))
            if blended_score - score > settings.MESS_ASPECT_WEIGHTED_GAIN:
                shares = np.mean([w["weights"] for w in blended], axis=0)
                kept = {layer: float(share) for layer, share in enumerate(shares) if share >= MIN_LAYER_WEIGHT}
                total = sum(kept.values())
                weights, score = {layer: share / total for layer, share in kept.items()}, blended_score
                evidence = {t: float(w["r2"]) for t, w in zip(targets, blended)}
        choices[name] = replace(default, layers=weights, r2=score, confidence=confidence(score),
                                source=f"probe run {run_id}", run=run_id, evidence=evidence)
    return choices


def confidence(r2):
    """high above 0.8, medium above 0.5, else low."""
    return "high" if r2 > 0.8 else "medium" if r2 > 0.5 else "low"


def _run_choices(run):
    """(choices, r2, target aspects) of a finished run; its results never change, so
    each process derives them once."""
    key = (run.pk, run.finished_at)
    if key not in _derived:
        r2 = {}
        for layer, target, value in ProbeResult.objects.filter(run=run).values_list("layer", "target", "r2"):
            r2.setdefault(layer, {})[target] = value
        aspects = {spec["name"]: spec["aspect"] for spec in run.target_specs}
        choices = choices_from_run(run.pk, r2, aspects, run.weighted)
        if run.aspect_choices:
            choices = {name: _stored(choices[name], stored, r2, aspects)
                       for name, stored in run.aspect_choices.items() if name in choices}
        _derived[key] = choices, r2, aspects
    return _derived[key]


def run_choices(run):
    """{aspect: AspectChoice} that a finished run makes (whether or not it sets the map)."""
    return _run_choices(run)[0]


def _stored(r2_choice, stored, r2, aspects):
    """The AspectChoice of a run's stored choice: its layers, with the R² evidence at them
    when it is one layer (a mix keeps no single R²). A choice that retrieval backs takes its
    confidence from its agreement (a proxy target's R² does not say how well a layer finds
    the same work); the others from R²."""
    layers = {int(layer): float(weight) for layer, weight in stored["layers"].items()}
    choice = replace(r2_choice, layers=layers, retrieval=stored.get("retrieval"), agreement=stored.get("agreement"),
                     agreement_basis=stored.get("agreement_basis", ""), kept_previous=stored.get("kept_previous", False))
    if layers != r2_choice.layers:
        evidence = {}
        if len(layers) == 1:
            [layer] = layers
            evidence = {t: r2[layer][t] for t, aspect in aspects.items()
                        if aspect == r2_choice.name and r2.get(layer, {}).get(t) is not None}
        score = float(np.mean(list(evidence.values()))) if evidence else None
        choice = replace(choice, r2=score, evidence=evidence, confidence=confidence(score) if evidence else "low")
    if choice.retrieval:
        agreement = choice.agreement or 0.0
        choice = replace(choice, confidence="high" if agreement >= 0.8 else "medium" if agreement >= 0.5 else "low")
    return choice


def _pinned(pin, current, probed, run):
    """The pinned layers, with the run's evidence for them when the pin is one layer it measured."""
    layers = {int(layer): float(weight) for layer, weight in pin.layers.items()}
    total = sum(layers.values())
    layers = {layer: weight / total for layer, weight in layers.items()}
    who = pin.pinned_by.get_username() if pin.pinned_by else "a curator"
    pinned = replace(current, layers=layers, r2=None, confidence="pinned", evidence={},
                     source=f"pinned by {who}" + (f": {pin.note}" if pin.note else ""))
    if probed is None or len(layers) != 1:
        return pinned
    _, r2, aspects = probed
    [layer] = layers
    targets = [t for t, aspect in aspects.items() if aspect == pin.aspect]
    evidence = {t: r2[layer][t] for t in targets if r2.get(layer, {}).get(t) is not None}
    if not evidence:
        return pinned
    score = float(np.mean(list(evidence.values())))
    return replace(pinned, r2=score, confidence=confidence(score), evidence=evidence, run=run.pk)


def _table(r2, layers, targets):
    """[layers, targets] of R², NaN where there is none."""
    return np.array([[np.nan if r2[layer].get(t) is None else r2[layer][t] for t in targets] for layer in layers])


_derived = {}  # (run id, finished at) -> _run_choices


def check_aspect(name):
    """The aspect's canonical name; UnknownAspect lists the known ones."""
    canonical = name.strip().lower()
    if canonical not in DEFAULT_MAP:
        raise UnknownAspect(f"Unknown aspect {name!r}; known aspects: {', '.join(DEFAULT_MAP)}.")
    return canonical


def parse_mix(text):
    """Parse a mix: "brightness=0.7,timbre=0.3" -> {"brightness": 0.7, "timbre": 0.3}.

    Weights are relative (they need not sum to 1) but must be finite and not negative,
    with a positive total. Raises UnknownAspect or ValueError with a message for people."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not parts:
        raise ValueError("The mix is empty; write it as aspect=weight pairs, e.g. brightness=0.7,timbre=0.3.")
    mix = {}
    for part in parts:
        name, sep, number = part.partition("=")
        if not sep:
            raise ValueError(f"{part!r} has no weight; write aspect=weight, e.g. {part.strip()}=0.5.")
        name = check_aspect(name)
        if name in mix:
            raise ValueError(f"{name} appears twice in the mix.")
        try:
            weight = float(number)
        except ValueError:
            raise ValueError(f"The weight of {name}, {number.strip()!r}, is not a number.") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"The weight of {name} must be a finite number of at least 0, not {number.strip()}.")
        mix[name] = weight
    if sum(mix.values()) <= 0:
        raise ValueError("The weights of the mix add up to 0; give at least one aspect a positive weight.")
    return mix
