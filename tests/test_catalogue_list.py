"""The catalogue list's columns: sorting by ?sort= (a whitelist), header links that flip
the direction and keep the other parameters, a Play button per row, a tag column."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.tags import replace_track_tags
from catalog.models import Track
from catalog.selectors import SORTS, parse_sort
from catalog.views import SORT_LABELS
from tests.factories import make_dataset
from tests.test_recommender import make_space, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf():
    """Three tracks that every sortable column orders differently."""
    early, late = make_dataset("Archive"), make_dataset("Zeitgeist")
    rows = [  # title, dataset, composer, work, duration, year
        ("Bourrée", late, "Händel", "HWV 1", 30.0, 1990),
        ("Allemande", early, "Purcell", "Z 2", 300.0, None),
        ("Courante", early, "Bach", "BWV 3", 90.0, 1965),
    ]
    tracks = [
        track(dataset, title, composer=composer, work=work, duration=duration, year=year)
        for title, dataset, composer, work, duration, year in rows
    ]
    now = timezone.now()
    for age, t in enumerate(tracks):  # Bourrée newest, Courante oldest
        Track.objects.filter(pk=t.pk).update(created_at=now - timedelta(days=age))
    return tracks


def titles_on(response):
    return [t.title for t in response.context["track_list"]]


@pytest.mark.parametrize("sort, expected", [
    ("title", ["Allemande", "Bourrée", "Courante"]),
    ("-title", ["Courante", "Bourrée", "Allemande"]),
    ("composer", ["Courante", "Bourrée", "Allemande"]),
    ("work", ["Courante", "Bourrée", "Allemande"]),
    ("dataset", ["Courante", "Allemande", "Bourrée"]),
    ("duration", ["Bourrée", "Courante", "Allemande"]),
    ("-duration", ["Allemande", "Courante", "Bourrée"]),
    ("year", ["Courante", "Bourrée", "Allemande"]),  # no year: last either way
    ("-year", ["Bourrée", "Courante", "Allemande"]),
    ("added", ["Courante", "Allemande", "Bourrée"]),
    ("-added", ["Bourrée", "Allemande", "Courante"]),
])
def test_every_column_sorts_both_ways(client, shelf, sort, expected):
    assert titles_on(client.get("/", {"sort": sort})) == expected


@pytest.mark.parametrize("sort", ["", "status", "-sha256", "dataset__name", "--title", "title;drop"])
def test_a_sort_outside_the_whitelist_is_ignored_for_the_default_order(client, shelf, sort):
    default = titles_on(client.get("/"))
    assert default == ["Courante", "Allemande", "Bourrée"]  # dataset, composer, title
    response = client.get("/", {"sort": sort})
    assert response.status_code == 200 and titles_on(response) == default
    assert "aria-sort" not in response.text


def test_the_whitelist_names_every_column_and_nothing_else():
    assert list(SORT_LABELS) == list(SORTS)
    assert parse_sort("-duration") == ("duration", True) and parse_sort("year") == ("year", False)
    assert parse_sort("metadata") is None and parse_sort(None) is None


def header_links(response):
    """{column label: its link's query string}."""
    return {label: query for query, label in re.findall(r'<a class="sort-link" href="\?([^"]*)">(\w+)', response.text)}


def test_header_links_flip_the_sorted_column_and_keep_the_filters(client, shelf):
    response = client.get("/", {"q": "e", "composer": "Bach", "sort": "duration", "page": "1"})
    links = header_links(response)
    assert links["Duration"] == "q=e&amp;composer=Bach&amp;sort=-duration&amp;page=1"
    assert links["Title"] == "q=e&amp;composer=Bach&amp;sort=title&amp;page=1"
    sorted_header = r'<th scope="col" aria-sort="ascending">\s*<a class="sort-link" href="[^"]*">Duration'
    assert re.search(sorted_header, response.text)
    flipped = client.get("/", {"sort": "-duration"})
    assert header_links(flipped)["Duration"] == "sort=duration"
    assert 'aria-sort="descending"' in flipped.text


def test_pages_keep_the_sort(client):
    dataset = make_dataset()
    for n in range(27):
        track(dataset, f"piece {n:02d}", duration=float(n + 1))
    first = client.get("/", {"sort": "-duration"})
    assert titles_on(first)[:2] == ["piece 26", "piece 25"]
    assert 'href="?sort=-duration&amp;page=2" rel="next"' in first.text
    assert titles_on(client.get("/", {"sort": "-duration", "page": 2})) == ["piece 01", "piece 00"]


def test_each_row_has_play_next_and_queue_buttons_for_the_sites_player(client, shelf):
    response = client.get("/")
    for t in shelf:
        assert f'data-audio-url="/tracks/{t.pk}/audio" data-track-title="{t.title}"' in response.text
    for action in ["play", "next", "queue"]:
        assert response.text.count(f'data-player-action="{action}"') == 3
    assert response.text.count("<audio ") == 1  # the site's player, none of the page's own


def test_the_tag_column_shows_each_tracks_best_tags_linking_to_the_filter(client, shelf):
    space = make_space()
    replace_track_tags(shelf[0], space, {"harpsichord": 0.9, "baroque": 0.5, "slow": 0.3, "loud": 0.25, "fast": 0.01})
    response = client.get("/", {"sort": "title"})
    assert "<th scope=\"col\">Tags</th>" in response.text
    row = re.search(rf'<tr data-track-id="{shelf[0].pk}".*?</tr>', response.text, re.DOTALL).group(0)
    chips = re.findall(r'<a class="tag-chip" href="\?([^"]*)">(\w+)</a>', row)
    assert chips == [  # the best three, each narrowing the list as it is now
        ("sort=title&amp;tag=harpsichord", "harpsichord"), ("sort=title&amp;tag=baroque", "baroque"),
        ("sort=title&amp;tag=slow", "slow"),
    ]
    assert titles_on(client.get("/?sort=title&tag=harpsichord")) == ["Bourrée"]


def test_the_instrument_column_appears_when_tracks_name_one(client, shelf):
    assert "<th scope=\"col\">Instrument</th>" not in client.get("/").text
    Track.objects.filter(pk=shelf[1].pk).update(metadata={"instrument": "Harpsichord"})
    response = client.get("/")
    assert "<th scope=\"col\">Instrument</th>" in response.text and "<td>Harpsichord</td>" in response.text
