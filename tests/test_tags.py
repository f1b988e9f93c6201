"""Auto-tags (musicnn's taggram, stored per track and space): on the track page, as a
catalogue filter with facet counts, in the API, and as the map's colouring; always those
of the active space, and nowhere for a space whose encoder has none."""

import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analysis.embeddings import store_track_embeddings
from analysis.models import TrackTags
from analysis.services import activate_space
from tests.factories import make_dataset
from tests.test_api import assert_error
from tests.test_map_and_layers_pages import legend_of, map_svg, points_of, reads_vectors, unit
from tests.test_recommender import make_space, track

pytestmark = pytest.mark.django_db

TRACKS = "/api/v1/tracks/"
FACETS = "/api/v1/tracks/tags/"
VOCABULARY = [
    "piano", "strings", "violin", "guitar", "vocal", "fast", "slow", "classical", "harp", "flute", "choir", "drums",
]  # fmt: skip


def scores(**high):
    """A score for every tag of VOCABULARY: those given, the others low (0.01-0.12, all
    different, all below the threshold)."""
    return {tag: high.get(tag, round(0.01 * (i + 1), 2)) for i, tag in enumerate(VOCABULARY)}


def store(track, space, angle, tags):
    mean = np.stack([unit(angle), unit(-angle), unit(2 * angle)])
    store_track_embeddings(track, space, track_mean=mean, window_means=mean[None], window_starts=[0.0], tags=tags)


@pytest.fixture
def tagged():
    """Six tracks tagged in the active space (Hum with no tag above the threshold), one not
    extracted, and another (inactive) space where Song is piano music."""
    space, other = make_space(), make_space("other", active=False)
    smd, maestro = make_dataset("SMD", slug="smd"), make_dataset("MAESTRO", slug="maestro")
    tracks = {
        "Prelude": (smd, scores(piano=0.8, classical=0.5, slow=0.3)),
        "Fugue": (smd, scores(piano=0.6, classical=0.4, fast=0.25)),
        "Hum": (smd, scores()),
        "Quartet": (maestro, scores(strings=0.7, violin=0.5, classical=0.35)),
        "Trio": (maestro, scores(piano=0.45, strings=0.3, violin=0.22)),
        "Song": (maestro, scores(vocal=0.9, guitar=0.4)),
    }
    made = {}
    for i, (title, (dataset, tag_scores)) in enumerate(tracks.items()):
        made[title] = track(dataset, title, composer="Bach" if dataset is smd else "Brahms")
        store(made[title], space, 25 * i, tag_scores)
    made["Pending"] = track(maestro, "Pending")
    store(made["Song"], other, 0, scores(piano=0.9))
    return space, other, made


@pytest.fixture
def untagged():
    """An active space whose encoder has no tags (MERT, classic): embeddings, no TrackTags."""
    space = make_space("classic")
    dataset = make_dataset("SMD", slug="smd")
    tracks = [track(dataset, f"Piece {i}") for i in range(3)]
    for i, each in enumerate(tracks):
        store(each, space, 30 * i, None)
    return space, tracks


def titles(response):
    assert response.status_code == 200, response.content
    return sorted(item["title"] for item in response.json()["results"])


# --- storage ----------------------------------------------------------------------------


def test_the_tracks_tags_are_those_at_or_over_the_threshold_best_first(tagged):
    space, _other, tracks = tagged
    row = TrackTags.objects.get(track=tracks["Prelude"], space=space)
    assert row.tags == ["piano", "classical", "slow"]
    assert set(row.scores) == set(VOCABULARY)
    assert TrackTags.objects.get(track=tracks["Hum"], space=space).tags == []


# --- the API ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("tag=piano", ["Fugue", "Prelude", "Trio"]),  # not Song: piano only in the inactive space
        ("tag=piano&tag=strings", ["Trio"]),  # every tag must match
        ("tag=piano,classical", ["Fugue", "Prelude"]),  # the comma form
        ("tag=piano,%20classical&tag=piano", ["Fugue", "Prelude"]),
        ("tag=strings&dataset=maestro", ["Quartet", "Trio"]),
        ("tag=classical&search=fugue", ["Fugue"]),
        ("tag=harp", []),  # a tag of the model that no track carries
    ],
)
def test_tracks_filter_by_tags(tagged, query, expected):
    assert titles(APIClient().get(f"{TRACKS}?{query}")) == expected


