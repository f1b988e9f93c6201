"""Similar tracks by layer, aspect and mix, filters and diversity, on vectors built so the
right answers can be read off by hand: every cosine to the query track is chosen."""

import math

import numpy as np
import pytest

from analysis.embeddings import store_track_embeddings
from analysis.models import EmbeddingSpace
from recommendations import index
from recommendations.aspects import UnknownAspect, aspect_map, parse_mix
from recommendations.models import PinnedAspect
from recommendations.recommender import RecommendationError, mmr, similar_tracks
from tests.factories import audio_bytes, make_dataset, make_track, tone

pytestmark = pytest.mark.django_db

# Cosine of each track to the query at layers 0, 1, 2 of the 3-layer test space.
# Layer 0 (brightness) ranks a, c, b, d; layer 1 (timbre) ranks b, c, a, d; an even mix
# of the two ranks c (0.7), a (0.6), b (0.55), d.
COSINES = {
    "a": (0.9, 0.3, 0.5),
    "b": (0.2, 0.9, 0.5),
    "c": (0.7, 0.7, 0.9),
    "d": (-0.5, -0.5, 0.0),
}


def make_space(name="tiny", *, active=True, num_layers=3, dim=4):
    return EmbeddingSpace.objects.create(
        name=name, model_id=f"tests/{name}", weights_hash=name.ljust(64, "0"), num_layers=num_layers, dim=dim,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=active,
    )  # fmt: skip


def at_cosine(cosine, axis):
    """A unit vector at `cosine` to e0, leaning towards `axis` (1-3)."""
    vector = np.zeros(4, dtype=np.float32)
    vector[0], vector[axis] = cosine, math.sqrt(1 - cosine**2)
    return vector


def store(track, space, layers):
    mean = np.asarray(layers, dtype=np.float32)
    store_track_embeddings(track, space, track_mean=mean, window_means=mean[None], window_starts=[0.0])


_freq = iter(range(200, 20000, 10))


def track(dataset, title, **fields):
    """A track with its own audio (the catalogue refuses the same audio twice in a dataset)."""
    return make_track(dataset, data=audio_bytes(tone(seconds=0.1, freq=next(_freq))), title=title, **fields)


@pytest.fixture
def corpus():
    """The query track q (Bach, BWV 846, in smd) and a-d of COSINES, in the active space."""
    space = make_space()
    smd, maestro = make_dataset("SMD", slug="smd"), make_dataset("MAESTRO", slug="maestro")
    tracks = {
        "q": track(smd, "query", composer="Bach", work="BWV 846"),
        "a": track(smd, "a", composer="Chopin", work="Op. 28"),
        "b": track(smd, "b", composer="Chopin"),
        "c": track(maestro, "c", composer="Bach", work="BWV 846"),  # another recording of q's work
        "d": track(maestro, "d", composer="bach", work="BWV 847"),
    }
    store(tracks["q"], space, [at_cosine(1, 1)] * 3)
    for name, cosines in COSINES.items():
        # Each track leans its own way, so no two candidates are the same vector.
        store(tracks[name], space, [at_cosine(cosine, 1 + "abcd".index(name) % 3) for cosine in cosines])
    # A curator's map: the space is not probed, and an unprobed space weighs every layer equally.
    for aspect, layer in (("brightness", 0), ("timbre", 1)):
        PinnedAspect.objects.create(space=space, aspect=aspect, layers={str(layer): 1})
    return space, tracks


def titles(found):
    return [r.track.title for r in found.results]


@pytest.mark.parametrize(
    "query, expected",
    [
        (dict(layer=0), ["a", "c", "b", "d"]),
        (dict(layer=1), ["b", "c", "a", "d"]),
        (dict(aspect="brightness"), ["a", "c", "b", "d"]),  # layer 0
        (dict(aspect="timbre"), ["b", "c", "a", "d"]),  # layer 1
        (dict(), ["b", "c", "a", "d"]),  # the default aspect, timbre
        (dict(mix="brightness=1,timbre=1"), ["c", "a", "b", "d"]),
        (dict(mix="brightness=0.75,timbre=0.25"), ["a", "c", "b", "d"]),  # 0.75, 0.7, 0.375
    ],
)
def test_layer_aspect_and_mix_rank_as_their_cosines_say(corpus, query, expected):
    assert titles(similar_tracks(corpus[1]["q"], **query)) == expected


