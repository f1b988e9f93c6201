"""Similar tracks by layer, aspect or a mix of aspects, with an optional diversity knob.

The similarity of two tracks is a weighted sum of per-layer cosines: one layer
(`layer=`), the layers of an aspect (`aspect=`), or those of a mix of aspects (`mix=`),
with weights summing to 1. A query runs in five steps:

1. Filters (dataset, composer, same work) become the `allowed` set the index searches
   within, so it fills k from matching tracks; filtering afterwards would come up short
   whenever few tracks match. A composer is matched as people type it (catalog/composers.py).
2. Candidates come from `index.search`, one search per layer: the depth asked for
   (offset + k) and one more for a plain single-layer ranking, CANDIDATES_PER_RESULT *
   depth per layer otherwise, since a mix's best tracks rank high in at least one of its
   layers and diversity needs room to choose.
3. Every candidate is rescored exactly from its vectors, so a mix's score is right for
   each candidate whichever layer's search found it.
4. With diversity > 0 the candidates are re-ranked by maximal marginal relevance (mmr).
5. The page is results offset to offset + k of that list.

Pages join up: the list to any depth begins with the list to a smaller one, so page 2
neither repeats nor skips page 1, with or without diversity, as mmr draws its i-th pick
from the CANDIDATES_PER_RESULT * i best candidates whatever the depth. Exclusions and
filters apply to the whole list. One approximation: a mix's candidates come from
per-layer searches, and a deeper one can find a track whose mixed score beats one shown
on an earlier page, which then moves down onto the next page.
"""

import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from analysis.embeddings import track_vectors
from analysis.models import EmbeddingSpace
from analysis.services import active_space
from analysis.tags import known_tags, tagged
from catalog.composers import UnknownComposer, match_composers
from catalog.models import Dataset, Track
from recommendations import index, pgsearch
from recommendations.aspects import DEFAULT_ASPECT, UnknownAspect, aspect_map, check_aspect, parse_mix

MAX_K = 100
ORDERS = ("score", "diversified")  # how a list of results is ordered
CANDIDATES_PER_RESULT = 4