@pytest.mark.parametrize("query", ["tag=banjo", "tag=piano,banjo", "tag=piano&tag=banjo"])
def test_an_unknown_tag_is_a_400_naming_it(tagged, query):
    error = assert_error(APIClient().get(f"{TRACKS}?{query}"), 400, "invalid")
    assert list(error["fields"]) == ["tag"]
    assert "banjo is not a tag of the active embedding space" in error["message"]


def test_the_track_body_carries_its_tags_with_their_scores(tagged):
    _space, _other, tracks = tagged
    client = APIClient()
    body = client.get(f"{TRACKS}{tracks['Prelude'].pk}/").json()
    assert body["tags"] == [
        {"tag": "piano", "score": 0.8}, {"tag": "classical", "score": 0.5}, {"tag": "slow", "score": 0.3},
    ]  # fmt: skip
    listed = {item["title"]: item["tags"] for item in client.get(TRACKS).json()["results"]}
    assert [t["tag"] for t in listed["Song"]] == ["vocal", "guitar"]  # the active space's, not the other's
    assert listed["Hum"] == [] and listed["Pending"] == []


def test_listing_tags_costs_the_same_queries_for_any_number_of_tracks(tagged):
    client = APIClient()

    def queries(page_size):
        with CaptureQueriesContext(connection) as captured:
            assert len(client.get(f"{TRACKS}?page_size={page_size}").json()["results"]) == page_size
        return len(captured)

    assert queries(2) == queries(7)


def facets(response):
    assert response.status_code == 200, response.content
    return [(item["tag"], item["count"]) for item in response.json()]


def test_facets_count_the_tracks_carrying_each_tag_most_common_first(tagged):
    client = APIClient()
    assert facets(client.get(FACETS)) == [
        ("classical", 3), ("piano", 3), ("strings", 2), ("violin", 2),
        ("fast", 1), ("guitar", 1), ("slow", 1), ("vocal", 1),
    ]  # fmt: skip
    # Over the same filters as the list.
    assert facets(client.get(f"{FACETS}?dataset=smd")) == [("classical", 2), ("piano", 2), ("fast", 1), ("slow", 1)]
    by_strings = [("strings", 2), ("violin", 2), ("classical", 1), ("piano", 1)]
    assert facets(client.get(f"{FACETS}?tag=strings")) == by_strings
    assert facets(client.get(f"{FACETS}?search=song")) == [("guitar", 1), ("vocal", 1)]
    assert_error(client.get(f"{FACETS}?tag=banjo"), 400, "invalid")


def test_another_space_made_active_brings_its_own_tags(tagged):
    _space, other, _tracks = tagged
    activate_space(other)
    client = APIClient()
    assert titles(client.get(f"{TRACKS}?tag=piano")) == ["Song"]
    assert facets(client.get(FACETS)) == [("piano", 1)]


def test_the_schema_documents_the_tag_filter_and_the_facets():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameter = next(p for p in schema["paths"]["/api/v1/tracks/"]["get"]["parameters"] if p["name"] == "tag")
    assert parameter["schema"] == {"type": "array", "items": {"type": "string"}} and parameter["explode"] is True
    facet_doc = schema["paths"]["/api/v1/tracks/tags/"]["get"]
    assert {"dataset", "tag", "search"} <= {p["name"] for p in facet_doc["parameters"]}
    assert {"200", "400"} <= set(facet_doc["responses"])
    track_schema = schema["components"]["schemas"]["Track"]["properties"]["tags"]
    assert track_schema["type"] == "array"


# --- the pages ------------------------------------------------------------------------------


def tag_links(html):
    """[(href, tag, figure)] of the tag chips on a page."""
    return re.findall(r'<a class="tag-chip" href="([^"]*)">([^<]*) <span class="tag-(?:score|count)">([\d.]+)', html)


def test_the_track_page_shows_its_tags_linking_to_the_catalogue(client, tagged):
    _space, _other, tracks = tagged
    response = client.get(f"/tracks/{tracks['Prelude'].pk}/")
    assert response.status_code == 200
    assert tag_links(response.text) == [
        ("/?tag=piano", "piano", "0.80"), ("/?tag=classical", "classical", "0.50"), ("/?tag=slow", "slow", "0.30"),
    ]  # fmt: skip
    details = re.search(r'<details class="tag-scores">(.*?)</details>', response.text, re.DOTALL).group(1)
    best = re.findall(r"<li>(\w+) ([\d.]+)</li>", details)
    assert len(best) == 10
    assert best[:4] == [("piano", "0.80"), ("classical", "0.50"), ("slow", "0.30"), ("drums", "0.12")]
    assert "strings" not in details  # the 12th best


