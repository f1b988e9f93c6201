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
from django.urls import reverse
from sklearn.decomposition import PCA

from analysis.tags import top_tags
from catalog.models import Track
from recommendations import index
from recommendations.aspects import DEFAULT_ASPECT, aspect_map

BOX_WIDTH, BOX_HEIGHT, BOX_MARGIN = 800, 500, 12
MIN_TRACKS = 3  # fewer points say nothing about a layer's shape
CACHE_SECONDS = 7 * 24 * 3600  # keys name the space's version: an old one is merely never asked for again
COLOUR_BY = {"composer": "Composer", "dataset": "Dataset", "tag": "Top tag"}
# Categorical colours, each at least 3:1 against the white page (WCAG non-text contrast),
# told apart by hue and lightness; OTHER_COLOUR is for the groups past the palette.
PALETTE = (
    "#1f77b4", "#d62728", "#2a7d2a", "#8e5bb8", "#b35900", "#0f7f8c",
    "#c0327e", "#7a6a00", "#5c4033", "#3d4db7", "#8c1c52", "#1b1f24",
)  # fmt: skip
OTHER_COLOUR = "#6b7280"
UNKNOWN = {"composer": "Unknown composer", "dataset": "No dataset", "tag": "No tag"}


@dataclass(frozen=True)
class Projection:
    track_ids: np.ndarray  # int64, one per point
    coords: np.ndarray  # [points, 2] float32 in the SVG box (y grows downwards); empty under MIN_TRACKS
    explained: tuple[float, float]  # share of the variance along PC1 and PC2


@dataclass(frozen=True)
class MapPoint:
    url: str
    label: str  # "title — composer", what hovering shows
    x: float
    y: float
    colour: str


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


def map_points(projection, colour_by, space=None):
    """(points, legend) for the map: each drawn point's track link, hover label and colour
    by `colour_by` ("composer", "dataset" or "tag": the track's best tag in `space`), with
    one query for the tracks' metadata (and one for their tags). The most common groups get
    their own colour, the rest share "Other"."""
    shown = drawn(projection)
    ids = [int(i) for i in projection.track_ids[shown]]
    rows = Track.objects.filter(pk__in=ids).values_list("pk", "title", "composer", "dataset__name")
    tracks = {pk: (title, composer, dataset) for pk, title, composer, dataset in rows}
    present = [(i, xy) for i, xy in zip(ids, projection.coords[shown].tolist()) if i in tracks]  # deleted since cached
    if colour_by == "tag":
        best = top_tags(space, ids)
        groups = {i: best.get(i, UNKNOWN["tag"]) for i, _ in present}
    else:
        column = 1 if colour_by == "composer" else 2
        groups = {i: tracks[i][column] or UNKNOWN[colour_by] for i, _ in present}
    colours, legend = _colours(Counter(groups.values()))
    points = [
        MapPoint(
            url=reverse("catalog:track-detail", args=[i]),
            label=" — ".join(part for part in tracks[i][:2] if part),
            x=round(x, 1),
            y=round(y, 1),
            colour=colours[groups[i]],
        )
        for i, (x, y) in present
    ]
    return points, legend


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
