"""The public catalogue pages: what a listener sees and can do without logging in."""

import pytest

from catalog.models import Track
from tests.factories import make_dataset, make_track, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    piano = make_dataset("Piano recordings", slug="piano")
    orchestra = make_dataset("Orchestra")
    fugue = make_track(piano, title="Fugue in C minor", composer="Johann Sebastian Bach", work="BWV 847")
    prelude = make_track(piano, title="Prelude in C major", composer="J. S. Bach", work="BWV 846", sha256="1" * 64)
    nocturne = make_track(
        orchestra, title="Nocturne", composer="Chopin", status=Track.Status.FAILED, sha256="2" * 64,
        error="Decoding stopped at 0:41.",
    )
    return {"piano": piano, "fugue": fugue, "prelude": prelude, "nocturne": nocturne}


def titles_on(response):
    return [track.title for track in response.context["track_list"]]


def test_catalogue_lists_every_track_linking_to_its_page(client, catalogue):
    response = client.get("/")
    assert response.status_code == 200
    assert sorted(titles_on(response)) == ["Fugue in C minor", "Nocturne", "Prelude in C major"]
    assert f'href="/tracks/{catalogue["fugue"].pk}/"' in response.text
    assert "3 tracks" in response.text


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "bach"}, ["Fugue in C minor", "Prelude in C major"]),
        ({"q": "bach fugue"}, ["Fugue in C minor"]),  # every word must match
        ({"q": "BWV 846"}, ["Prelude in C major"]),  # the work is searched too
        ({"q": "nothing like this"}, []),
        ({"dataset": "piano"}, ["Fugue in C minor", "Prelude in C major"]),
        ({"status": "failed"}, ["Nocturne"]),
        ({"composer": "J. S. Bach"}, ["Prelude in C major"]),
        ({"q": "c", "dataset": "piano", "status": "pending"}, ["Fugue in C minor", "Prelude in C major"]),
    ],
)
def test_catalogue_search_and_filters(client, catalogue, params, expected):
    response = client.get("/", params)
    assert sorted(titles_on(response)) == expected


def test_an_unknown_filter_value_is_reported_and_ignored(client, catalogue):
    response = client.get("/", {"dataset": "gone", "q": "nocturne"})
    assert response.status_code == 200
    assert titles_on(response) == ["Nocturne"]
    assert "Select a valid choice" in response.text


def test_no_match_says_so(client, catalogue):
    response = client.get("/", {"q": "zzz"})
    assert "No tracks match." in response.text
    assert "0 tracks" in response.text


def test_catalogue_paginates_by_25_keeping_the_search(client):
    dataset = make_dataset()
    for i in range(30):
        make_track(dataset, title=f"Etude {i:02d}", sha256=f"{i:064x}")
    make_track(dataset, title="Sonata", sha256="f" * 64)

    first = client.get("/", {"q": "etude"})
    assert titles_on(first) == [f"Etude {i:02d}" for i in range(25)]
    assert "Page 1 of 2" in first.text
    assert 'href="?q=etude&amp;page=2"' in first.text

    second = client.get("/", {"q": "etude", "page": 2})
    assert titles_on(second) == [f"Etude {i:02d}" for i in range(25, 30)]
    assert 'href="?q=etude&amp;page=1"' in second.text
    assert client.get("/", {"q": "etude", "page": 3}).status_code == 404


def test_track_page_shows_the_facts_and_a_seekable_player(client, catalogue):
    fugue = catalogue["fugue"]
    response = client.get(f"/tracks/{fugue.pk}/")
    assert response.status_code == 200
    for text in ["Fugue in C minor", "Johann Sebastian Bach", "BWV 847", "Piano recordings", "0:02", "WAV", "Pending"]:
        assert text in response.text
    player = (
        f'<audio controls preload="metadata" src="/tracks/{fugue.pk}/audio" aria-label="Play Fugue in C minor"></audio>'
    )
    assert player in response.text
    seek = client.get(f"/tracks/{fugue.pk}/audio", HTTP_RANGE="bytes=100-199")
    assert seek.status_code == 206


def test_track_page_of_a_failed_track_says_why(client, catalogue):
    response = client.get(f"/tracks/{catalogue['nocturne'].pk}/")
    assert "Failed" in response.text
    assert "Decoding stopped at 0:41." in response.text


def test_unknown_track_is_404(client, db):
    assert client.get("/tracks/999999/").status_code == 404


def test_pages_share_an_accessible_layout(client, catalogue):
    text = client.get("/").text
    assert '<html lang="en">' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert '<a class="skip-link" href="#main">Skip to content</a>' in text
    assert '<main id="main"' in text
    assert '<link rel="stylesheet" href="/static/catalog/mess.css" data-turbo-track="reload">' in text
    assert '<a href="/" aria-current="page">Catalogue</a>' in text
    assert '<a href="/api/v1/docs/">API docs</a>' in text
    assert '<a href="/admin/">Admin</a>' not in text  # for staff only
    assert '<a href="/accounts/login/?next=/">Sign in</a>' in text
    assert '<label for="id_q">Search:</label>' in text


def test_the_composer_filter_offers_each_catalogued_composer_once(client, catalogue):
    make_track(catalogue["piano"], title="Invention", composer="J. S. Bach", sha256="3" * 64)
    options = client.get("/").context["form"].fields["composer"].choices
    assert options == [("", "All composers"), ("Chopin", "Chopin"), ("J. S. Bach", "J. S. Bach"),
                       ("Johann Sebastian Bach", "Johann Sebastian Bach")]


def test_staff_see_the_admin_link_and_can_sign_out(client, catalogue):
    client.force_login(make_user("curator", staff=True, curator=True))
    text = client.get("/").text
    assert '<a href="/admin/">Admin</a>' in text
    assert "Sign out curator" in text
    assert '<a href="/upload/"' in text and '<a href="/jobs/"' in text