class RecommendationError(Exception):
    """A request that cannot be answered; `code` is stable, the message is for people.
    Codes: no_space, no_embeddings (nothing to compare), and for invalid requests
    unknown_aspect, layer_out_of_range, bad_mix, conflicting_parameters, unknown_dataset,
    unknown_composer, unknown_tag, bad_k, bad_offset, bad_diversity, bad_span (passages), and for
    radio and paths (recommendations/listening/) bad_count, bad_variance, bad_played, bad_cap,
    bad_duration, bad_seed, missing_seed, and indexing (passages: their index is being built)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Recommendation:
    track: Track
    score: float  # the similarity: sum over layers of weight * cosine
    layers: dict[int, float]  # layer -> weight
    cosines: dict[int, float]  # layer -> cosine to the query
    explanation: str


@dataclass(frozen=True)
class SimilarTracks:
    track: Track | None  # the query track; None for a query that is not one (a search clip)
    space: EmbeddingSpace
    layers: dict[int, float]  # layer -> weight, as resolved from layer, aspect or mix
    description: str  # what "similar" meant, e.g. "brightness (layer 0, R² 0.94, ...)"
    results: list[Recommendation]
    order: str  # one of ORDERS: diversified when mmr chose and ordered the results
    composers: list[str] | None  # the catalogued names a composer filter matched
    offset: int = 0  # the page's first result's position in the whole list
    next_offset: int | None = None  # where the next page starts; None at the end or the depth limit


def similar_tracks(
    track,
    *,
    space=None,
    layer=None,
    aspect=None,
    mix=None,
    k=10,
    diversity=0.0,
    dataset=None,
    composer=None,
    exclude_same_work=False,
    offset=0,
):
    """Up to k tracks most similar to `track` in `space` (the active one by default),
    from position `offset` of the whole list on; the list ends at MESS_SIMILAR_MAX_DEPTH.

    At most one of `layer` (an index), `aspect` (a name) and `mix` (a string such as
    "brightness=0.7,timbre=0.3") says what similar means; with none, DEFAULT_ASPECT.
    `diversity` in [0, 1]: 0 is the plain ranking, 1 the most varied set. `dataset` is a
    slug, `composer` a name as typed (catalog/composers.py); `exclude_same_work` leaves out
    other recordings of the query's work (same non-empty work and composer). Never returns
    the query track. Raises RecommendationError."""
    space, weights, description = prepare_query(space, layer=layer, aspect=aspect, mix=mix, k=k, diversity=diversity)
    _check_offset(offset)
    stored = query_vectors(track, space, weights)
    if stored is None:
        raise RecommendationError(
            "no_embeddings", f"Track {track.pk} has no embeddings in {space} yet; extract it first."
        )
    same_work = track if exclude_same_work and track.work else None
    composers = _composers(composer)
    allowed = allowed_ids(dataset=dataset, composers=composers, same_work_as=same_work)
    return _page(track, space, stored, weights, description, k=k, offset=offset, diversity=diversity, allowed=allowed,
                 composers=composers)


def _page(track, space, vectors, weights, description, *, k, offset, diversity, allowed, composers):
    """The SimilarTracks page from `offset` of the ranking near `vectors` (never `track`)."""
    depth = min(offset + k, settings.MESS_SIMILAR_MAX_DEPTH)  # a page across the limit stops at it
    results, more = _rank(
        space, vectors, weights, description, k=depth - offset, offset=offset, diversity=diversity, allowed=allowed,
        exclude={track.pk} if track is not None else set(),
    )
    return SimilarTracks(
        track=track, space=space, layers=weights, description=description, results=results,
        order=_order(diversity), composers=composers, offset=offset,
        next_offset=depth if more and depth < settings.MESS_SIMILAR_MAX_DEPTH else None,
    )


def query_vectors(track, space, layers):
    """The track's vector of each layer asked for, from the loaded indices (no database
    round trip), else from the database: a track extracted since the indices were built."""
    try:
        return {layer: index.vectors(space, layer, [track.pk])[0] for layer in layers}
    except KeyError:
        return track_vectors(track, space)


def similar_to_vectors(
    vectors, *, space, layer=None, aspect=None, mix=None, k=10, diversity=0.0, dataset=None, composer=None, offset=0
):
    """Like similar_tracks, for a query that is not a catalogue track (a search clip, an
    album's mean): `vectors` is [layers, dim] in `space`, one query vector per layer;
    nothing is excluded."""
    space, weights, description = prepare_query(space, layer=layer, aspect=aspect, mix=mix, k=k, diversity=diversity)
    _check_offset(offset)
    composers = _composers(composer)
    allowed = allowed_ids(dataset=dataset, composers=composers, same_work_as=None)
    return _page(None, space, vectors, weights, description, k=k, offset=offset, diversity=diversity, allowed=allowed,
                 composers=composers)


def prepare_query(space, *, layer, aspect, mix, k, diversity):
    """(space, layer -> weight, description) once k and diversity are checked; `space`
    defaults to the active one."""
    _check_k(k)
    _check_diversity(diversity)
    space = space or require_active_space()
    weights, description = _resolve(space, layer=layer, aspect=aspect, mix=mix)
    return space, weights, description


def require_active_space():
    space = active_space()
    if space is None:
        raise RecommendationError("no_space", "No embedding space is active yet: extract some tracks first.")
    return space


def mmr(relevance, similarity, k, diversity, reach=CANDIDATES_PER_RESULT):
    """Positions of up to k items chosen by maximal marginal relevance.

    Each step takes the item maximising lambda * relevance - (1 - lambda) * (its highest
    similarity to the items already taken), lambda = 1 - diversity. Ties go to the
    earlier item, so with items in ranking order, diversity 0 returns the ranking itself.
    The i-th pick (from 1) is one of the first reach * i items: so the picks to any depth
    begin with the picks to a smaller one, and pages of them join up.
    `relevance`: [n]; `similarity`: [n, n], or anything whose [i] is row i."""
    relevance = np.asarray(relevance, dtype=np.float64)
    lam = 1.0 - diversity
    closest = np.full(len(relevance), -np.inf)  # highest similarity to a chosen item
    chosen = []
    available = np.ones(len(relevance), dtype=bool)
    positions = np.arange(len(relevance))
    for step in range(min(k, len(relevance))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)  # nothing chosen yet: no penalty
        reachable = available & (positions < reach * (step + 1))
        objective = np.where(reachable, lam * relevance - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(objective))
        chosen.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return chosen


# --- steps ---------------------------------------------------------------------------


def _order(diversity):
    return "diversified" if diversity > 0 else "score"


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise RecommendationError("bad_k", f"k must be a whole number from 1 to {MAX_K}, not {k!r}.")


def _check_offset(offset):
    depth = settings.MESS_SIMILAR_MAX_DEPTH
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < depth:
        raise RecommendationError(
            "bad_offset", f"offset must be a whole number from 0 to {depth - 1} (MESS_SIMILAR_MAX_DEPTH - 1), "
            f"not {offset!r}."
        )


def _check_diversity(diversity):
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0 <= diversity <= 1:
        raise RecommendationError("bad_diversity", f"diversity must be a number from 0 to 1, not {diversity!r}.")


def _resolve(space, *, layer, aspect, mix):
    """(layer -> weight, description) for whichever of layer, aspect and mix was given."""
    given = [name for name, value in (("layer", layer), ("aspect", aspect), ("mix", mix)) if value is not None]
    if len(given) > 1:
        raise RecommendationError(
            "conflicting_parameters", f"Give at most one of layer, aspect and mix, not {' and '.join(given)}."
        )
    if layer is not None:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < space.num_layers:
            raise RecommendationError(
                "layer_out_of_range", f"Layer {layer} is out of range: {space} has layers 0-{space.num_layers - 1}."
            )
        return {layer: 1.0}, f"at layer {layer}"
    if mix is not None:
        try:
            shares = parse_mix(mix)
        except UnknownAspect as exc:
            raise RecommendationError("unknown_aspect", str(exc)) from exc
        except ValueError as exc:
            raise RecommendationError("bad_mix", str(exc)) from exc
    else:
        try:
            shares = {check_aspect(aspect or DEFAULT_ASPECT): 1.0}
        except UnknownAspect as exc:
            raise RecommendationError("unknown_aspect", str(exc)) from exc
    choices = aspect_map(space)
    total = sum(shares.values())
    weights = {}
    for name, share in shares.items():
        choice = choices[name]
        if not choice.available:
            raise RecommendationError("layer_out_of_range", choice.problem)
        for layer_index, weight in choice.layers.items():
            if share:  # a zero-weight aspect adds nothing, not even a search
                weights[layer_index] = weights.get(layer_index, 0.0) + weight * share / total
    if len(shares) == 1:
        [name] = shares
        return weights, f"{name} ({_evidence(choices[name])})"
    return weights, " + ".join(
        f"{name} {share / total:.0%} ({_layer_list(choices[name].layers)})" for name, share in shares.items()
    )


def _evidence(choice):
    where = _layer_list(choice.layers)
    if choice.r2 is not None:
        return f"{where}, R² {choice.r2:.2f}, {choice.source}"
    if choice.confidence == "none":  # the source says there is no evidence
        return f"{where}, {choice.source}"
    return f"{where}, {choice.source}, {choice.confidence} confidence"


def _layer_list(layers):
    return ("layer " if len(layers) == 1 else "layers ") + ", ".join(map(str, sorted(layers)))


def _composers(composer):
    """The catalogued names `composer` matches, or None without it."""
    if composer is None:
        return None
    try:
        return match_composers(composer)
    except UnknownComposer as exc:
        raise RecommendationError("unknown_composer", str(exc)) from exc


def allowed_ids(*, dataset, composers, same_work_as, tags=None, space=None, min_duration=None, max_duration=None):
    """The ids of the tracks the filters let through, or None without filters;
    `composers` are catalogued names, `same_work_as` a track whose other recordings are left out,
    `tags` tags the tracks must all carry in `space`, durations in seconds."""
    extras = (tags, min_duration, max_duration)
    if dataset is None and composers is None and same_work_as is None and all(value is None for value in extras):
        return None
    tracks = Track.objects.all()
    if dataset is not None:
        if not Dataset.objects.filter(slug=dataset).exists():
            raise RecommendationError("unknown_dataset", f"There is no dataset {dataset!r}.")
        tracks = tracks.filter(dataset__slug=dataset)
    if composers is not None:
        tracks = tracks.filter(composer__in=composers)
    if same_work_as is not None:
        tracks = tracks.exclude(work=same_work_as.work, composer=same_work_as.composer)
    if tags:
        unknown = sorted(set(tags) - set(known_tags(space)))
        if unknown:
            raise RecommendationError(
                "unknown_tag", f"{', '.join(unknown)}: not a tag of {space} (see the catalogue's tag filter)."
            )
        tracks = tagged(tracks, space, tags)
    if min_duration is not None:
        tracks = tracks.filter(duration__gte=min_duration)
    if max_duration is not None:
        tracks = tracks.filter(duration__lte=max_duration)
    return set(tracks.values_list("pk", flat=True))


def _rank(space, stored, weights, description, *, k, offset, diversity, allowed, exclude):
    """(results offset to offset + k, whether more follow) for the query vectors `stored`
    (indexable by layer: a [layers, dim] array or a {layer: vector} dict), never a track in `exclude`."""
    if allowed is not None and not allowed:  # nothing matches the filters
        return [], False
    queries = query_units(stored, weights)
    depth = offset + k
    # One more than the depth tells whether a next page exists.
    pool = depth + 1 if len(weights) == 1 and diversity == 0 else depth * CANDIDATES_PER_RESULT
    found = scored_candidates(space, queries, weights, pool, allowed, exclude)
    if not found.ids:
        return [], False
    order = found.order[:pool]
    more = len(order) > depth
    if diversity:
        # sqrt-weighted concatenation: its dot products are the same weighted cosine sums.
        joined = np.concatenate(
            [math.sqrt(weights[layer]) * v for v, layer in zip(found.vectors, weights)], axis=1
        )[order]
        order = [order[i] for i in mmr(found.scores[order], _Gram(joined), depth, diversity)]
    return [found.recommendation(i, description) for i in order[offset:depth]], more


def query_units(stored, weights):
    """{layer: the L2-normalised query vector} of the layers in `weights`."""
    return {layer: pgsearch.normalised(stored[layer])[0] for layer in weights}


@dataclass(frozen=True)
class Candidates:
    """Tracks found near a query, each rescored exactly from its vectors."""

    ids: list[int]
    tracks: dict[int, Track]
    vectors: list[np.ndarray]  # per layer of `weights`, in its order: [n, dim] unit vectors
    weights: dict[int, float]
    cosines: np.ndarray  # [n, layers]: each candidate's cosine to the query at each layer
    scores: np.ndarray  # [n]: the weighted sums
    order: list[int]  # positions by score, best first; ties: lower id first

    def recommendation(self, i, description):
        per_layer = {layer: float(self.cosines[i, j]) for j, layer in enumerate(self.weights)}
        score = float(self.scores[i])
        return Recommendation(
            track=self.tracks[self.ids[i]], score=score, layers=self.weights, cosines=per_layer,
            explanation=_explain(description, per_layer, score),
        )


def scored_candidates(space, queries, weights, pool, allowed, exclude, tracks=None):
    """Candidates for the unit query vectors `queries` ({layer: vector}): one index search
    of depth `pool` per layer, never a track in `exclude`, only tracks in `allowed` when given;
    their Tracks read from `tracks` (a queryset, all tracks by default), with their datasets."""
    ids, by_id, vectors = _candidates(space, queries, pool, allowed, exclude, tracks)
    if not ids:
        return Candidates([], {}, [], weights, np.zeros((0, len(weights))), np.zeros(0), [])
    cosines = np.stack([v @ queries[layer] for v, layer in zip(vectors, weights)], axis=1)  # [n, layers]
    scores = cosines @ np.array([weights[layer] for layer in weights])
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
    return Candidates(ids, by_id, vectors, weights, cosines, scores, order)


class _Gram:
    """Rows of vectors @ vectors.T, each made when mmr asks for it: a deep page's pool
    (thousands of candidates) would not fit as one matrix."""

    def __init__(self, vectors):
        self.vectors = vectors

    def __getitem__(self, row):
        return self.vectors @ self.vectors[row]


def _candidates(space, queries, pool, allowed, exclude, tracks):
    """(ids, their tracks by id, one [n, dim] matrix per layer of `queries`): the union of
    every layer's search results, less tracks deleted since the index was built."""
    read = (Track.objects.all() if tracks is None else tracks).select_related("dataset")
    for attempt in range(2):
        found = {}  # track id -> None: the union, in the order found
        for layer, query in queries.items():
            for track_id, _cosine in index.search(space, layer, query, pool, exclude=exclude, allowed=allowed):
                found[track_id] = None
        by_id = read.in_bulk(list(found))
        ids = [track_id for track_id in found if track_id in by_id]
        try:
            return ids, by_id, [index.vectors(space, layer, ids) for layer in queries] if ids else []
        except KeyError:
            # A newer index was swapped in between the search and the read: search again.
            if attempt:
                raise


def _explain(description, cosines, score):
    if len(cosines) == 1:
        return f"Similar {description}: cosine {score:.2f}"
    detail = ", ".join(f"{cosine:.2f} at layer {layer}" for layer, cosine in cosines.items())
    return f"Similar {description}: cosine {detail}; weighted {score:.2f}"

