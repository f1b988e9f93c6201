"""A listener on tracks extracted by the real pipeline (the tiny random-weight MERT):
similar tracks follow the chosen aspect and play, passages play from their start, and
the map and the layer heatmap render."""

import pytest
from playwright.sync_api import expect

from analysis.models import EmbeddingSpace
from tests.test_aspect_map import finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def results_of(page, list_id):
    results = page.locator(f"#{list_id}")
    expect(results).to_have_attribute("data-state", "ready")
    return results.locator(":scope > li")


def test_similar_tracks_follow_the_aspect_and_a_result_plays(page, tones):
    audio_statuses = []
    page.on("response", lambda r: audio_statuses.append(r.status) if r.url.endswith("/audio") else None)
    page.goto(f"/tracks/{tones[0].pk}/")
    expect(page.locator("#aspect-tabs")).to_have_attribute("data-state", "ready")
    first = results_of(page, "similar-results")
    expect(first).to_have_count(len(tones) - 1)  # every other track, never the query itself
    first.first.get_by_role("button", name="Why").click()
    expect(first.first.locator(".why")).to_be_visible()
    expect(first.first.locator(".why")).to_contain_text("timbre")  # the default aspect, named in the explanation

    page.get_by_role("tab", name="brightness").click()
    expect(page.get_by_role("tab", name="brightness")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#aspect-summary")).to_contain_text("Spectral brightness")  # said once, above the list
    brightness = results_of(page, "similar-results")
    brightness.first.get_by_role("button", name="Why").click()
    expect(brightness.first.locator(".why")).to_contain_text("brightness")
    expect(brightness.first.locator(".why")).to_contain_text("layer 0")

    brightness.first.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('#preview-audio').currentTime > 0.2")
    assert 206 in audio_statuses
    expect(page.locator("#preview-now")).to_contain_text("Playing")


def test_a_span_finds_passages_that_play_from_their_start(page, tones):
    page.goto(f"/tracks/{tones[1].pk}/")
    expect(page.locator("#aspect-tabs")).to_have_attribute("data-state", "ready")
    page.get_by_label("Start (seconds)").fill("2")
    page.get_by_label("End (seconds)").fill("7")
    page.get_by_role("button", name="Find similar passages").click()
    passages = results_of(page, "passage-results")
    expect(passages).to_have_count(len(tones) - 1)

    play = passages.first.get_by_role("button", name="Play from")
    start = play.inner_text().removeprefix("Play from ").split()[0]  # m:ss
    minutes, seconds = start.split(":")
    play.click()
    page.wait_for_function(
        "s => { const a = document.querySelector('#preview-audio'); return !a.paused && a.currentTime >= s; }",
        arg=int(minutes) * 60 + int(seconds),
    )


def test_the_map_and_the_heatmap_render(page, tones):
    space = EmbeddingSpace.objects.get(is_active=True)
    run = finished_run(space)

    page.goto("/map/")
    points = page.locator("#embedding-map a")
    expect(points).to_have_count(len(tones))
    expect(page.locator("#embedding-map")).to_have_attribute("data-points", str(len(tones)))
    points.first.click()
    page.wait_for_url("**/tracks/*/")

    page.goto("/layers/")
    heatmap = page.locator("#r2-heatmap")
    expect(heatmap).to_have_attribute("data-run", str(run.pk))
    expect(heatmap.locator("tbody tr")).to_have_count(space.num_layers)
    expect(heatmap).to_contain_text("0.90")
