"""The recommendations API: similar tracks, the aspect map and the index status, with
every bad parameter answered in the shared error shape."""

import pytest
from django.core.management import call_command

from analysis.models import EmbeddingSpace
from tests.test_recommender import corpus, track  # noqa: F401 (corpus is a fixture)

pytestmark = pytest.mark.django_db


def similar(client, track_id, **params):
    return client.get(f"/api/v1/tracks/{track_id}/similar/", params)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code) and error["message"]
    return error


def test_similar_tracks_with_their_reasons(client, corpus):
    space, tracks = corpus
    response = similar(client, tracks["q"].pk, aspect="brightness", k=2)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["track"]["id"] == tracks["q"].pk
    assert body["space"]["id"] == space.pk
    assert body["layers"] == [{"layer": 0, "weight": 1.0}]
    assert body["description"].startswith("brightness (layer 0")
    first, second = body["results"]
    assert first["track"]["title"] == "a" and second["track"]["title"] == "c"
    assert first["score"] == pytest.approx(0.9, abs=1e-5)
    assert first["layers"] == [{"layer": 0, "weight": 1.0, "cosine": pytest.approx(0.9, abs=1e-5)}]
    assert first["explanation"].startswith("Similar brightness (layer 0")
    summary = first["track"]
    assert (summary["composer"], summary["work"], summary["dataset"]) == ("Chopin", "Op. 28", "smd")
    assert summary["url"].endswith(f"/api/v1/tracks/{tracks['a'].pk}/")
    assert summary["audio_url"].startswith("http://")


def test_mix_layer_filters_and_diversity_pass_through(client, corpus):
    q = corpus[1]["q"]

    def titles(**params):
        response = similar(client, q.pk, **params)
        assert response.status_code == 200, response.content
        return [r["track"]["title"] for r in response.json()["results"]]

    assert titles(aspects="brightness=1,timbre=1") == ["c", "a", "b", "d"]
    assert titles(layer=1) == ["b", "c", "a", "d"]
    assert titles(layer=0, dataset="maestro", exclude_same_work="true") == ["d"]
    assert titles(layer=0, composer="chopin", diversity=0.3) == ["a", "b"]


@pytest.mark.parametrize(
    "params, code",
    [
        (dict(aspect="loudness"), "unknown_aspect"),
        (dict(layer=3), "layer_out_of_range"),
        (dict(aspects="brightness=x"), "bad_mix"),
        (dict(aspects="brightness=0.5,loudness=0.5"), "unknown_aspect"),
        (dict(aspect="timbre", aspects="brightness=1"), "conflicting_parameters"),
        (dict(layer=0, aspect="timbre"), "conflicting_parameters"),
        (dict(k=0), "bad_k"),
        (dict(k=101), "bad_k"),
        (dict(diversity=-0.1), "bad_diversity"),
        (dict(dataset="nowhere"), "unknown_dataset"),
    ],
)
def test_bad_parameters_are_400_with_their_code(client, corpus, params, code):
    assert_error(similar(client, corpus[1]["q"].pk, **params), 400, code)


@pytest.mark.parametrize("params", [dict(k="ten"), dict(layer="first"), dict(diversity="some")])
def test_malformed_numbers_are_400_naming_the_field(client, corpus, params):
    error = assert_error(similar(client, corpus[1]["q"].pk, **params), 400, "invalid")
    assert list(error["fields"]) == list(params)


def test_unknown_tracks_tracks_without_embeddings_and_no_space_are_404(client, corpus):
    tracks = corpus[1]
    assert_error(similar(client, 999999), 404, "not_found")
    error = assert_error(similar(client, track(tracks["q"].dataset, "new").pk), 404, "no_embeddings")
    assert "extract it first" in error["message"]
    EmbeddingSpace.objects.update(is_active=False)
    assert_error(similar(client, tracks["q"].pk), 404, "no_space")


def test_aspects_show_the_active_spaces_map_with_its_evidence(client, corpus):
    body = client.get("/api/v1/aspects/").json()
    assert body["space"]["num_layers"] == 3 and body["default_aspect"] == "timbre"
    aspects = {a["name"]: a for a in body["aspects"]}
    assert aspects["brightness"] == {
        "name": "brightness",
        "description": "Spectral brightness (spectral centroid).",
        "layers": [{"layer": 0, "weight": 1.0}],
        "r2": None,
        "confidence": "pinned",
        "source": "pinned by a curator",
        "available": True,
        "problem": "",
        "run": None,
        "evidence": [],
        "retrieval": None,
        "agreement": None,
        "agreement_basis": "",
        "kept_previous": False,
        "basis": "Pinned by a curator: layer 0; no probe evidence there.",
    }
    harmony = aspects["harmony"]
    assert (harmony["available"], harmony["r2"], harmony["confidence"]) == (True, None, "none")
    assert [entry["layer"] for entry in harmony["layers"]] == [0, 1, 2] and harmony["problem"] == ""


def test_aspects_without_an_active_space_are_404(client):
    assert_error(client.get("/api/v1/aspects/"), 404, "no_space")


def test_index_status_lists_the_indices_queries_used(client, corpus):
    space, tracks = corpus
    assert similar(client, tracks["q"].pk, layer=0).status_code == 200
    body = client.get("/api/v1/index/status/").json()
    [entry] = [e for e in body["indices"] if e["space"] == space.pk]
    assert entry["layer"] == 0 and entry["backend"]
    assert set(entry) == {
        "space", "layer", "backend", "size", "version", "built_at", "memory_bytes", "building", "loaded"
    }


def test_schema_documents_the_endpoints_and_stays_valid(tmp_path, client):
    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml"))
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/tracks/{id}/similar/"]["get"]
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert documented == {
        "aspect", "layer", "aspects", "k", "diversity", "dataset", "composer", "exclude_same_work", "offset"
    }
    assert {"400", "404"} <= set(operation["responses"])
    assert "/api/v1/aspects/" in schema["paths"] and "/api/v1/index/status/" in schema["paths"]