def test_scores_are_the_cosines_and_a_mix_scores_their_weighted_sum(corpus):
    q = corpus[1]["q"]
    [top] = similar_tracks(q, layer=2, k=1).results
    assert top.track.title == "c" and top.score == pytest.approx(0.9, abs=1e-5)
    assert top.layers == {2: 1.0}
    mixed = {r.track.title: r for r in similar_tracks(q, mix="brightness=3,timbre=1").results}
    assert mixed["b"].score == pytest.approx(0.75 * 0.2 + 0.25 * 0.9, abs=1e-5)
    assert mixed["b"].layers == {0: 0.75, 1: 0.25}
    assert mixed["b"].cosines == pytest.approx({0: 0.2, 1: 0.9}, abs=1e-5)


def test_k_limits_the_results_and_the_query_track_is_never_among_them(corpus):
    space, tracks = corpus
    assert titles(similar_tracks(tracks["q"], layer=0, k=2)) == ["a", "c"]
    # From a's side q is the closest at layer 0 (cosine 0.9), and a itself is left out.
    found = similar_tracks(tracks["a"], layer=0, k=10)
    assert titles(found)[0] == "query" and "a" not in titles(found)


def test_tracks_of_other_spaces_or_without_embeddings_are_never_returned(corpus):
    space, tracks = corpus
    other = make_space("other", active=False)
    twin = track(tracks["q"].dataset, "twin of q in another space")
    store(twin, other, [at_cosine(1, 1)] * 3)
    store(tracks["q"], other, [at_cosine(1, 1)] * 3)
    track(tracks["q"].dataset, "never extracted")
    assert sorted(titles(similar_tracks(tracks["q"], layer=0))) == ["a", "b", "c", "d"]
    assert titles(similar_tracks(tracks["q"], space=other, layer=0)) == ["twin of q in another space"]


def test_filters_by_dataset_composer_and_work(corpus):
    q = corpus[1]["q"]
    assert titles(similar_tracks(q, layer=0, dataset="maestro")) == ["c", "d"]
    assert titles(similar_tracks(q, layer=0, composer="BACH")) == ["c", "d"]  # ignoring case
    assert titles(similar_tracks(q, layer=0, exclude_same_work=True)) == ["a", "b", "d"]
    assert titles(similar_tracks(q, layer=0, dataset="smd")) == ["a", "b"]
    assert titles(similar_tracks(q, mix="brightness=1,timbre=1", dataset="maestro", exclude_same_work=True)) == ["d"]
    with pytest.raises(RecommendationError) as unknown:  # a composer not in the catalogue is a mistake, not a filter
        similar_tracks(q, layer=0, composer="Mozart")
    assert unknown.value.code == "unknown_composer"


def test_filters_fill_k_from_matching_tracks(corpus):
    # a and c outrank d at layer 0; with the filter, d is still found for k=1.
    assert titles(similar_tracks(corpus[1]["q"], layer=0, k=1, composer="bach", exclude_same_work=True)) == ["d"]


def test_an_index_holding_a_deleted_track_or_swapped_mid_query_still_answers(corpus, monkeypatch):
    space, tracks = corpus
    search, vectors = index.search, index.vectors
    monkeypatch.setattr(index, "search", lambda *args, **kw: [(999_999_999, 1.0)] + search(*args, **kw))
    swaps = iter([True])

    def vectors_after_a_swap(*args):
        if next(swaps, False):  # the first read comes after a newer index replaced the searched one
            raise KeyError("no such row")
        return vectors(*args)

    monkeypatch.setattr(index, "vectors", vectors_after_a_swap)
    assert titles(similar_tracks(tracks["q"], layer=0)) == ["a", "c", "b", "d"]


