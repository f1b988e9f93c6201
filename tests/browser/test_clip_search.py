"""A listener records a clip with the (fake) microphone and a real worker embeds it:
similar tracks and passages appear; a file that is not audio is refused in words."""

import pytest
from playwright.sync_api import expect

from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker]


@pytest.fixture
def worker_env(tiny_mert):
    return {"MESS_MERT_MODEL": str(tiny_mert), "MESS_MERT_PRECISION": "exact"}


def test_a_recorded_clip_finds_tracks_and_passages(page, sign_in, tones, celery_worker_process):
    make_user("listener")
    sign_in("listener", "/search/")
    expect(page.locator("#clip-aspect")).to_be_enabled()

    record = page.get_by_role("button", name="Start recording")
    record.click()
    page.wait_for_timeout(2500)
    page.get_by_role("button", name="Stop recording").click()
    expect(page.locator("#clip-recording")).to_be_visible()
    page.get_by_role("button", name="Search").click()

    expect(page.locator("#clip-similar")).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(page.locator("#clip-similar tbody tr")).to_have_count(len(tones))
    expect(page.locator("#clip-passages")).to_have_attribute("data-state", "ready")
    expect(page.locator("#clip-passages tbody tr")).to_have_count(len(tones))

    page.get_by_label("Audio file").set_input_files(
        files=[{"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"some text, not audio"}]
    )
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#clip-similar")).to_have_attribute("data-state", "error")
    expect(page.locator("#clip-status")).to_contain_text("not")
