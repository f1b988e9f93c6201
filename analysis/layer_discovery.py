"""The layer discovery page's content: the active space's probe runs to choose from, a
run's layers x targets R² heatmap as table cells (value, colour, best layer per target)
and the space's aspect map in words. Web-safe."""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.formats import date_format

from analysis.models import ProbeRun
from analysis.probe_results import heatmap
from recommendations.aspects import aspect_map, map_run

# A sequential light-to-dark blue scale (ColorBrewer "Blues") for R² from 0 to 1; scores
# below 0 (worse than predicting the mean) take the lightest colour.
HEAT_STOPS = (
    (0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
    (1.0, (8, 48, 107)),
)  # fmt: skip
# Pure black, not --ink: on mid-scale colours only black or white reaches 4.5:1 (WCAG AA).
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"


@dataclass(frozen=True)
class HeatCell:
    r2: float | None
    background: str
    colour: str  # the text colour with the higher contrast on `background`
    best: bool  # the best layer for this target


@dataclass(frozen=True)
class HeatRow:
    layer: int
    label: str
    cells: list[HeatCell]


@dataclass(frozen=True)
class TargetColumn:
    name: str
    aspect: str
    description: str


@dataclass(frozen=True)
class AspectRow:
    name: str
    description: str
    layers: list[str]  # "Layer 3" or, for a mix, "Layer 3 (60%)"
    r2: float | None
    confidence: str  # high, medium, low, pinned or none
    origin: str  # "probe", "pin" or "default": where the choice comes from
    source: str
    run: int | None
    evidence: list[tuple[str, float]]  # (target, R²) at the chosen layers
    problem: str
    retrieval: str  # the labelled task behind the choice and its scores, in words; "" without one
    agreement: str  # "in 92% of 200 bootstrap samples ...", "" without evidence


def runs_of(space):
    """The space's probe runs, newest first."""
    return ProbeRun.objects.filter(space=space).select_related("space", "dataset").order_by("-created_at", "-pk")


def default_run(runs):
    """Of runs (newest first, at least one): the newest that succeeded, else the newest,
    so that a first run's progress shows."""
    return next((run for run in runs if run.status == ProbeRun.Status.SUCCEEDED), runs[0])


def run_label(run):
    scope = run.dataset.name if run.dataset_id else "all tracks"
    when = date_format(timezone.localtime(run.created_at), "j M Y H:i")
    return f"Run {run.pk} · {run.get_status_display().lower()} · {when} · {scope}"


class RunChoiceForm(forms.Form):
    run = forms.ModelChoiceField(ProbeRun.objects.none(), label="Probe run", empty_label=None)

    def __init__(self, runs, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["run"].queryset = runs
        self.fields["run"].label_from_instance = run_label


def heat_colours(r2):
    """(background, text colour) of a cell: the scale's colour at `r2` (clamped to 0-1),
    and whichever of dark or white text contrasts more with it."""
    value = min(max(r2, 0.0), 1.0)
    for (low, start), (high, end) in zip(HEAT_STOPS, HEAT_STOPS[1:]):
        if value <= high:
            share = (value - low) / (high - low)
            rgb = tuple(round(a + (b - a) * share) for a, b in zip(start, end))
            break
    background = "#{:02x}{:02x}{:02x}".format(*rgb)
    text = max((DARK_TEXT, LIGHT_TEXT), key=lambda colour: contrast(background, colour))
    return background, text


def contrast(first, second):
    """WCAG contrast ratio of two #rrggbb colours."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour):
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def heatmap_table(run):
    """(target columns, layer rows) of a finished run, the best layer of each target marked."""
    grid = heatmap(run)
    specs = {spec["name"]: spec for spec in run.target_specs}
    columns = [TargetColumn(name, specs[name].get("aspect", ""), specs[name].get("description", ""))
               for name in grid["targets"]]
    best = [max((row[i] for row in grid["r2"] if row[i] is not None), default=None) for i in range(len(columns))]
    rows = []
    for layer, values in zip(grid["layers"], grid["r2"]):
        cells = []
        for value, top in zip(values, best):
            background, colour = heat_colours(value) if value is not None else ("", "")  # shown as "no score"
            cells.append(HeatCell(value, background, colour, value is not None and value == top))
        rows.append(HeatRow(layer, run.space.layer_label(layer), cells))
    return columns, rows


def aspect_rows(space):
    """The space's aspect map as the page words it: each aspect's layers, score,
    confidence, where the choice comes from, and the targets behind it."""
    rows = []
    for choice in aspect_map(space).values():
        mix = len(choice.layers) > 1
        layers = [
            space.layer_label(layer) + (f" ({weight:.0%})" if mix else "")
            for layer, weight in sorted(choice.layers.items())
        ]
        # A pin keeps the run its evidence may come from: only its source says it is a pin.
        origin = "pin" if choice.source.startswith("pinned") else "probe" if choice.run else "default"
        rows.append(AspectRow(
            name=choice.name, description=choice.description, layers=layers, r2=choice.r2,
            confidence=choice.confidence, origin=origin, source=choice.source, run=choice.run,
            evidence=sorted(choice.evidence.items()), problem=choice.problem,
            retrieval=_retrieval_words(space, choice.retrieval),
            agreement=_agreement_words(choice),
        ))  # fmt: skip
    return rows


def _retrieval_words(space, retrieval):
    if not retrieval:
        return ""
    return (f"{retrieval['task'].replace('_', ' ')}: {retrieval['metric']} {retrieval['score']:.2f} over "
            f"{retrieval['queries']} queries; best single layer {space.layer_label(retrieval['best_layer'])} "
            f"{retrieval['best_layer_score']:.2f}; the R² choice {retrieval['r2_choice_score']:.2f}")


def _agreement_words(choice):
    if choice.agreement is None:
        return ""
    kept = "; kept from the previous map (the new best was within the noise)" if choice.kept_previous else ""
    return f"best in {choice.agreement:.0%} of {choice.agreement_basis}{kept}"


def map_note(space, runs):
    """Which run sets the map, and why a newer finished run does not (too few tracks)."""
    chosen = map_run(space)
    minimum = settings.MESS_ASPECT_MIN_TRACKS
    newest = next((run for run in runs if run.status == ProbeRun.Status.SUCCEEDED), None)
    note = f"A probe run sets the map when it probed at least {minimum} tracks (MESS_ASPECT_MIN_TRACKS)."
    if newest is not None and newest != chosen:
        note += (f" Run {newest.pk} probed {newest.tracks} track{pluralize(newest.tracks)}, fewer than that: "
                 f"its choices are shown with it, but the map " +
                 (f"still comes from run {chosen.pk}." if chosen else "keeps its defaults."))
    return note


def page(space, query):
    """The page's content for `space` and the query string: its runs and the run chosen
    (?run=ID, else default_run), with that run's heatmap once it has succeeded, and the aspect map."""
    runs = list(runs_of(space))
    content = {"aspects": aspect_rows(space), "runs": runs, "map_note": map_note(space, runs),
               "active_runs": [run for run in runs if run.status in ProbeRun.ACTIVE_STATES]}
    if not runs:
        return content
    form = RunChoiceForm(runs_of(space), {"run": query.get("run") or default_run(runs).pk})
    content["form"] = form
    if form.is_valid():
        run = content["run"] = form.cleaned_data["run"]
        if run.status == ProbeRun.Status.SUCCEEDED:
            content["columns"], content["rows"] = heatmap_table(run)
    return content
