"""Playlists in the browser: make one from track ids, export it as M3U8 through its link,
import that file back through the form, and find the same tracks in the same order; edit
the order and sharing with the page's buttons."""

import pytest
from playwright.sync_api import expect

from catalog.models import Playlist
from catalog.playlists import services
from tests.factories import make_user
from tests.test_playlists import make_tracks

pytestmark = pytest.mark.django_db(transaction=True)


def entry_titles(page):
    return page.locator(".playlist-entry .entry-title > a").all_inner_texts()


def test_an_exported_m3u8_imported_back_gives_the_same_tracks_in_order(page, sign_in, tmp_path):
    tracks = make_tracks(4)
    make_user("listener")
    sign_in("listener", "/playlists/")
    order = [tracks[2], tracks[0], tracks[0], tracks[3]]  # a track twice in a row is two entries
    create = page.get_by_role("region", name="New playlist")
    create.get_by_label("Name").fill("Evening")
    create.get_by_label("Track ids").fill(", ".join(str(track.pk) for track in order))
    page.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Evening")
    assert entry_titles(page) == [track.title for track in order]

    # The player's contract: one list whose rows, and their play buttons, carry the tracks in order.
    rows = page.locator("[data-player-list] .playlist-entry")
    buttons = rows.locator("[data-player-action=play]")
    for marked in (rows, buttons):
        assert marked.evaluate_all("es => es.map(e => [Number(e.dataset.trackId), e.dataset.audioUrl])") == [
            [track.pk, f"/tracks/{track.pk}/audio"] for track in order
        ]

    with page.expect_download() as download:
        page.get_by_role("link", name="M3U8").click()
    exported = tmp_path / "evening.m3u8"
    download.value.save_as(exported)
    assert exported.read_text().startswith("#EXTM3U\n")

    page.get_by_role("link", name="Playlists").first.click()
    import_form = page.get_by_role("region", name="Import a playlist file")
    import_form.get_by_label("M3U or M3U8 file").set_input_files(exported)
    import_form.get_by_label("Name").fill("Evening again")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Evening again")
    expect(page.get_by_role("status").first).to_contain_text("Imported")
    assert entry_titles(page) == [track.title for track in order]
    assert Playlist.objects.count() == 2

    page.get_by_role("button", name="Play all").click()  # every entry, the repeat included
    expect(page.locator("#gp-count")).to_have_text(str(len(order)))
    expect(page.locator("#gp-now")).to_contain_text(f"1 of {len(order)}: {order[0].title}")


def test_the_owner_moves_removes_and_shares_with_the_pages_buttons(page, sign_in):
    tracks = make_tracks(3)
    owner = make_user("listener")
    playlist = services.create_playlist(owner, name="Morning", tracks=[track.pk for track in tracks])
    sign_in("listener", f"/playlists/{playlist.pk}/")
    page.get_by_role("button", name=f"Down (move {tracks[0].title} down)").click()
    expect(page.locator(".playlist-entry .entry-title > a").first).to_have_text(tracks[1].title)
    assert entry_titles(page) == [tracks[1].title, tracks[0].title, tracks[2].title]
    page.get_by_role("button", name=f"Remove {tracks[2].title}").click()
    expect(page.locator(".playlist-entry")).to_have_count(2)

    page.get_by_role("button", name="Turn link sharing on").click()
    token = Playlist.objects.get().share_token
    shared_url = f"{page.url.split('/playlists/')[0]}/api/v1/playlists/{playlist.pk}/export/?format=m3u8&token={token}"
    expect(page.get_by_label("M3U8 link")).to_have_value(shared_url)
    stranger = page.context.browser.new_context()  # not signed in
    response = stranger.request.get(shared_url)
    assert response.status == 200 and response.text().count("/audio") == 2
    page.get_by_role("button", name="Turn link sharing off").click()
    expect(page.get_by_role("button", name="Turn link sharing on")).to_be_visible()
    assert stranger.request.get(shared_url).status == 404
    stranger.close()
