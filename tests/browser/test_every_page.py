"""Every page, as a listener and as a curator: no accessibility violations that axe-core
(WCAG 2.1 A and AA rules) can find, and nothing wider than a 375 px phone screen."""

import json
from pathlib import Path

import pytest

from analysis.models import EmbeddingSpace, TrackTags
from catalog.playlists.services import create_playlist
from catalog.subsonic.keys import create_key
from tests.factories import make_dataset, make_user, run_queued_extraction, upload_tone
from tests.test_aspect_map import finished_run

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 375, "height": 812}


def audit(page, path):
    """(axe's violations as readable lines, the page's width beyond the phone's) at `path`."""
    page.goto(path)
    page.wait_for_load_state("networkidle")  # the pages' scripts have filled in their content
    return audit_as_it_is(page, path)


def audit_as_it_is(page, path):
    """audit() of the page as it is now, without loading it again."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})")
    violations = [
        f"{path}: {v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']][:3])}"
        for v in result["violations"]
    ]
    overflow = page.evaluate("() => document.documentElement.scrollWidth") - PHONE["width"]
    return violations, overflow


def test_every_page_is_accessible_and_fits_a_phone(page, sign_in, tones):
    finished_run(EmbeddingSpace.objects.get(is_active=True))
    curator = make_user("curator", staff=True, curator=True)
    # Public, so listeners see it too; its owner also gets the editing forms.
    playlist = create_playlist(curator, name="Tones", public=True, tracks=[track.pk for track in tones])
    page.set_viewport_size(PHONE)
    listener_pages = ["/", f"/tracks/{tones[0].pk}/", "/map/", "/layers/", "/search/", "/accounts/login/",
                      "/playlists/", f"/playlists/{playlist.pk}/"]  # fmt: skip
    create_key(curator, "Feishin on a laptop with a long name")
    curator_pages = ["/search/", "/jobs/", "/upload/", "/playlists/", f"/playlists/{playlist.pk}/", "/accounts/keys/"]

    problems = []
    for path in listener_pages:
        violations, overflow = audit(page, path)
        problems += violations + ([f"{path}: {overflow} px wider than the phone"] if overflow > 0 else [])
    sign_in("curator", "/jobs/")
    for path in curator_pages:
        violations, overflow = audit(page, path)
        problems += violations + ([f"{path}: {overflow} px wider than the phone"] if overflow > 0 else [])
    assert not problems, "\n".join(problems)


def test_the_tag_controls_are_accessible_and_fit_a_phone(page, settings):
    """musicnn's auto-tags: chips on the track page, the catalogue's tag filter and facets,
    the map coloured by top tag."""
    settings.MESS_ENCODER = "musicnn"
    dataset = make_dataset("Tones")
    tracks = [upload_tone(dataset, f"tone {n}.wav", seconds=6, seed=n) for n in range(4)]
    for track in tracks:
        run_queued_extraction(track)
    tag = TrackTags.objects.filter(track=tracks[0]).get().tags[0]
    page.set_viewport_size(PHONE)
    problems = []
    for path in ["/", f"/?tag={tag}", f"/tracks/{tracks[0].pk}/", "/map/?colour=tag"]:
        violations, overflow = audit(page, path)
        problems += violations + ([f"{path}: {overflow} px wider than the phone"] if overflow > 0 else [])
    assert not problems, "\n".join(problems)
    page.goto(f"/tracks/{tracks[0].pk}/")
    page.get_by_role("link", name=tag, exact=False).first.click()
    page.wait_for_url(f"**/?tag={tag}")
    assert page.get_by_role("link", name=tracks[0].title).count() == 1
