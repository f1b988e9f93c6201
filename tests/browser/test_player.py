"""The site's player: a queue that advances by itself (each track fetched in 206 ranges),
keeps playing across pages, answers the keyboard, resumes after a full page load, and is
filled by a radio, a path, or the pages' Next / Queue buttons; saved as a playlist."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_every_page import PHONE, audit, audit_as_it_is
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone, upload_tone
from tests.test_map_and_layers_pages import unit
from tests.test_recommender import make_space, store

pytestmark = pytest.mark.django_db(transaction=True)

GP = "document.querySelector('#gp-audio')"


@pytest.fixture
def tracks():
    dataset = make_dataset("Player tones")
    return [upload_tone(dataset, f"tone {n}.wav", seconds=6, seed=n) for n in range(3)]


@pytest.fixture
def circle():
    """Twelve playable tracks round a circle in a small embedding space, each by its own composer."""
    space = make_space()
    dataset = make_dataset("Circle")
    tracks = []
    for i in range(12):
        track = make_track(dataset, data=audio_bytes(tone(seconds=3, freq=300 + 40 * i)), title=f"piece {i:02d}",
                           composer=f"Composer {i}")
        store(track, space, [unit(30 * i)] * 3)
        tracks.append(track)
    return tracks


@pytest.fixture
def ranges(page):
    """(url, status, Range header) of every audio response the page gets."""
    seen = []
    page.on("response", lambda r: seen.append((r.url, r.status, r.request.headers.get("range")))
            if r.url.endswith("/audio") else None)
    return seen


def audio_path(track):
    return f"/tracks/{track.pk}/audio"


def wait_playing(page, track, beyond=0.2):
    """Until the site's player plays `track` past `beyond` seconds."""
    page.wait_for_function(
        f"([src, t]) => {{ const a = {GP}; return a.src.endsWith(src) && !a.paused && a.currentTime > t; }}",
        arg=[audio_path(track), beyond],
    )


def current_time(page):
    return page.evaluate(f"() => {GP}.currentTime")


def play_from_catalogue(page, track):
    page.goto("/?sort=title")
    page.get_by_role("button", name=f"Play {track.title}", exact=True).click()
    wait_playing(page, track)


def test_the_queue_advances_to_the_next_track_fetched_with_a_206(page, tracks, ranges):
    play_from_catalogue(page, tracks[0])
    expect(page.locator("#gp-count")).to_have_text("3")  # this row and the rows after it
    page.evaluate(f"() => {{ const a = {GP}; a.currentTime = a.duration - 0.4; }}")
    wait_playing(page, tracks[1])  # ended, then the next one started by itself
    expect(page.locator("#gp-now")).to_have_text("Playing 2 of 3: tone 1")
    second = [(status, header) for url, status, header in ranges if url.endswith(audio_path(tracks[1]))]
    assert (206, "bytes=0-") in second, second
    assert page.locator("#gp-audio").evaluate("a => a.currentTime") > 0.2


