"""Cross-rendering retrieval through the REST API: does a space find a work played by
another SoundFont? The platform is asked as a client asks it (GET /api/v1/tracks/{id}/
similar/ with a dataset filter), so what is measured is what it serves: its index, its
aspect map, its filters. Labels come from GET /api/v1/tracks/.
"""

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import numpy as np

from bench.quality.measures import cross_scores, random_cross_scores, work_key


def http_getter(base_url, token=None):
    """get(path, **params) -> (status, parsed JSON body) against the server at `base_url`."""
    headers = {"Authorization": f"Token {token}"} if token else {}

    def get(path, **params):
        request = urllib.request.Request(f"{base_url}{path}?{urlencode(params)}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read()
            try:
                return exc.code, json.loads(body)
            except ValueError:  # not the API's error shape: a server error page, say
                return exc.code, body.decode(errors="replace")[:500]

    return get


def answer(get, path, **params):
    """The body of a 200 answer; RuntimeError with the error otherwise."""
    status, body = get(path, **params)
    if status != 200:
        raise RuntimeError(f"GET {path} {params} answered {status}: {body}")
    return body


def dataset_labels(get, slug):
    """{track id: (work key, ensemble)} of a dataset's tracks, in id order."""
    labels, page = {}, 1
    while page:
        body = answer(get, "/api/v1/tracks/", dataset=slug, page=page, page_size=200)
        for track in body["results"]:
            labels[track["id"]] = (work_key(track["composer"], track["work"]), track["metadata"].get("instrument"))
        page = page + 1 if body["next"] else None
    return dict(sorted(labels.items()))


def similarity_queries(get, layer_label=lambda layer: f"Layer {layer}"):
    """[(row label, /similar/ parameters)] of the active space: every layer, then every
    available aspect, aspects with the same layer weights in one row (an unprobed space
    weighs all its layers equally for each aspect)."""
    body = answer(get, "/api/v1/aspects/")
    rows = [(layer_label(layer), {"layer": layer}) for layer in range(body["space"]["num_layers"])]
    groups = {}
    for aspect in body["aspects"]:
        if aspect["available"]:
            weights = tuple((w["layer"], round(w["weight"], 6)) for w in aspect["layers"])
            groups.setdefault(weights, []).append(aspect["name"])
    for weights, names in groups.items():
        equal = len(weights) == body["space"]["num_layers"] and len({w for _, w in weights}) == 1
        layers = "every layer equally" if equal else ", ".join(f"layer {layer} {w:.2f}" for layer, w in weights)
        named = "/".join(names) if len(names) <= 2 else f"{names[0]} and {len(names) - 1} other aspects"
        rows.append((f"{named} ({layers})", {"aspect": names[0]}))
    return rows


def api_rankings(get, queries, other_slug, k, **similarity):
    """{query id: ids of `other_slug`'s tracks best first} by GET /similar/; a query without
    embeddings in the active space is left out."""
    rankings = {}
    for query in queries:
        status, body = get(f"/api/v1/tracks/{query}/similar/", dataset=other_slug, k=k, **similarity)
        if status == 404 and isinstance(body, dict) and body["error"]["code"] == "no_embeddings":
            continue
        if status != 200:
            raise RuntimeError(f"similar to track {query} {similarity} answered {status}: {body}")
        rankings[query] = [result["track"]["id"] for result in body["results"]]
    return rankings


def both_ways(rank, a, b):
    """cross_scores of A's tracks against B's and B's against A's, averaged; `rank(queries,
    others, other_side)` gives the rankings (other_side: "a" or "b")."""
    labels = {**a, **b}
    runs = [cross_scores(rank(list(a), list(b), "b"), list(b), labels),
            cross_scores(rank(list(b), list(a), "a"), list(a), labels)]
    return tuple(float(v) for v in np.nanmean(runs, axis=0))


def evaluate_over_api(get, slug_a, slug_b, max_k, layer_label=lambda layer: f"Layer {layer}"):
    """[(row label, (MAP same work, MAP strict, P@TOP))] of the active space between the
    datasets `slug_a` and `slug_b` (see similarity_queries), both directions averaged."""
    a, b = dataset_labels(get, slug_a), dataset_labels(get, slug_b)
    k = min(max_k, max(len(a), len(b)))
    slugs = {"a": slug_a, "b": slug_b}

    def rows(similarity):
        return both_ways(lambda queries, _others, side: api_rankings(get, queries, slugs[side], k, **similarity), a, b)

    return [(label, rows(similarity)) for label, similarity in similarity_queries(get, layer_label)]


def baselines(a, b, chroma):
    """(chroma's scores, a random ranking's scores) between the tracks `a` and `b`
    (dataset_labels); `chroma`: {track id: mean chroma vector}."""

    def by_chroma(queries, others, _side):
        other = np.stack([chroma[i] / np.linalg.norm(chroma[i]) for i in others])
        return {q: [others[i] for i in np.argsort(-(other @ chroma[q]), kind="stable")] for q in queries}

    labels = {**a, **b}
    random = [random_cross_scores(list(a), list(b), labels), random_cross_scores(list(b), list(a), labels)]
    return both_ways(by_chroma, a, b), tuple(float(v) for v in np.nanmean(random, axis=0))


def mean_chroma(tracks):
    """{track id: librosa's chroma_cqt averaged over the track}: the 20-line baseline,
    read from the audio files themselves."""
    import librosa

    vectors = {}
    for track in tracks:
        with track.storage.open(track.audio_path) as f:
            audio, rate = librosa.load(f, sr=22050, mono=True)
        vectors[track.pk] = librosa.feature.chroma_cqt(y=audio, sr=rate).mean(axis=1)
    return vectors
