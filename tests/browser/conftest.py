"""Browser tests: real headless Chromium (Debian's, installed by .ci/run) driven by
Playwright against a live server on the test database. Each test leaves a screenshot in
test-artifacts/screenshots/ (MESS_TEST_ARTIFACTS to move it), pass or fail."""

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.factories import make_dataset, run_queued_extraction, upload_tone

ARTIFACTS = Path(os.environ.get("MESS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM_FLAGS = [
    "--autoplay-policy=no-user-gesture-required",  # tests press play without a real gesture
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def chromium_executable():
    path = os.environ.get("MESS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Browser tests need Chromium: apt-get install chromium chromium-driver (see .ci/run).")
    return path


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        # Playwright's sync API keeps an asyncio loop in this thread; the ORM calls the
        # tests make between browser steps are still plain synchronous code. Per module,
        # so the other tests' subprocesses (manage.py check --deploy) never inherit it.
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def is_page_error(message):
    """A console error, except Chromium's note on an API refusal (a 400 for bad audio, a 409
    for a duplicate): the pages show those to the user, as they should."""
    api_refusal = message.text.startswith("Failed to load resource") and "/api/v1/" in message.location.get("url", "")
    return message.type == "error" and not api_refusal


@pytest.fixture
def page(chromium, live_server, request):
    """A fresh browser context per test; console errors fail the test, a screenshot stays."""
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if is_page_error(message) else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    page.screenshot(path=ARTIFACTS / "screenshots" / f"{name}.png", full_page=True)
    context.close()
    assert not errors, f"the page logged errors: {errors}"


@pytest.fixture
def tones(use_tiny_mert):
    """Four tone tracks extracted by the real pipeline with the tiny random-weight MERT."""
    dataset = make_dataset("Tones")
    tracks = [upload_tone(dataset, f"tone {n}.wav", seconds=8, seed=n) for n in range(4)]
    for track in tracks:
        run_queued_extraction(track)
    return tracks


@pytest.fixture
def sign_in(page):
    """sign_in(username, next_path): through the login form, as the factories' users
    (password "pw-<username>")."""

    def sign_in(username, next_path):
        page.goto(f"/accounts/login/?next={next_path}")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(f"pw-{username}")
        page.locator("main").get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**{next_path}")

    return sign_in