def test_playback_goes_on_across_pages_and_their_scripts_still_work(page, tracks):
    play_from_catalogue(page, tracks[0])
    page.evaluate(f"() => {{ {GP}.sameElement = true; window.notReloaded = true; }}")
    before = current_time(page)

    page.get_by_role("link", name="tone 2").click()  # a link: Turbo swaps the page
    page.wait_for_url(f"**/tracks/{tracks[2].pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("tone 2")
    expect(page.locator("#waveform")).to_be_visible()  # the page's script ran: wavesurfer drew it
    expect(page.locator("#waveform-status")).to_have_text("")
    page.wait_for_function(f"t => {GP}.currentTime > t + 0.5 && !{GP}.paused", arg=before)
    assert page.evaluate(f"() => {GP}.sameElement === true && window.notReloaded === true")

    page.get_by_role("link", name="Back to the catalogue").click()
    page.get_by_label("Search").fill("tone 1")
    page.get_by_role("button", name="Search").click()  # a GET form: a visit too
    page.wait_for_url("**/?q=tone+1*")
    expect(page.locator("table.tracks tbody tr")).to_have_count(1)
    assert page.evaluate(f"() => !{GP}.paused && {GP}.sameElement === true && window.notReloaded === true")


def test_a_full_page_load_says_playback_stopped_and_resumes_where_it_was(page, tracks):
    play_from_catalogue(page, tracks[0])
    page.wait_for_function(f"() => {GP}.currentTime > 2.2")
    page.reload()
    resume = page.locator("#gp-resume")
    expect(resume).to_be_visible()
    expect(resume).to_contain_text("Playback stopped at 0:02 of tone 0")
    expect(page.locator("#gp-count")).to_have_text("3")
    resume.get_by_role("button", name="Resume").click()
    wait_playing(page, tracks[0], beyond=2.2)  # from where it was, not from the start
    expect(resume).to_be_hidden()


def test_keys_play_next_previous_and_pause(page, tracks):
    play_from_catalogue(page, tracks[0])
    expect(page.locator("#gp-previous")).to_have_attribute("aria-keyshortcuts", "Shift+P")
    page.locator("h1").click()  # the focus on no control
    page.keyboard.press("Shift+N")
    wait_playing(page, tracks[1])
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {GP}.paused")
    expect(page.locator("#gp-now")).to_have_text("Paused 2 of 3: tone 1")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => !{GP}.paused")
    page.keyboard.press("Shift+P")  # within its first seconds: back a track
    wait_playing(page, tracks[0], beyond=0)

    page.get_by_label("Search").fill("x")  # typing: the keys are the field's
    page.keyboard.press("Shift+N")
    expect(page.get_by_label("Search")).to_have_value("xN")
    assert page.evaluate(f"() => {GP}.src").endswith(audio_path(tracks[0]))


def test_next_and_queue_buttons_and_the_queue_panel(page, tracks):
    play_from_catalogue(page, tracks[2])
    expect(page.locator("#gp-count")).to_have_text("1")
    page.get_by_role("button", name="Add to queue: tone 0").click()
    page.get_by_role("button", name="Up next: tone 1").click()
    page.get_by_role("button", name="Queue (3)").click()
    queue = page.locator("#gp-list > li")
    expect(queue.locator("a")).to_have_text(["tone 2", "tone 1", "tone 0"])
    expect(queue.first).to_have_attribute("aria-current", "true")

    queue.nth(2).get_by_role("button", name="Up tone 0").click()
    expect(queue.locator("a")).to_have_text(["tone 2", "tone 0", "tone 1"])
    queue.nth(1).get_by_role("button", name="Remove tone 0").click()
    expect(queue.locator("a")).to_have_text(["tone 2", "tone 1"])
    queue.nth(1).get_by_role("button", name="Play tone 1").click()
    wait_playing(page, tracks[1])
    page.get_by_role("button", name="Clear the queue").click()
    expect(page.locator("#global-player")).to_be_hidden()


def test_the_page_player_and_the_sites_player_never_sound_together(page, tracks):
    play_from_catalogue(page, tracks[0])
    page.get_by_role("link", name="tone 1").click()
    page.wait_for_url(f"**/tracks/{tracks[1].pk}/")
    page.locator("#player audio").evaluate("a => a.play()")
    page.wait_for_function("() => document.querySelector('#player audio').currentTime > 0.2")
    assert page.evaluate(f"() => {GP}.paused")
    page.get_by_role("button", name="Next", exact=True).click()
    wait_playing(page, tracks[2])
    assert page.evaluate("() => document.querySelector('#player audio').paused")


def test_start_radio_on_a_track_page_plays_on_and_asks_the_session_for_more(page, circle, ranges):
    asked_more = []
    page.on("request", lambda r: asked_more.append(r.url) if r.method == "POST" and r.url.endswith("/next/") else None)
    page.goto(f"/tracks/{circle[0].pk}/")
    page.get_by_label("Compare by").select_option("1")  # the page's own choice of what similar means
    page.get_by_role("button", name="Start radio").click()
    expect(page.locator("#radio-status")).to_contain_text("Radio")
    wait_playing(page, circle[0])  # the seed first, then the radio's tracks
    expect(page.locator("#gp-count")).to_have_text("6")
    page.get_by_role("button", name="Queue (6)").click()
    expect(page.locator("#gp-radio")).to_contain_text("more tracks join as the queue runs low")

    page.evaluate(f"() => {{ const a = {GP}; a.currentTime = a.duration - 0.4; }}")
    page.wait_for_function(f"s => !{GP}.src.endsWith(s) && !{GP}.paused && {GP}.currentTime > 0.2",
                           arg=audio_path(circle[0]))
    following = page.evaluate(f"() => {GP}.src")
    assert any(url == following and status == 206 for url, status, _ in ranges)  # auto-advanced, in ranges

    for _ in range(2):  # fewer than three left: the player asks for more
        page.get_by_role("button", name="Next", exact=True).click()
    expect(page.locator("#gp-count")).to_have_text(str(len(circle)))  # the seed and every other track
    assert len(asked_more) == 1
    expect(page.locator("#gp-radio")).to_contain_text("no more tracks to add")
    queued = page.locator("#gp-list a").all_inner_texts()
    assert sorted(queued) == sorted(t.title for t in circle)  # none twice


def test_a_path_to_another_track_lists_its_steps_and_plays_them(page, tones):
    page.goto(f"/tracks/{tones[0].pk}/")
    expect(page.locator("#aspect-tabs")).to_have_attribute("data-state", "ready")
    page.get_by_label("Path to…").fill("tone 3")
    page.get_by_role("button", name="Find the destination").click()
    page.get_by_role("button", name="Path to tone 3").click()
    steps = page.locator("#path-steps > li")
    expect(page.locator("#path-status")).to_contain_text("steps from tone 0 to tone 3")
    expect(steps.first).to_have_text("From tone 0")
    expect(steps.last).to_have_text("To tone 3")
    middle = steps.count() - 2
    assert middle >= 1
    expect(steps.nth(1)).to_contain_text("Similarity to tone 0")
    page.get_by_role("button", name="Play the path").click()
    wait_playing(page, tones[0])
    expect(page.locator("#gp-count")).to_have_text(str(middle + 2))


def test_the_queue_is_saved_as_a_playlist(page, tracks, sign_in):
    from catalog.models import Playlist

    make_user("listener")
    sign_in("listener", "/?sort=title")
    page.get_by_role("button", name="Play tone 0", exact=True).click()
    wait_playing(page, tracks[0])
    page.get_by_role("button", name="Queue (3)").click()
    page.get_by_label("Playlist name").fill("Evening tones")
    page.get_by_role("button", name="Save queue as playlist").click()
    saved = page.locator("#gp-save-status")
    expect(saved).to_contain_text("Saved as Evening tones")
    playlist = Playlist.objects.get(name="Evening tones")
    assert playlist.owner.username == "listener"
    assert [entry.track_id for entry in playlist.entries.order_by("position")] == [t.pk for t in tracks]
    saved.get_by_role("link", name="Evening tones").click()
    page.wait_for_url(f"**/playlists/{playlist.pk}/")


def test_every_pages_script_runs_again_on_a_second_visit_while_the_player_plays(page, tracks, sign_in):
    """Turbo runs a page's scripts at each visit in one window: a top-level const declared
    twice, or anything else a second run breaks, is a page error that fails the test."""
    make_user("listener", curator=True)
    sign_in("listener", "/?sort=title")
    page.get_by_role("button", name="Play tone 0", exact=True).click()
    wait_playing(page, tracks[0])
    page.evaluate("() => { window.notReloaded = true; }")
    nav = page.get_by_role("navigation", name="Main")
    for _visit in range(2):
        for name in ("Search by clip", "Map", "Layers", "Playlists", "Jobs", "Upload", "Catalogue"):
            nav.get_by_role("link", name=name, exact=True).click()
            expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")
    assert page.evaluate(f"() => window.notReloaded === true && !{GP}.paused")


def test_a_page_left_by_a_visit_stops_polling(page, tracks, sign_in):
    """Turbo swaps pages in one window: the clip search's polls (every second while its clip
    waits for a worker; none runs here) and the jobs page's (every two while a job is queued)
    end with their page."""
    make_user("listener")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/search/clip/" in r.url or "/status.json" in r.url else None)
    sign_in("listener", "/?sort=title")
    page.get_by_role("button", name="Play tone 0", exact=True).click()
    wait_playing(page, tracks[0])
    page.evaluate("() => { window.notReloaded = true; }")
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="Search by clip").click()
    expect(page.locator("#clip-aspect")).not_to_contain_text("Loading aspects")  # its script runs
    page.get_by_label("Audio file").set_input_files(
        files=[{"name": "hum.wav", "mimeType": "audio/wav", "buffer": audio_bytes(tone(seconds=3))}]
    )
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#clip-status")).to_contain_text("Queued")
    page.wait_for_event("request", lambda r: "/api/v1/search/clip/" in r.url and r.method == "GET")  # it polls
    nav.get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs-board")).to_have_attribute("data-state", "polling")
    page.wait_for_event("request", lambda r: "/jobs/status.json" in r.url)
    nav.get_by_role("link", name="Catalogue").click()
    expect(nav.get_by_role("link", name="Catalogue")).to_have_attribute("aria-current", "page")

    asked_before = len(polls)
    page.wait_for_timeout(3000)  # a leaked jobs poll at least once, a clip search's three times
    assert polls[asked_before:] == []
    assert page.evaluate("() => window.notReloaded === true")  # all visits, no full load


