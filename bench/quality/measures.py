"""The measures of bench.quality: average precision, the relevance of a ranking's tracks
to its query, scores of rankings within one dataset and across two renderings."""

import numpy as np

from analysis.retrieval import average_precision, relevance, work_key  # noqa: F401  (the platform's own)

SHUFFLES, TOP = 200, 5


def scores(similarity, same_work, same_composer, same_instrument):
    """(MAP same work, P@TOP same composer, P@TOP same instrument) of the rankings by
    `similarity` [n, n]; NaN where no query has a relevant track."""
    aps, composer_precisions, instrument_precisions = [], [], []
    for query in range(len(similarity)):
        order = np.argsort(-similarity[query], kind="stable")
        order = order[order != query]
        if same_work[query].any():
            aps.append(average_precision(same_work[query, order]))
        composer_precisions.append(same_composer[query, order[:TOP]].mean())
        if same_instrument[query].any():
            instrument_precisions.append(same_instrument[query, order[:TOP]].mean())
    return tuple(float(np.mean(values)) if values else float("nan")
                 for values in (aps, composer_precisions, instrument_precisions))


def random_scores(same_work, same_composer, same_instrument, seed=0):
    rng = np.random.default_rng(seed)
    n = len(same_work)
    runs = [scores(rng.random((n, n)), same_work, same_composer, same_instrument) for _ in range(SHUFFLES)]
    return tuple(float(v) for v in np.nanmean(runs, axis=0))




def cross_scores(rankings, others, labels):
    """(MAP same work, MAP strict, P@TOP same work) of rankings of another rendering's tracks.

    `rankings`: {query id: ids of `others` best first}; `labels`: {id: (work key,
    instrument)} of the queries and `others`. Relevant: the query's work. Strict: its work
    in another ensemble, the same ensemble's rendition dropped from the ranking (a
    rendering of the very same score, only the SoundFont changed). Tracks of `others` that
    a ranking lacks (a capped k) come after it, in their order. Queries without a relevant
    track count in no mean; NaN where none has one."""
    aps, strict_aps, precisions = [], [], []
    for query, ranked in rankings.items():
        work, instrument = labels[query]
        returned = set(ranked)
        ranked = list(ranked) + [i for i in others if i not in returned]
        relevant = [bool(work) and labels[i][0] == work for i in ranked]
        if not any(relevant):
            continue
        aps.append(average_precision(relevant))
        precisions.append(sum(relevant[:TOP]) / TOP)
        twin = [bool(instrument) and labels[i][1] == instrument for i in ranked]
        strict = [r for r, t in zip(relevant, twin) if not (r and t)]
        if any(strict):
            strict_aps.append(average_precision(strict))
    return tuple(float(np.mean(values)) if values else float("nan") for values in (aps, strict_aps, precisions))


def random_cross_scores(queries, others, labels, seed=0):
    """cross_scores of random rankings (the mean over SHUFFLES seeded shuffles)."""
    rng = np.random.default_rng(seed)
    runs = [cross_scores({q: rng.permutation(others).tolist() for q in queries}, others, labels)
            for _ in range(SHUFFLES)]
    return tuple(float(v) for v in np.nanmean(runs, axis=0))