def test_a_track_without_a_tag_over_the_threshold_says_so(client, tagged):
    _space, _other, tracks = tagged
    hum = client.get(f"/tracks/{tracks['Hum'].pk}/").text
    assert "No tag scores high enough" in hum and tag_links(hum) == []
    assert '<details class="tag-scores">' in hum
    pending = client.get(f"/tracks/{tracks['Pending'].pk}/").text  # not extracted: no tags section
    assert "<dt>Tags</dt>" not in pending


def page_titles(response):
    assert response.status_code == 200
    return sorted(track.title for track in response.context["track_list"])


def test_the_catalogue_filters_by_every_chosen_tag(client, tagged):
    assert page_titles(client.get("/", {"tag": "piano"})) == ["Fugue", "Prelude", "Trio"]
    assert page_titles(client.get("/?tag=piano&tag=strings")) == ["Trio"]
    response = client.get("/?tag=piano&dataset=smd")
    assert page_titles(response) == ["Fugue", "Prelude"]
    assert '<option value="piano" selected>piano</option>' in response.text
    assert '<option value="violin">violin</option>' in response.text  # every tag of the model is offered


def test_the_catalogue_facets_add_a_tag_to_the_search(client, tagged):
    response = client.get("/", {"tag": "piano"})
    shown = [(tag, int(count)) for _href, tag, count in tag_links(response.text)]
    # The chosen tag is not offered again; the others count the tracks of the results.
    assert shown == [("classical", 2), ("fast", 1), ("slow", 1), ("strings", 1), ("violin", 1)]
    href = tag_links(response.text)[0][0]
    assert href == "?tag=piano&amp;tag=classical"
    assert page_titles(client.get("/" + href.replace("&amp;", "&"))) == ["Fugue", "Prelude"]
    everything = client.get("/", {"q": "song"})
    assert [(tag, int(count)) for _h, tag, count in tag_links(everything.text)] == [("guitar", 1), ("vocal", 1)]


def test_the_catalogue_reports_an_unknown_tag_and_ignores_it(client, tagged):
    response = client.get("/", {"tag": "banjo", "dataset": "smd"})
    assert page_titles(response) == ["Fugue", "Hum", "Prelude"]
    assert "banjo is not a tag of the active embedding space." in response.text


# --- the map ------------------------------------------------------------------------------


@reads_vectors
def test_the_map_colours_tracks_by_their_best_tag(client, tagged):
    _space, _other, tracks = tagged
    response = client.get("/map/", {"layer": 0, "colour": "tag"})
    points = points_of(map_svg(response))
    assert legend_of(response) == {"piano": 3, "strings": 1, "vocal": 1, "No tag": 1}
    fill = {title: points[f"/tracks/{tracks[title].pk}/"][1] for title in ("Prelude", "Trio", "Quartet", "Hum")}
    assert fill["Prelude"] == fill["Trio"]  # both piano first
    assert len({fill["Prelude"], fill["Quartet"], fill["Hum"]}) == 3
    assert '<option value="tag" selected>Top tag</option>' in response.text
    assert "Colours: top tag" in response.text


# --- a space without tags ---------------------------------------------------------------------


@reads_vectors
def test_a_space_without_tags_shows_no_tags_anywhere(client, untagged):
    _space, tracks = untagged
    api = APIClient()
    assert all(item["tags"] == [] for item in api.get(TRACKS).json()["results"])
    assert facets(api.get(FACETS)) == []
    assert_error(api.get(f"{TRACKS}?tag=piano"), 400, "invalid")

    catalogue = client.get("/", {"tag": "piano"})
    assert page_titles(catalogue) == ["Piece 0", "Piece 1", "Piece 2"]  # no tag filter to apply
    assert 'name="tag"' not in catalogue.text and "Narrow by tag" not in catalogue.text

    track_page = client.get(f"/tracks/{tracks[0].pk}/")
    assert track_page.status_code == 200 and "<dt>Tags</dt>" not in track_page.text

    map_page = client.get("/map/", {"layer": 0})
    assert len(points_of(map_svg(map_page))) == 3
    assert 'value="tag"' not in map_page.text
    refused = client.get("/map/", {"layer": 0, "colour": "tag"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.text
