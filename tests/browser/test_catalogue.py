"""A listener browses the catalogue, opens a track and plays it."""

import pytest
from playwright.sync_api import expect

from tests.factories import make_dataset, upload_tone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tracks():
    dataset = make_dataset("Browser tones")
    return [upload_tone(dataset, f"tone {n}.wav", seconds=8, seed=n) for n in range(3)]


def test_browse_open_a_track_play_and_seek(page, tracks):
    audio_responses = []
    page.on("response", lambda r: audio_responses.append(r.status) if r.url.endswith("/audio") else None)
    page.goto("/")
    page.get_by_label("Search").fill("tone 1")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="tone 1").click()
    page.wait_for_url(f"**/tracks/{tracks[1].pk}/")

    audio = page.locator("audio").first
    audio.evaluate("a => a.play()")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.2")
    assert 206 in audio_responses

    audio.evaluate("a => { a.currentTime = 6; }")
    page.wait_for_function("() => !document.querySelector('audio').seeking && document.querySelector('audio').currentTime >= 6")


def test_a_rows_play_button_plays_it_in_the_sites_player_and_another_switches(page, tracks):
    audio_responses = []
    page.on("response", lambda r: audio_responses.append((r.url, r.status)) if r.url.endswith("/audio") else None)
    page.goto("/?sort=title")
    page.get_by_role("button", name="Play tone 1").click()
    page.wait_for_function("() => document.querySelector('#gp-audio').currentTime > 0.2")
    assert any(url.endswith(f"/tracks/{tracks[1].pk}/audio") and status == 206 for url, status in audio_responses)
    expect(page.locator("#gp-now")).to_have_text("Playing 1 of 2: tone 1")  # this row and the one after it
    expect(page.locator(f'tr[data-track-id="{tracks[1].pk}"]')).to_have_class("playing")

    page.get_by_role("button", name="Play tone 2").click()
    expect(page.locator("#gp-now")).to_have_text("Playing 1 of 1: tone 2")
    assert page.locator("audio").count() == 1  # the same player, switched
    assert page.locator("#gp-audio").get_attribute("src").endswith(f"/tracks/{tracks[2].pk}/audio")
    expect(page.locator(f'tr[data-track-id="{tracks[1].pk}"]')).not_to_have_class("playing")


def test_sorting_by_duration_orders_the_rows_and_a_second_click_reverses(page):
    dataset = make_dataset("Lengths")
    for name, seconds in [("medium", 3), ("long", 5), ("short", 1)]:
        upload_tone(dataset, f"{name} tone.wav", seconds=seconds)
    page.goto("/?q=tone")  # a filter the sort must keep
    titles = page.locator("table.tracks tbody tr td:nth-child(2)")
    page.get_by_role("link", name="Duration").click()
    page.wait_for_url("**/?q=tone&sort=duration")
    expect(titles).to_have_text(["short tone", "medium tone", "long tone"])
    expect(page.get_by_role("columnheader", name="Duration")).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("link", name="Duration").click()
    page.wait_for_url("**/?q=tone&sort=-duration")
    expect(titles).to_have_text(["long tone", "medium tone", "short tone"])