def test_the_queues_sign_in_link_returns_to_the_page_shown_now(page, tracks):
    play_from_catalogue(page, tracks[0])
    page.get_by_role("link", name="tone 2").click()  # Turbo: the player stays, drawn on the catalogue
    page.wait_for_url(f"**/tracks/{tracks[2].pk}/")
    page.get_by_role("button", name="Queue (3)").click()
    page.locator("#global-player").get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"**/accounts/login/?next=%2Ftracks%2F{tracks[2].pk}%2F")


def test_the_player_is_accessible_and_fits_a_phone(page, tracks):
    page.set_viewport_size(PHONE)
    play_from_catalogue(page, tracks[0])
    page.get_by_role("button", name="Queue (3)").click()
    problems, overflow = audit_as_it_is(page, "/ (queue open)")
    assert not problems and overflow <= 0, (problems, overflow)
    problems, overflow = audit(page, f"/tracks/{tracks[0].pk}/")  # reloaded: the player offers to resume
    expect(page.locator("#gp-resume")).to_be_visible()
    assert not problems and overflow <= 0, (problems, overflow)


def test_the_maps_points_open_their_track_while_the_player_plays_on(page, circle):
    play_from_catalogue(page, circle[0])
    page.evaluate("() => { window.notReloaded = true; }")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Map").click()
    page.wait_for_url("**/map/")
    points = page.locator("#embedding-map a")
    expect(points).to_have_count(len(circle))
    points.nth(5).click()  # an SVG link: a visit too
    page.wait_for_url(f"**/tracks/{circle[5].pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("piece 05")
    assert page.evaluate(f"() => !{GP}.paused && window.notReloaded === true")
