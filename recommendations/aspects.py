"""Musical aspects ("brightness", "timbre", ...) and the MERT layers that carry them.

Until layer discovery (probing) on this platform's corpus produces an evidence-based
map, every space uses DEFAULT_MAP, written for MERT-v1-95M's 13 hidden states
(0 = the input projection, 1-12 the transformer layers):

- brightness, timbre, structure come from the research prototype's probing (ridge
  regression on SMD, R² of a proxy target per layer). They are evidence, but measured on
  another corpus and not yet reproduced here, hence "medium" confidence.
- harmony, rhythm, dynamics, articulation are guesses after MERT's published layer-wise
  results (low-level signal properties early, beat and onset information in the lower
  middle, pitch and key information in the upper middle); "low" confidence, no R².

An entry naming a layer the space lacks (small models have fewer layers) is kept and
reported as unavailable for that space instead of failing the whole map.
"""

import math
from dataclasses import dataclass, replace

PROTOTYPE = "default (research prototype)"
GUESS = "default (guess)"


@dataclass(frozen=True)
class AspectChoice:
    name: str
    layers: dict[int, float]  # layer -> weight, weights summing to 1
    r2: float | None  # the probe's R² behind the choice, when there is one
    confidence: str  # "high", "medium" or "low"
    source: str
    description: str
    problem: str = ""  # why the aspect cannot be used in this space; empty when it can

    @property
    def available(self):
        return not self.problem


DEFAULT_MAP = {
    choice.name: choice
    for choice in (
        AspectChoice("brightness", {0: 1.0}, 0.944, "medium", PROTOTYPE, "Spectral brightness (spectral centroid)."),
        AspectChoice("timbre", {1: 1.0}, 0.922, "medium", PROTOTYPE, "Timbral texture."),
        AspectChoice("structure", {2: 1.0}, 0.933, "medium", PROTOTYPE, "Acoustic structure."),
        AspectChoice("dynamics", {3: 1.0}, None, "low", GUESS, "Loudness and its changes: a low-level property."),
        AspectChoice("rhythm", {4: 1.0}, None, "low", GUESS, "Pulse, tempo and onsets: lower-middle layers."),
        AspectChoice("articulation", {5: 1.0}, None, "low", GUESS, "Attack and note connection (legato, staccato)."),
        AspectChoice("harmony", {8: 1.0}, None, "low", GUESS, "Pitch content, chords and key: upper-middle layers."),
    )
}

# What "more like this" means when nothing is asked for: how the music sounds.
DEFAULT_ASPECT = "timbre"


class UnknownAspect(ValueError):
    pass


def aspect_map(space):
    """Every known aspect for `space`, in DEFAULT_MAP's order; entries naming layers the
    space does not have carry a `problem` saying so."""
    result = {}
    for name, choice in DEFAULT_MAP.items():
        missing = sorted(layer for layer in choice.layers if layer >= space.num_layers)
        if missing:
            problem = (
                f"{name} uses layer {', '.join(map(str, missing))}, but {space} has layers 0-{space.num_layers - 1}."
            )
            choice = replace(choice, problem=problem)
        result[name] = choice
    return result


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
