"""One account, one answer: forcing re-extraction and starting a probe run are allowed or
refused alike on the pages (jobs page, admin actions) and through the API. Staff alone is
not enough anywhere; the Curators group, the model permissions or a superuser are."""

import pytest
from django.contrib.auth.models import Permission

from analysis.models import EmbeddingSpace, ExtractionJob, ProbeRun
from tests.factories import make_dataset, make_track, make_user, token_for

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
# The actions' permissions, plus seeing the probe runs: the admin lists what its actions act on.
PERMISSIONS = {"catalog": ["change_track"], "analysis": ["change_extractionjob", "add_proberun", "view_proberun"]}
WHO = {
    "listener": False,
    "staff without the Curators group": False,
    "curator": True,
    "staff with the model permissions": True,
    "superuser": True,
}


def account(who):
    user = make_user(
        "someone", staff=who != "listener", curator=who == "curator", superuser=who == "superuser"
    )
    if who == "staff with the model permissions":
        for app_label, codenames in PERMISSIONS.items():
            user.user_permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
    return user


@pytest.fixture
def space():
    return EmbeddingSpace.objects.create(
        name="tiny", model_id="tiny", weights_hash="0" * 64, num_layers=3, dim=32,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=True,
    )


def api_answer(client, user, url, body):
    response = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    assert response.status_code in (202, 403), response.content
    return response.status_code == 202


def page_answer(client, user, url, data=None):
    client.force_login(user, backend=BACKEND)
    response = client.post(url, data or {})
    client.logout()
    assert response.status_code in (302, 403), response.content
    return response.status_code == 302


@pytest.mark.parametrize("who", WHO)
def test_forcing_re_extraction_gets_the_same_answer_on_the_pages_and_the_api(client, who):
    user, allowed = account(who), WHO[who]
    dataset = make_dataset()
    track = make_track(dataset)
    failed = ExtractionJob.objects.create(track=track, status=ExtractionJob.Status.FAILED, force=True, error="x")

    jobs_page = page_answer(client, user, f"/jobs/extraction/{failed.pk}/retry/")
    ExtractionJob.objects.exclude(pk=failed.pk).delete()
    admin_action = page_answer(
        client, user, "/admin/catalog/track/", {"action": "reextract_tracks", "_selected_action": [track.pk]}
    ) and ExtractionJob.objects.filter(force=True, status=ExtractionJob.Status.QUEUED).exists()
    ExtractionJob.objects.exclude(pk=failed.pk).delete()
    api = api_answer(client, user, f"/api/v1/tracks/{track.pk}/extract/", {"force": True})

    assert (jobs_page, admin_action, api) == (allowed, allowed, allowed)


@pytest.mark.parametrize("who", WHO)
def test_starting_a_probe_run_gets_the_same_answer_on_the_pages_and_the_api(client, space, who):
    user, allowed = account(who), WHO[who]
    failed = ProbeRun.objects.create(space=space, status=ProbeRun.Status.FAILED, targets=["spectral_centroid"])

    jobs_page = page_answer(client, user, f"/jobs/probes/{failed.pk}/run-again/")
    started_on_page = ProbeRun.objects.exclude(pk=failed.pk).count()
    admin_action = page_answer(
        client, user, "/admin/analysis/proberun/", {"action": "run_again", "_selected_action": [failed.pk]}
    ) and ProbeRun.objects.exclude(pk=failed.pk).count() == started_on_page + 1
    api = api_answer(client, user, "/api/v1/probes/", {"targets": ["spectral_centroid"], "folds": 3})

    assert (jobs_page, admin_action, api) == (allowed, allowed, allowed)
    assert ProbeRun.objects.count() == (4 if allowed else 1)  # nothing started where refused