def test_explanations_name_the_aspect_layer_and_cosine(corpus):
    q = corpus[1]["q"]
    [top] = similar_tracks(q, aspect="brightness", k=1).results
    assert top.explanation == "Similar brightness (layer 0, pinned by a curator, pinned confidence): cosine 0.90"
    [top] = similar_tracks(q, layer=2, k=1).results
    assert top.explanation == "Similar at layer 2: cosine 0.90"
    [top] = similar_tracks(q, mix="brightness=1,timbre=1", k=1).results
    assert top.explanation == (
        "Similar brightness 50% (layer 0) + timbre 50% (layer 1): "
        "cosine 0.70 at layer 0, 0.70 at layer 1; weighted 0.70"
    )


# --- diversity -----------------------------------------------------------------------


@pytest.fixture
def clusters():
    """At layer 0: a1 and a2 almost the same vector (similarity 0.996), b1 apart from both
    (0.767 to a1). To the query: a1 0.894, a2 0.891, b1 0.857."""
    space = make_space("clusters")
    dataset = make_dataset("Clusters")
    vectors = {
        "q": [1, 0, 0, 0],
        "a1": [1, 0.5, 0, 0],
        "a2": [1, 0.5, 0.1, 0],
        "b1": [1, 0, 0, 0.6],
    }
    tracks = {}
    for name, vector in vectors.items():
        tracks[name] = track(dataset, name)
        store(tracks[name], space, [vector, [0, 1, 0, 0], [0, 0, 1, 0]])
    return tracks


def pairwise_mean(found, layer=0):
    vectors = [track_unit(r.track, layer) for r in found.results]
    pairs = [a @ b for i, a in enumerate(vectors) for b in vectors[i + 1 :]]
    return sum(pairs) / len(pairs)


def track_unit(track, layer):
    vector = np.asarray(track.embeddings.get(layer=layer).vector)
    return vector / np.linalg.norm(vector)


def test_diversity_zero_is_the_plain_ranking(clusters):
    q = clusters["q"]
    assert titles(similar_tracks(q, layer=0, k=2)) == ["a1", "a2"]
    # A diversity too small to matter goes through MMR and comes back with the ranking.
    assert titles(similar_tracks(q, layer=0, k=3, diversity=1e-9)) == titles(similar_tracks(q, layer=0, k=3))


def test_diversity_trades_a_near_duplicate_for_a_different_track(clusters):
    q = clusters["q"]
    plain = similar_tracks(q, layer=0, k=2)
    # Second pick at lambda 0.5: a2 scores 0.5 * 0.891 - 0.5 * 0.996 < 0; b1 0.5 * 0.857 - 0.5 * 0.767 > 0.
    varied = similar_tracks(q, layer=0, k=2, diversity=0.5)
    assert titles(varied) == ["a1", "b1"]
    assert pairwise_mean(varied) < pairwise_mean(plain)
    # Scores stay the similarity to the query, not the MMR objective.
    assert varied.results[1].score == pytest.approx(1 / math.sqrt(1.36), abs=1e-5)


def test_mmr_on_hand_made_numbers():
    relevance = [0.9, 0.89, 0.8]
    similarity = np.array([[1, 0.99, 0.1], [0.99, 1, 0.1], [0.1, 0.1, 1]])
    assert mmr(relevance, similarity, 3, 0.0) == [0, 1, 2]
    assert mmr(relevance, similarity, 2, 0.5) == [0, 2]
    assert mmr(relevance, similarity, 2, 1.0) == [0, 2]
    assert mmr(relevance, similarity, 5, 0.5) == [0, 2, 1]  # k beyond the items: all of them


