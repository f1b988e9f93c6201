"""Search by clip, web side of the answer: a clip is a set of windows, so once it is
embedded it is matched like a track (mean over windows per layer) and like a span."""

from dataclasses import dataclass

from analysis.embeddings import load_window_features
from analysis.models import ClipQuery
from recommendations.passages import SimilarPassages, passages_like_windows, window_mean
from recommendations.recommender import RecommendationError, SimilarTracks, similar_to_vectors


@dataclass(frozen=True)
class ClipSearch:
    clip: ClipQuery
    similar: SimilarTracks | None  # None until the clip is embedded
    passages: SimilarPassages | None


def search_with_clip(clip, *, layer=None, aspect=None, mix=None, k=10, diversity=0.0, dataset=None, composer=None,
                     per_track=True):
    """The clip's state, and once it is embedded the tracks (ranked against its mean over
    windows per layer) and passages similar to it, in the clip's space."""
    if clip.status != ClipQuery.Status.SUCCEEDED:
        return ClipSearch(clip, None, None)
    if clip.space is None:
        raise RecommendationError("no_space", "The clip's embedding space was deleted; upload the clip again.")
    windows = load_window_features(clip.features_path)
    query = dict(space=clip.space, layer=layer, aspect=aspect, mix=mix, k=k)
    similar = similar_to_vectors(
        window_mean(windows), diversity=diversity, dataset=dataset, composer=composer, **query
    )
    return ClipSearch(clip, similar, passages_like_windows(windows, per_track=per_track, **query))
