"""What schemathesis found where the API and its schema disagreed (issue 14, item 7), one
test each, against the schema the server serves."""

import pytest
from rest_framework.test import APIClient

from analysis.models import ProbeRun
from tests.factories import assert_json_error, curator_client, make_track
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db

TRACKS = "/api/v1/tracks/"


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return APIClient().get("/api/v1/schema/?format=json").json()


def operation(schema, method, path):
    return schema["paths"][path][method]


def test_a_probe_run_over_every_dataset_has_a_null_dataset_and_the_schema_allows_it(schema):
    run = ProbeRun.objects.create(space=make_space())
    assert APIClient().get(f"/api/v1/probes/{run.pk}/").json()["dataset"] is None
    for component in ("ProbeRun", "ProbeRunDetail"):
        assert schema["components"]["schemas"][component]["properties"]["dataset"]["nullable"] is True


def test_errors_of_a_list_field_are_a_list_of_messages(schema):
    error = assert_json_error(curator_client().post("/api/v1/probes/", {"targets": ["tempo", ""]}, format="json"), 400, "invalid")
    assert error["fields"] == {"targets": ["1: This field may not be blank."]}
    assert schema["components"]["schemas"]["ErrorDetail"]["properties"]["fields"]["additionalProperties"] == {
        "type": "array", "items": {"type": "string"},
    }  # fmt: skip


@pytest.mark.parametrize("path", [f"{TRACKS}1.4e-45/", f"{TRACKS}null,null/extract/", "/api/v1/nothing-here/"])
def test_a_url_no_api_route_takes_is_a_404_in_the_error_shape(path):
    assert_json_error(APIClient().get(path), 404, "not_found")


def test_other_unknown_urls_keep_the_page():
    response = APIClient().get("/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_url_without_its_slash_is_still_redirected():
    assert APIClient().get("/api/v1/tracks").status_code == 301


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=1.5", "page=", "page=last", "page=1&page=2"])
def test_a_page_that_is_not_a_whole_number_from_1_is_a_400(query):
    make_track()
    assert list(assert_json_error(APIClient().get(f"{TRACKS}?{query}"), 400, "invalid")["fields"]) == ["page"]


@pytest.mark.parametrize("query", ["page_size=false", "page_size=0", "page_size=", "page_size=2&page_size=3"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(query):
    make_track()
    assert list(assert_json_error(APIClient().get(f"{TRACKS}?{query}"), 400, "invalid")["fields"]) == ["page_size"]


def test_a_page_size_over_the_limit_reads_as_the_limit():
    make_track()
    assert APIClient().get(f"{TRACKS}?page_size=100000").status_code == 200


def test_paging_parameters_and_their_errors_are_documented(schema):
    listing = operation(schema, "get", TRACKS)
    parameters = {parameter["name"]: parameter["schema"] for parameter in listing["parameters"]}
    assert parameters["page"]["minimum"] == parameters["page_size"]["minimum"] == 1
    assert {"400", "404"} <= set(listing["responses"])  # a bad page, a page past the last
    for path in ("/api/v1/datasets/", "/api/v1/spaces/", "/api/v1/extraction-jobs/", "/api/v1/probes/"):
        assert {"400", "404"} <= set(operation(schema, "get", path)["responses"]), path


@pytest.mark.parametrize("query", ["dataset=", "k=", "layer=", "k=3&k=4"])
def test_similar_tracks_refuse_empty_and_repeated_parameters(query):
    track = make_track()
    error = assert_json_error(APIClient().get(f"{TRACKS}{track.pk}/similar/?{query}"), 400, "invalid")
    assert list(error["fields"]) == [query.split("=")[0]]


@pytest.mark.parametrize(
    "method, path, anonymous",
    [
        ("get", TRACKS, True),
        ("get", "/api/v1/tracks/{id}/", True),
        ("get", "/api/v1/datasets/", True),
        ("get", "/api/v1/probes/", True),
        ("post", "/api/v1/auth/token/", True),
        ("post", TRACKS, False),
        ("post", "/api/v1/probes/", False),
        ("get", "/api/v1/extraction-jobs/", False),
        ("get", "/api/v1/search/clip/{id}/", False),
    ],
)
def test_the_schema_says_where_anonymous_clients_are_let_in(schema, method, path, anonymous):
    assert ({} in operation(schema, method, path)["security"]) is anonymous


def test_every_throttled_operation_documents_401_and_429(schema):
    for path, operations in schema["paths"].items():
        for method, spec in operations.items():
            expected = set() if path == "/api/v1/health/" else {"401", "429"}
            assert expected <= set(spec["responses"]), f"{method} {path}"
