"""A curator signs in, uploads two recordings on the upload page, and watches a real
worker take them to "ready"; the jobs page then lists both extractions as done."""

import pytest
from playwright.sync_api import expect

from tests.factories import make_dataset, make_user, tone, write_audio

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker]


@pytest.fixture
def worker_env(tiny_mert):
    return {"MESS_MERT_MODEL": str(tiny_mert), "MESS_MERT_PRECISION": "exact"}


def test_a_curator_uploads_two_files_and_watches_them_reach_ready(page, sign_in, celery_worker_process, tmp_path):
    make_user("curator", staff=True, curator=True)
    make_dataset("Field recordings")
    files = [write_audio(tmp_path / f"take {n}.wav", tone(seconds=6, freq=220 * n)) for n in (1, 2)]

    sign_in("curator", "/upload/")
    page.get_by_label("Dataset:", exact=True).select_option(label="Field recordings")
    page.get_by_label("Audio files").set_input_files(files)
    page.get_by_role("button", name="Upload").click()

    for path in files:
        row = page.locator(f'[data-file-name="{path.name}"]')
        expect(row).to_have_attribute("data-status", "ready", timeout=120_000)
        expect(row.locator('a[href^="/tracks/"]')).to_have_count(1)

    page.goto("/jobs/")
    expect(page.locator("#jobs-board")).to_contain_text("take 1")
    expect(page.locator("#jobs-board")).to_contain_text("take 2")
