"""The curators' admin: finding tracks, uploading many files at once, deleting."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from catalog import intake
from catalog.audio import AudioRejected
from catalog.models import Dataset, Track
from tests.factories import audio_bytes, make_dataset, make_track, make_user, tone

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/admin/catalog/track/upload/"


@pytest.fixture
def curator(client):
    user = make_user("curator", staff=True, curator=True)
    client.force_login(user)
    return user


def wav(name, freq=440.0, seconds=2.0):
    return SimpleUploadedFile(name, audio_bytes(tone(seconds=seconds, freq=freq)), content_type="audio/wav")


def result_row(response, file_name):
    """The text of the results-table row for one uploaded file."""
    rows = response.text.split("<tr")
    [row] = [row for row in rows if f"<td>{file_name}</td>" in row]
    return row


# --- Finding tracks -------------------------------------------------------------------


def test_track_changelist_filters_and_search(client, curator):
    piano = make_dataset("Piano")
    make_dataset("Organ")
    make_track(piano, title="Fugue", composer="Bach", work="BWV 847")
    make_track(piano, title="Nocturne", composer="Chopin", sha256="1" * 64)
    make_track(
        piano, title="Untitled", sha256="2" * 64, status=Track.Status.FAILED, error="Decoding stopped at 0:41.",
    )

    everything = client.get("/admin/catalog/track/")
    assert everything.status_code == 200
    for text in ["Fugue", "Nocturne", "BWV 847", "0:02", "Pending", "Failed: Decoding stopped at 0:41."]:
        assert text in everything.text
    # Filters on the side: datasets, statuses, composers (blank ones as "Unknown"), formats.
    for link in [f"?dataset__id__exact={piano.pk}", "?status__exact=failed", "?composer=Bach", "?composer=__unknown__",
                 "?format=WAV"]:
        assert link in everything.text
    assert 'href="/admin/catalog/track/upload/"' in everything.text

    def titles(params):
        return sorted(track.title for track in client.get("/admin/catalog/track/", params).context["cl"].result_list)

    assert titles({"q": "bwv"}) == ["Fugue"]
    assert titles({"composer": "Chopin"}) == ["Nocturne"]
    assert titles({"composer": "__unknown__"}) == ["Untitled"]
    assert titles({"status__exact": "failed"}) == ["Untitled"]
    assert titles({"dataset__id__exact": piano.pk, "format": "WAV"}) == ["Fugue", "Nocturne", "Untitled"]


def test_track_change_page_plays_the_track_and_keeps_derived_fields_read_only(client, curator):
    track = make_track(title="Fugue")
    response = client.get(f"/admin/catalog/track/{track.pk}/change/")
    assert response.status_code == 200
    assert f'<audio controls preload="metadata" src="/tracks/{track.pk}/audio"></audio>' in response.text
    form_fields = response.context["adminform"].form.fields
    assert {"title", "composer", "work", "performer", "dataset"} <= set(form_fields)
    assert not {"sha256", "duration", "sample_rate", "channels", "format", "size_bytes", "audio_path"} & set(form_fields)


def test_moving_a_track_onto_a_dataset_holding_the_same_audio_is_refused(client, curator):
    original = make_track(make_dataset("A"), title="Original")
    twin = make_track(make_dataset("B"), title="Twin")
    response = client.post(
        f"/admin/catalog/track/{twin.pk}/change/",
        {"dataset": original.dataset.pk, "title": "Twin", "metadata": "{}"},
    )
    assert response.status_code == 200
    assert "A already holds a track with the same audio: Original." in response.text
    twin.refresh_from_db()
    assert twin.dataset.name == "B"


def test_dataset_changelist_counts_tracks(client, curator):
    piano = make_dataset("Piano")
    make_track(piano)
    make_track(piano, sha256="1" * 64)
    make_dataset("Empty")
    response = client.get("/admin/catalog/dataset/")
    counts = {dataset.name: dataset.track_count for dataset in response.context["cl"].result_list}
    assert counts == {"Empty": 0, "Piano": 2}


# --- Uploading ------------------------------------------------------------------------


def test_adding_a_track_means_uploading_audio(client, curator):
    response = client.get("/admin/catalog/track/add/")
    assert response.status_code == 302
    assert response.url == UPLOAD_URL
    page = client.get(UPLOAD_URL)
    assert page.status_code == 200
    assert '<input type="file" name="files" accept="audio/*"' in page.text
    assert "multiple" in page.text


def test_upload_imports_good_files_and_reports_each_bad_one(client, curator):
    dataset = make_dataset("Piano")
    good = audio_bytes()
    bad = {"broken.wav": good[: len(good) // 2], "notes.txt": b"these are not sounds"}
    files = [
        wav("first.wav", freq=440),
        *(SimpleUploadedFile(name, data) for name, data in bad.items()),
        wav("second.wav", freq=660),
    ]
    response = client.post(
        UPLOAD_URL, {"dataset": dataset.pk, "composer": "Bach", "performer": "Glenn Gould", "files": files}
    )

    assert response.status_code == 200
    tracks = {track.title: track for track in Track.objects.all()}
    assert sorted(tracks) == ["first", "second"]
    assert {(t.dataset, t.composer, t.performer, t.status) for t in tracks.values()} == {
        (dataset, "Bach", "Glenn Gould", Track.Status.PENDING)
    }
    assert "2 imported, 0 already in the dataset, 2 rejected." in response.text
    first = result_row(response, "first.wav")
    assert "Imported" in first and f'href="/admin/catalog/track/{tracks["first"].pk}/change/"' in first
    for name, data in bad.items():
        # The page shows intake's own reason for each file, word for word.
        with pytest.raises(AudioRejected) as rejected:
            intake.ingest_upload(dataset, SimpleUploadedFile(name, data))
        row = result_row(response, name)
        assert "Rejected" in row and f"<td>{escape(rejected.value.message)}</td>" in row
    # Rejected files leave nothing behind: only the two accepted files are stored.
    assert len(default_storage.listdir("audio")[0]) == 2


def test_upload_reports_duplicates_with_a_link_to_the_existing_track(client, curator):
    dataset = make_dataset("Piano")
    existing = make_track(dataset, data=audio_bytes(tone(freq=440)), title="Already here")
    response = client.post(UPLOAD_URL, {"dataset": dataset.pk, "files": [wav("again.wav", 440), wav("new.wav", 550)]})

    assert sorted(Track.objects.values_list("title", flat=True)) == ["Already here", "new"]
    row = result_row(response, "again.wav")
    assert "Duplicate" in row
    assert "the same audio as" in row
    assert f'href="/admin/catalog/track/{existing.pk}/change/"' in row
    assert "1 imported, 1 already in the dataset, 0 rejected." in response.text


def test_upload_into_a_new_dataset_creates_it_once(client, curator):
    client.post(UPLOAD_URL, {"new_dataset": "Field recordings", "files": [wav("rain.wav")]})
    client.post(UPLOAD_URL, {"new_dataset": "field recordings", "files": [wav("wind.wav", 300)]})

    dataset = Dataset.objects.get()
    assert (dataset.name, dataset.slug, dataset.source_kind) == ("Field recordings", "field-recordings", "upload")
    assert sorted(dataset.tracks.values_list("title", flat=True)) == ["rain", "wind"]


@pytest.mark.parametrize(
    "data, error",
    [
        ({}, "Choose an existing dataset or name a new one"),
        ({"dataset": "PIANO", "new_dataset": "Other"}, "Choose an existing dataset or name a new one"),
        ({"dataset": "PIANO", "files": []}, "This field is required."),
    ],
)
def test_upload_form_errors_import_nothing(client, curator, data, error):
    piano = make_dataset("Piano")
    data = {"files": [wav("a.wav")], **data}
    if data.get("dataset") == "PIANO":
        data["dataset"] = piano.pk
    response = client.post(UPLOAD_URL, data)
    assert response.status_code == 200
    assert error in response.text
    assert not Track.objects.exists()
    assert Dataset.objects.count() == 1


# --- Who may do what ------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(UPLOAD_URL)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/?next=/admin/catalog/track/upload/")


def test_staff_without_upload_permission_is_refused(client):
    client.force_login(make_user("intern", staff=True))
    assert client.get(UPLOAD_URL).status_code == 403
    dataset = make_dataset()
    assert client.post(UPLOAD_URL, {"dataset": dataset.pk, "files": [wav("a.wav")]}).status_code == 403
    assert not Track.objects.exists()


@pytest.mark.parametrize("kind", ["curator", "superuser"])
def test_curators_and_superusers_may_upload(client, kind):
    user = make_user(kind, staff=True, curator=kind == "curator", superuser=kind == "superuser")
    client.force_login(user)
    assert client.get(UPLOAD_URL).status_code == 200
    response = client.post(UPLOAD_URL, {"new_dataset": "Mine", "files": [wav("a.wav")]})
    assert "1 imported" in response.text


# --- Deleting -------------------------------------------------------------------------


def test_deleting_a_track_in_the_admin_removes_its_file(client, curator, django_capture_on_commit_callbacks):
    track = make_track()
    assert default_storage.exists(track.audio_path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/catalog/track/{track.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Track.objects.exists()
    assert not default_storage.exists(track.audio_path)


def test_bulk_delete_keeps_files_other_datasets_still_use(client, curator, django_capture_on_commit_callbacks):
    kept = make_track(make_dataset("A"), title="Kept")
    doomed = make_track(make_dataset("B"), title="Doomed", audio_path=kept.audio_path)
    other = make_track(make_dataset("C"), data=audio_bytes(tone(freq=880)), title="Other")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/catalog/track/",
            {"action": "delete_selected", "_selected_action": [doomed.pk, other.pk], "post": "yes"},
        )
    assert list(Track.objects.values_list("title", flat=True)) == ["Kept"]
    assert default_storage.exists(kept.audio_path)
    assert not default_storage.exists(other.audio_path)


def test_deleting_a_dataset_removes_its_tracks_files(client, curator, django_capture_on_commit_callbacks):
    track = make_track(make_dataset("Gone"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/catalog/dataset/{track.dataset.pk}/delete/", {"post": "yes"})
    assert not Dataset.objects.exists()
    assert not default_storage.exists(track.audio_path)


def test_deleting_needs_the_delete_permission(client):
    user = make_user("uploader", staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_track", "add_track", "change_track"]))
    client.force_login(user)
    track = make_track()
    assert client.post(f"/admin/catalog/track/{track.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Track.objects.filter(pk=track.pk).exists()
