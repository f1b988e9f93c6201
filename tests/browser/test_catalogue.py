"""A listener browses the catalogue, opens a track and plays it."""

import pytest

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
