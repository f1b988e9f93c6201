"""bench.quality across renderings: its measures on hand-checkable rankings, and its
evaluation asking a live server's REST API, on two tiny "renderings" whose embeddings
are built so that every ranking can be read off by hand."""

import numpy as np
import pytest

from bench.quality.crossrender import baselines, dataset_labels, evaluate_over_api, http_getter
from bench.quality.measures import cross_scores
from recommendations.models import PinnedAspect
from recommendations.recommender import MAX_K
from tests.factories import make_dataset, make_user, token_for
from tests.test_recommender import make_space, store, track

WORKS, ENSEMBLES = ("W1", "W2"), ("piano", "organ")


def test_cross_scores_by_hand():
    # Query q (W1 on piano) against the other rendering's four tracks.
    labels = {"q": ("w1", "piano"), 1: ("w1", "piano"), 2: ("w2", "piano"), 3: ("w1", "organ"), 4: ("w2", "organ")}
    others = [1, 2, 3, 4]
    # Relevant at ranks 1 and 3: AP (1 + 2/3) / 2. Strict: the piano twin (1) is dropped,
    # leaving 2, 3, 4: relevant at rank 2. P@5: 2 of 5.
    assert cross_scores({"q": [1, 2, 3, 4]}, others, labels) == pytest.approx((5 / 6, 1 / 2, 2 / 5))
    # A ranking that lacks tracks (k capped) has them appended in their order: [2] + [1, 3, 4].
    assert cross_scores({"q": [2]}, others, labels) == pytest.approx(((1 / 2 + 2 / 3) / 2, 1 / 2, 2 / 5))
    # No relevant track: no score.
    assert np.isnan(cross_scores({"q": [2, 4]}, [2, 4], labels)).all()


def vectors(work, ensemble, lead):
    """A unit vector over (piano, organ, W1, W2): `lead` (the work or the ensemble) at 1,
    the other at 0.5. Then the same work in the same ensemble has cosine 1, one shared
    leading axis 0.8, one shared other axis 0.2, nothing shared 0."""
    axes = {"piano": 0, "organ": 1, "W1": 2, "W2": 3}
    vector = np.zeros(4, dtype=np.float32)
    vector[axes[work]], vector[axes[ensemble]] = (1, 0.5) if lead == "work" else (0.5, 1)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def renderings():
    """Datasets ra and rb, each W1 and W2 on piano and organ, in the active space: layer 0
    leads with the work (finds it in any ensemble), layer 1 with the ensemble."""
    space = make_space(num_layers=2)
    for slug in ("ra", "rb"):
        dataset = make_dataset(slug.upper(), slug=slug)
        for work in WORKS:
            for ensemble in ENSEMBLES:
                made = track(dataset, f"{work} {ensemble}", composer="C", work=work, metadata={"instrument": ensemble})
                store(made, space, [vectors(work, ensemble, "work"), vectors(work, ensemble, "ensemble")])
    for aspect, layer in (("brightness", 0), ("timbre", 1)):
        PinnedAspect.objects.create(space=space, aspect=aspect, layers={str(layer): 1})
    return space


@pytest.mark.django_db(transaction=True)
def test_the_evaluation_asks_the_api_and_scores_what_it_answers(renderings, live_server):
    get = http_getter(live_server.url, token_for(make_user()))
    rows = dict(evaluate_over_api(get, "ra", "rb", MAX_K, renderings.layer_label))
    # Layer 0, for W1 piano: W1 piano (1), W1 organ (0.8), W2 piano (0.2), W2 organ (0):
    # a perfect ranking, strict too; 2 relevant in the top 5. Every query alike.
    assert rows["Layer 0"] == pytest.approx((1.0, 1.0, 2 / 5))
    # Layer 1: W1 piano, W2 piano (0.8), W1 organ (0.2), W2 organ: relevant at 1 and 3;
    # strict (W1 piano dropped): W1 organ second.
    assert rows["Layer 1"] == pytest.approx((5 / 6, 1 / 2, 2 / 5))
    # The pinned aspects are their layers; the others (unprobed) weigh both equally, one row.
    assert rows["brightness (layer 0 1.00)"] == rows["Layer 0"]
    assert rows["timbre (layer 1 1.00)"] == rows["Layer 1"]
    assert list(rows)[4:] == ["structure and 4 other aspects (every layer equally)"]

    # The baselines on the same queries: chroma as good as layer 0 here, random far below.
    a, b = dataset_labels(get, "ra"), dataset_labels(get, "rb")
    assert list(a) == sorted(a) and len(a) == len(b) == 4
    chroma = {track_id: vectors(*title.split(" "), "work")
              for track_id, title in renderings.embeddings.values_list("track_id", "track__title").distinct()}
    by_chroma, random = baselines(a, b, chroma)
    assert by_chroma == pytest.approx((1.0, 1.0, 2 / 5))
    assert 0.5 < random[0] < 0.9 and random[1] < by_chroma[1]
