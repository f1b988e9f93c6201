"""The embedding map: one layer of an embedding space seen from above.

The tracks' vectors are L2-normalised (the geometry cosine similarity sees) and projected
on their first two principal components (PCA: UMAP is not installed), then fitted into
the map's SVG box with one scale for both axes, so distances on the map stay comparable
in every direction. A projection is cached in Django's cache per (space, version, layer):
any change to the space's embeddings moves its version, so a stale map is never served.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.urls import reverse
from sklearn.decomposition import PCA

from analysis.tags import top_tags
from catalog.models import Track
from recommendations import index
from recommendations.aspects import DEFAULT_ASPECT, aspect_map

BOX_WIDTH, BOX_HEIGHT, BOX_MARGIN = 800, 500, 12
MIN_TRACKS = 3  # fewer points say nothing about a layer's shape
CACHE_SECONDS = 7 * 24 * 3600  # keys name the space's version: an old one is merely never asked for again
INSTRUMENTS_CACHE_SECONDS = 300
# What the points can be coloured by: a track field, the demo's instrument (a metadata key
# the demo corpus sets, as bench/quality reads it), or its best tag in the space.
COLOUR_BY = {
    "instrument": "Instrument", "composer": "Composer", "dataset": "Dataset", "work": "Work",
    "performer": "Performer", "album": "Album", "year": "Year", "genre": "Genre", "tag": "Top tag",
}  # fmt: skip
FIELDS = {"instrument": KT("metadata__instrument"), "dataset": F("dataset__name")}  # the rest are Track's own
MAX_LABELS = 6  # named points on the map: the central track of the largest groups, no more
LABEL_CHARS = 28
# Categorical colours, each at least 3:1 against the white page (WCAG non-text contrast),
# told apart by hue and lightness; OTHER_COLOUR is for the groups past the palette.
PALETTE = (
    "#1f77b4", "#d62728", "#2a7d2a", "#8e5bb8", "#b35900", "#0f7f8c",
    "#c0327e", "#7a6a00", "#5c4033", "#3d4db7", "#8c1c52", "#1b1f24",
)  # fmt: skip
OTHER_COLOUR = "#6b7280"
UNKNOWN = {"composer": "Unknown composer", "dataset": "No dataset", "tag": "No tag"}  # else "No <field>"


@dataclass(frozen=True)
class Projection:
    track_ids: np.ndarray  # int64, one per point
    coords: np.ndarray  # [points, 2] float32 in the SVG box (y grows downwards); empty under MIN_TRACKS
    explained: tuple[float, float]  # share of the variance along PC1 and PC2


@dataclass(frozen=True)
class MapPoint:
    id: int
    url: str
    audio_url: str
    title: str
    label: str  # "title — composer", what hovering shows
    group: str  # what it is coloured by
    x: float
    y: float
    colour: str


@dataclass(frozen=True)
class MapLabel:
    text: str
    x: float
    y: float
    anchor: str  # SVG text-anchor: "start" (right of the point), or "end" near the right edge


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    count: int


def principal_components(matrix):
    """([n, 2] coordinates on the first two principal components, their shares of the
    variance). Each axis points so that its largest loading is positive (deterministic)."""
    pca = PCA(n_components=2, random_state=0).fit(matrix)
    coords = pca.transform(matrix)
    ratios = np.nan_to_num(pca.explained_variance_ratio_)  # NaN when every point is the same
    return coords, (float(ratios[0]), float(ratios[1]))


def fit_to_box(coords):
    """Coordinates scaled by one factor and centred inside the SVG box's margins, y
    flipped so that PC2 grows upwards. Points that do not spread sit at the centre."""
    coords = np.asarray(coords, dtype=np.float64)
    low, high = coords.min(axis=0), coords.max(axis=0)
    span = high - low
    inner = np.array([BOX_WIDTH - 2 * BOX_MARGIN, BOX_HEIGHT - 2 * BOX_MARGIN], dtype=np.float64)
    spread = span > 0
    scale = (inner[spread] / span[spread]).min() if spread.any() else 0.0
    centred = (coords - (low + high) / 2) * scale
    x = BOX_WIDTH / 2 + centred[:, 0]
    y = BOX_HEIGHT / 2 - centred[:, 1]
    return np.stack([x, y], axis=1).astype(np.float32)


def layer_projection(space, layer):
    """The Projection of `layer` of `space` over every track with an embedding there,
    from the cache when this version of the space was projected before."""
    key = f"embedding-map:{space.pk}:{space.version}:{layer}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    # One bulk read of the layer (binary COPY, normalised), as the similarity index reads it.
    _version, _rows, track_ids, matrix = index.read_vectors(space.pk, layer)
    order = np.argsort(track_ids, kind="stable")  # the same points in the same order, however read
    track_ids, matrix = track_ids[order], matrix[order]
    if len(track_ids) < MIN_TRACKS:
        projection = Projection(track_ids, np.empty((0, 2), dtype=np.float32), (0.0, 0.0))
    else:
        coords, explained = principal_components(matrix)
        projection = Projection(track_ids, fit_to_box(coords), explained)
    cache.set(key, projection, CACHE_SECONDS)
    return projection


def drawn(projection):
    """The indices of the points to draw: all of them, or past MESS_MAP_MAX_POINTS a fixed
    random sample (the same on every visit, so the map does not shift under the reader)."""
    count, most = len(projection.track_ids), settings.MESS_MAP_MAX_POINTS
    if count <= most:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, most, replace=False))


def has_instruments(space):
    """Whether any track names its instrument (the demo corpus does): the map's default
    colouring then. A scan of the tracks' metadata when none does, so it is cached per
    version of `space` and for INSTRUMENTS_CACHE_SECONDS, as an edited instrument does
    not move the version."""
    key = f"map-has-instruments:{space.pk}:{space.version}"
    found = cache.get(key)
    if found is None:
        found = Track.objects.filter(Q(metadata__has_key="instrument") & ~Q(metadata__instrument="")).exists()
        cache.set(key, found, INSTRUMENTS_CACHE_SECONDS)
    return found


def map_points(projection, colour_by, space=None):
    """(points, legend, labels) for the map: each drawn point's track, hover label and
    colour by `colour_by` (a COLOUR_BY key; "tag": the track's best tag in `space`), with
    one query for the tracks' metadata (and one for their tags). The most common groups get
    their own colour, the rest share "Other"; the largest groups' central tracks are named."""
    shown = drawn(projection)
    ids = [int(i) for i in projection.track_ids[shown]]
    rows = Track.objects.filter(pk__in=ids)
    if colour_by == "tag":
        best = top_tags(space, ids)
        rows = rows.values("pk", "title", "composer")
    else:
        rows = rows.annotate(group=FIELDS.get(colour_by, F(colour_by))).values("pk", "title", "composer", "group")
    tracks = {row["pk"]: row for row in rows}
    present = [(i, xy) for i, xy in zip(ids, projection.coords[shown].tolist()) if i in tracks]  # deleted since cached
    unknown = UNKNOWN.get(colour_by, f"No {COLOUR_BY[colour_by].lower()}")
    groups = {i: str((best.get(i) if colour_by == "tag" else tracks[i]["group"]) or unknown) for i, _ in present}
    colours, legend = _colours(Counter(groups.values()))
    points = [
        MapPoint(
            id=i,
            url=reverse("catalog:track-detail", args=[i]),
            audio_url=reverse("catalog:track-audio", args=[i]),
            title=tracks[i]["title"],
            label=" — ".join(part for part in (tracks[i]["title"], tracks[i]["composer"]) if part),
            group=groups[i],
            x=round(x, 1),
            y=round(y, 1),
            colour=colours[groups[i]],
        )
        for i, (x, y) in present
    ]
    return points, legend, central_labels(points, legend)


def central_labels(points, legend):
    """A label for each of the largest groups (up to MAX_LABELS; not "Other"): its track
    nearest the group's centroid, named by title. A label that would overlap one already
    placed is left out, so the map stays readable."""
    labels, placed = [], []  # placed: (left, right, y) of each label's box
    for entry in legend[:MAX_LABELS]:
        members = [p for p in points if p.group == entry.label]
        if not members:  # "Other": several groups, no one centre
            continue
        cx, cy = np.mean([(p.x, p.y) for p in members], axis=0)
        central = min(members, key=lambda p: ((p.x - cx) ** 2 + (p.y - cy) ** 2, p.id))
        text = central.title if len(central.title) <= LABEL_CHARS else central.title[: LABEL_CHARS - 1] + "…"
        # About 7 units a character at the label's size, one line 16 units tall; a label
        # too close to the right edge goes on the point's left.
        width = 7 * len(text)
        right = central.x + 8 + width <= BOX_WIDTH - BOX_MARGIN
        left = central.x + 8 if right else central.x - 8 - width
        if any(abs(central.y - y) < 16 and left < other_right and other_left < left + width
               for other_left, other_right, y in placed):
            continue
        placed.append((left, left + width, central.y))
        x = central.x + 8 if right else central.x - 8
        labels.append(MapLabel(text, round(x, 1), round(central.y + 4, 1), "start" if right else "end"))
    return labels


def _colours(counts):
    """({group: colour}, legend) with the largest groups first; past the palette, one "Other"."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))
    # With more groups than colours, the last colour makes way for "Other".
    own = ranked if len(ranked) <= len(PALETTE) else ranked[: len(PALETTE) - 1]
    colours = {group: PALETTE[i] for i, (group, _) in enumerate(own)}
    legend = [LegendEntry(group, colours[group], count) for group, count in own]
    rest = ranked[len(own):]
    if rest:
        colours.update((group, OTHER_COLOUR) for group, _ in rest)
        legend.append(LegendEntry(f"Other ({len(rest)} more)", OTHER_COLOUR, sum(count for _, count in rest)))
    return colours, legend


def default_layer(space):
    """The layer "more like this" uses by default (its heaviest, for a mix), else 0."""
    choice = aspect_map(space)[DEFAULT_ASPECT]
    if not choice.available:
        return 0
    return max(choice.layers, key=choice.layers.get)