# --- invalid requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query, code",
    [
        (dict(aspect="loudness"), "unknown_aspect"),
        (dict(layer=3), "layer_out_of_range"),
        (dict(layer=-1), "layer_out_of_range"),
        (dict(mix="brightness=0.5,loudness=0.5"), "unknown_aspect"),
        (dict(mix="brightness"), "bad_mix"),
        (dict(layer=0, aspect="timbre"), "conflicting_parameters"),
        (dict(dataset="nowhere"), "unknown_dataset"),
        (dict(k=0), "bad_k"),
        (dict(k=101), "bad_k"),
        (dict(diversity=1.5), "bad_diversity"),
        (dict(diversity=float("nan")), "bad_diversity"),
    ],
)
def test_invalid_requests_name_their_problem(corpus, query, code):
    with pytest.raises(RecommendationError) as caught:
        similar_tracks(corpus[1]["q"], **query)
    assert caught.value.code == code and caught.value.message


def test_a_track_without_embeddings_or_a_platform_without_a_space_is_refused(corpus):
    space, tracks = corpus
    with pytest.raises(RecommendationError, match="no embeddings") as caught:
        similar_tracks(track(tracks["q"].dataset, "not extracted"))
    assert caught.value.code == "no_embeddings"
    EmbeddingSpace.objects.update(is_active=False)
    with pytest.raises(RecommendationError) as caught:
        similar_tracks(tracks["q"])
    assert caught.value.code == "no_space"


# --- the aspect map and mixes ----------------------------------------------------------


def test_only_a_mert_95m_space_starts_from_merts_map_every_other_space_from_all_its_layers():
    small = make_space("small", active=False)  # a MERT of 3 layers: not the model the defaults were measured on
    full = make_space("full", active=False, num_layers=13, dim=768)
    others = [
        EmbeddingSpace.objects.create(
            name=encoder, encoder=encoder, model_id=encoder, weights_hash=encoder[0] * 64, num_layers=layers, dim=dim,
            sample_rate=16000, window_seconds=2.992, overlap=0,
        )
        for encoder, layers, dim in (("musicnn", 9, 753), ("classic", 8, 39), ("musicnn+classic", 17, 753),
                                     ("mert+classic", 21, 768))
    ]  # fmt: skip
    for space in (small, *others):
        choices = aspect_map(space)
        assert all(c.available and c.r2 is None and c.confidence == "none" and not c.evidence for c in choices.values())
        assert all(c.layers == pytest.approx({layer: 1 / space.num_layers for layer in range(space.num_layers)})
                   for c in choices.values())
    merts = aspect_map(full)
    assert merts["brightness"].layers == {0: 1.0} and merts["brightness"].r2 == pytest.approx(0.944)
    assert merts["harmony"].layers == {8: 1.0} and (merts["harmony"].confidence, merts["harmony"].r2) == ("low", None)


def test_every_aspect_is_served_on_an_unprobed_space_from_all_its_layers(corpus):
    space, tracks = corpus
    found = similar_tracks(tracks["q"], aspect="harmony", k=1)
    assert found.layers == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    # c: cosines 0.7, 0.7, 0.9 -> 0.767, the best mean of the three layers.
    assert titles(found) == ["c"] and found.results[0].score == pytest.approx((0.7 + 0.7 + 0.9) / 3, abs=1e-5)
    assert found.results[0].explanation.startswith("Similar harmony (layers 0, 1, 2, default before any probe")


def test_parse_mix():
    assert parse_mix(" Brightness=0.7, timbre=0.3 ") == {"brightness": 0.7, "timbre": 0.3}
    assert parse_mix("harmony=2,rhythm=0") == {"harmony": 2.0, "rhythm": 0.0}


@pytest.mark.parametrize(
    "text, error, words",
    [
        ("", ValueError, "empty"),
        ("brightness", ValueError, "no weight"),
        ("brightness=lots", ValueError, "not a number"),
        ("brightness=inf", ValueError, "finite"),
        ("brightness=-1,timbre=2", ValueError, "at least 0"),
        ("brightness=0,timbre=0", ValueError, "add up to 0"),
        ("brightness=1,brightness=2", ValueError, "twice"),
        ("loudness=1", UnknownAspect, "known aspects: brightness"),
    ],
)
def test_parse_mix_refuses_with_a_reason(text, error, words):
    with pytest.raises(error, match=words):
        parse_mix(text)
