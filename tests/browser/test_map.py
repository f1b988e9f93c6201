"""A listener on the embedding map: colours it by another field or a tag, drags a box over
some points and plays the tracks it lists; Escape clears the selection."""

import pytest
from playwright.sync_api import expect

from analysis.tags import replace_track_tags
from tests.factories import audio_bytes, make_dataset, make_track, tone
from tests.test_map_and_layers_pages import unit
from tests.test_recommender import make_space, store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mapped():
    """Six playable tracks spread round a circle, half piano and half violin, tagged."""
    space = make_space()
    dataset = make_dataset("Map")
    tracks = []
    for i in range(6):
        instrument = "Piano" if i % 2 else "Violin"
        t = make_track(dataset, data=audio_bytes(tone(seconds=3, freq=300 + 40 * i)), title=f"piece {i}",
                       composer="Bach", metadata={"instrument": instrument})
        store(t, space, [unit(60 * i)] * 3)
        replace_track_tags(t, space, {"strings": 0.9, "keys": 0.1} if i < 4 else {"strings": 0.1, "keys": 0.9})
        tracks.append(t)
    return tracks


def legend(page):
    return page.locator(".map-legend .legend-label")


def test_the_map_colours_by_instrument_first_and_by_a_tag_on_request(page, mapped):
    page.goto("/map/")
    expect(page.get_by_label("Colour by")).to_have_value("instrument")
    expect(legend(page)).to_have_text(["Piano", "Violin"])
    expect(page.locator("#embedding-map .map-labels text")).not_to_have_count(0)

    page.get_by_label("Colour by").select_option(label="Top tag")
    page.get_by_role("button", name="Show map").click()
    page.wait_for_url("**/map/?*colour=tag*")
    expect(legend(page)).to_have_text(["strings", "keys"])
    expect(page.locator("#map-legend")).to_have_text("Colours: top tag")


def test_a_box_drag_lists_the_points_inside_to_play_and_escape_clears_it(page, mapped):
    audio_statuses = []
    page.on("response", lambda r: audio_statuses.append(r.status) if r.url.endswith("/audio") else None)
    page.goto("/map/?colour=composer")
    svg = page.locator("#embedding-map")
    frame = svg.bounding_box()
    centres = {}
    for point in svg.locator("a").all():
        box = point.locator("circle").bounding_box()
        centres[point.get_attribute("data-title")] = box["x"] + box["width"] / 2
    # A box over the map's left part, from its corner (no point there) to just past the
    # median point: the points left of that line, and only those, are selected.
    cut = sorted(centres.values())[2] + 1
    page.mouse.move(frame["x"] + 2, frame["y"] + 2)
    page.mouse.down()
    page.mouse.move(cut, frame["y"] + frame["height"] / 2, steps=5)
    page.mouse.move(cut, frame["y"] + frame["height"] - 2, steps=5)
    page.mouse.up()

    inside = sorted(title for title, x in centres.items() if x < cut)
    selected = page.locator("#map-selected li")
    expect(selected).to_have_count(3)
    assert sorted(text.split(" — ")[0] for text in selected.locator("a").all_inner_texts()) == inside
    expect(page.locator("#map-selection-heading")).to_have_text("Selected tracks: 3")
    expect(svg.locator("a.selected")).to_have_count(3)

    selected.first.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('#map-audio').currentTime > 0.2")
    assert 206 in audio_statuses
    expect(page.locator("#map-now")).to_contain_text("Playing")
    selected.first.get_by_role("link").click()
    page.wait_for_url("**/tracks/*/")
    page.go_back()

    frame = svg.bounding_box()
    page.mouse.move(frame["x"] + 2, frame["y"] + 2)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] - 2, frame["y"] + frame["height"] - 2, steps=5)
    page.mouse.up()
    expect(selected).to_have_count(6)
    page.keyboard.press("Escape")
    expect(page.locator("#map-selection")).to_be_hidden()
    expect(svg.locator("a.selected")).to_have_count(0)
