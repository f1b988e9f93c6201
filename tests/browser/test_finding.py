"""The track page finds more: a next page of similar tracks under the first, a note when
diversity orders them, and passages without the track's own repeats unless asked for."""

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.factories import audio_bytes, make_dataset, make_track, tone
from tests.test_passages import E0, E1, E2, E3, near_e0, store_windows
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db(transaction=True)

OTHERS = 12  # more than the page's 10 similar tracks


@pytest.fixture
def query():
    """A 15 s query track that repeats its opening (e0) at 7.5 s, and OTHERS tracks whose
    windows all lie away from e0, so only that repeat resembles the opening."""
    space = make_space()
    dataset = make_dataset("Finding")
    rng = np.random.default_rng(0)

    def fifteen_seconds(n, title):
        return make_track(dataset, data=audio_bytes(tone(seconds=15, freq=200 + 40 * n)), title=title)

    query = fifteen_seconds(0, "query")
    store_windows(query, space, [E0, E1, E2, near_e0(0.95), E3])
    for n in range(1, OTHERS + 1):
        windows = rng.standard_normal((5, 4)).astype(np.float32)
        windows[:, 0] = 0  # orthogonal to e0
        store_windows(fifteen_seconds(n, f"other {n}"), space, windows / np.linalg.norm(windows, axis=1)[:, None])
    return query


def results_of(page, list_id):
    results = page.locator(f"#{list_id}")
    expect(results).to_have_attribute("data-state", "ready")
    return results.locator(":scope > li")


def set_diversity(page, value):
    # A range input cannot be typed into; set it as a drag would, with its events.
    page.locator("#diversity").evaluate(
        "(slider, value) => { slider.value = value; for (const type of ['input', 'change'])"
        " slider.dispatchEvent(new Event(type, { bubbles: true })); }",
        value,
    )


def test_more_shows_the_next_page_and_a_diversified_order_is_named(page, query):
    page.goto(f"/tracks/{query.pk}/")
    expect(page.locator("#aspect-tabs")).to_have_attribute("data-state", "ready")
    expect(results_of(page, "similar-results")).to_have_count(10)
    note = page.locator("#similar-order")
    expect(note).to_be_hidden()

    more = page.get_by_role("button", name="More similar tracks")
    more.click()
    expect(results_of(page, "similar-results")).to_have_count(OTHERS)
    expect(more).to_be_hidden()  # nothing left to show
    expect(page.locator("#similar-status")).to_contain_text(f"{OTHERS} tracks")

    set_diversity(page, "0.5")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Diversified")
    expect(results_of(page, "similar-results")).to_have_count(10)  # a new list starts at its first page
    set_diversity(page, "0")
    expect(note).to_be_hidden()


def test_passages_leave_out_the_tracks_own_repeats_unless_asked(page, query):
    page.goto(f"/tracks/{query.pk}/")
    expect(page.locator("#aspect-tabs")).to_have_attribute("data-state", "ready")
    page.get_by_label("Start (seconds)").fill("0")
    page.get_by_label("End (seconds)").fill("1")
    exclude = page.get_by_label("Leave out this track's own passages")
    expect(exclude).to_be_checked()

    find = page.get_by_role("button", name="Find similar passages")
    find.click()
    passages = results_of(page, "passage-results")
    expect(passages).to_have_count(10)  # the page asks for 10
    expect(page.locator("#passage-results")).not_to_contain_text("query")
    expect(page.locator("#passage-results")).not_to_contain_text("A repeat within this track.")

    exclude.uncheck()
    find.click()
    expect(passages.first).to_contain_text("query")
    expect(passages.first).to_contain_text("A repeat within this track.")
    expect(page.locator("#passage-status")).to_contain_text("1 of them is a repeat within this track")


def test_a_similar_track_takes_a_line_its_evidence_is_said_once_and_why_opens(page, query):
    """Issue 15 item 8: on a 1600x900 screen the list shows many results, a line each, and
    scores that all round alike still differ by their bars."""
    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(f"/tracks/{query.pk}/")
    results = results_of(page, "similar-results")
    expect(results).to_have_count(10)
    line = page.locator("#similar-results").evaluate("list => parseFloat(getComputedStyle(list).lineHeight)")
    boxes = [results.nth(i).bounding_box() for i in range(6)]
    assert all(box["height"] <= 2 * line + 12 for box in boxes), [box["height"] for box in boxes]
    assert boxes[5]["y"] + boxes[5]["height"] - boxes[0]["y"] <= 900 / 2  # six of them in half the screen

    # The aspect's evidence once, above the list; never repeated per result.
    expect(page.locator("#aspect-summary")).to_contain_text("No probe on tiny has measured timbre")
    expect(page.locator("#similar-results")).not_to_contain_text("No probe")

    first = results.first
    cosines = first.get_by_text("Layer 0: cosine")
    expect(cosines).to_be_hidden()
    why = first.get_by_role("button", name="Why")
    why.click()
    expect(why).to_have_attribute("aria-expanded", "true")
    expect(cosines).to_be_visible()
    expect(first.locator(".why")).to_contain_text("Similar timbre")
    why.click()
    expect(cosines).to_be_hidden()

    # Bars run from the list's lowest score to its highest; the exact score is written out.
    scores = [float(results.nth(i).locator(".score-value").inner_text().split()[-1]) for i in range(10)]
    widths = [results.nth(i).locator(".fill").evaluate("fill => fill.getBoundingClientRect().width") for i in range(10)]
    assert scores[0] > scores[-1] and widths[0] > widths[-1] > 0
    assert widths == sorted(widths, reverse=True)
    title = first.locator(".score").get_attribute("title")
    assert float(re.match(r"Score (-?[\d.]+);", title)[1]) == pytest.approx(scores[0], abs=5e-4)

    # Passages sit beside the player, above the similar tracks.
    player = page.locator("#player").bounding_box()
    passages = page.locator("#passage-form").bounding_box()
    assert passages["x"] >= player["x"] + player["width"]
    assert passages["y"] < page.locator("#similar-heading").bounding_box()["y"]
