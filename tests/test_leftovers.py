"""Deleting a track, a dataset, an embedding space or a clip removes every file derived from
it (audio, scores, waveform peaks, per-window features, clip audio and features), whatever
deletes the row, once the transaction commits; `manage.py clean_orphans` finds the rest."""

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import pre_delete
from rest_framework.test import APIClient

from analysis import extraction
from analysis import signals as analysis_signals
from analysis.embeddings import save_window_features, store_track_embeddings
from analysis.encoder_choice import EncoderUnavailable
from analysis.clips import create_clip_query
from analysis.models import ClipQuery, EmbeddingSpace, TrackFeatures
from analysis.probing import track_targets
from catalog import intake
from catalog.models import Dataset, Track
from catalog.peaks import PEAK_COUNT, cached_peaks_name, track_peaks_json
from recommendations import index, passages
from tests.factories import audio_bytes, make_dataset, make_track, make_user, noise, token_for, tone

pytestmark = pytest.mark.django_db
LAYERS, DIM = 3, 8
TRACKS, DATASETS = "/api/v1/tracks/", "/api/v1/datasets/"


def make_space(name="tiny", weights="0", active=False):
    return EmbeddingSpace.objects.create(
        name=name, model_id=f"{name}-model", weights_hash=weights * 64, num_layers=LAYERS, dim=DIM,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=active,
    )


def give_features(track, space, seed=0, windows=4):
    window_means = np.random.default_rng(seed).standard_normal((windows, LAYERS, DIM)).astype(np.float32)
    store_track_embeddings(
        track, space, track_mean=window_means.mean(axis=0), window_means=window_means,
        window_starts=np.arange(windows) * 2.5,
    )


def files(media, folder=""):
    """Relative names of every file under the media root (or one of its folders)."""
    root = Path(media) / folder
    return sorted(path.relative_to(media).as_posix() for path in root.rglob("*") if path.is_file())


def in_folder(media, folder):
    return len(files(media, folder))


@pytest.fixture
def spaces():
    return make_space("one", "1", active=True), make_space("two", "2")


@pytest.fixture
def curator(client):
    """A curator logged in to the admin (`client`); `api` is the same user by token."""
    user = make_user("curator", staff=True, curator=True)
    client.force_login(user)
    return user


@pytest.fixture
def api(curator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(curator)}")
    return client


def full_track(spaces, dataset=None, freq=440.0, title="A tone"):
    """A track with its audio, features in both spaces and cached peaks."""
    dataset = dataset or make_dataset(f"Dataset of {title}")
    track = make_track(dataset, data=audio_bytes(tone(freq=freq)), title=title)
    for seed, space in enumerate(spaces):
        give_features(track, space, seed=seed)
    track_peaks_json(track)
    return track


# --- Tracks -------------------------------------------------------------------------------


def test_deleting_every_track_through_the_api_leaves_no_file(api, spaces, _isolated_media,
                                                             django_capture_on_commit_callbacks):
    """The issue's case: features and peaks were left behind by every deleted track."""
    dataset = make_dataset()
    tracks = [full_track(spaces, dataset, freq=220.0 + 110 * i, title=f"t{i}") for i in range(3)]
    assert (in_folder(_isolated_media, "audio"), in_folder(_isolated_media, "features"),
            in_folder(_isolated_media, "peaks")) == (3, 6, 3)

    for track in tracks:
        with django_capture_on_commit_callbacks(execute=True):
            assert api.delete(f"{TRACKS}{track.pk}/").status_code == 204

    assert not TrackFeatures.objects.exists()
    assert files(_isolated_media) == []


def test_deleting_a_track_in_the_admin_removes_its_features_and_peaks(client, curator, spaces, _isolated_media,
                                                                     django_capture_on_commit_callbacks):
    track = full_track(spaces)
    kept = full_track(spaces, freq=880.0, title="Kept")
    before = set(files(_isolated_media))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/admin/catalog/track/{track.pk}/delete/", {"post": "yes"}).status_code == 302
    assert set(files(_isolated_media)) == {
        kept.audio_path, cached_peaks_name(kept),
        *TrackFeatures.objects.filter(track=kept).values_list("path", flat=True),
    }
    assert len(before) == 8


def test_bulk_delete_in_the_admin_removes_derived_files(client, curator, spaces, _isolated_media,
                                                        django_capture_on_commit_callbacks):
    tracks = [full_track(spaces, freq=330.0 * (i + 1), title=f"t{i}") for i in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/catalog/track/",
                    {"action": "delete_selected", "_selected_action": [t.pk for t in tracks], "post": "yes"})
    assert not Track.objects.exists()
    assert files(_isolated_media) == []


def test_a_queryset_delete_removes_derived_files(spaces, _isolated_media, django_capture_on_commit_callbacks):
    full_track(spaces)
    with django_capture_on_commit_callbacks(execute=True):
        Track.objects.all().delete()
    assert files(_isolated_media) == []


def test_tracks_sharing_bytes_keep_audio_and_peaks_until_the_last_goes(spaces, _isolated_media,
                                                                         django_capture_on_commit_callbacks):
    data = audio_bytes(noise())
    first = intake.ingest_upload(make_dataset("A"), SimpleUploadedFile("a.wav", data))
    second = intake.ingest_upload(make_dataset("B"), SimpleUploadedFile("a.wav", data))
    assert first.audio_path == second.audio_path and in_folder(_isolated_media, "audio") == 1
    for track in (first, second):
        give_features(track, spaces[0])
        track_peaks_json(track)
    second_features = TrackFeatures.objects.get(track=second).path

    with django_capture_on_commit_callbacks(execute=True):
        intake.delete_track(first)
    assert files(_isolated_media) == sorted([second.audio_path, cached_peaks_name(second), second_features])

    with django_capture_on_commit_callbacks(execute=True):
        intake.delete_track(second)
    assert files(_isolated_media) == []


def test_a_copied_score_goes_with_its_track(_isolated_media, django_capture_on_commit_callbacks):
    track = make_track()
    score = default_storage.save(f"scores/{track.sha256}.mid", ContentFile(b"MThd"))
    Track.objects.filter(pk=track.pk).update(metadata={"midi_path": score})
    with django_capture_on_commit_callbacks(execute=True):
        intake.delete_track(Track.objects.get(pk=track.pk))
    assert files(_isolated_media) == []


def test_a_rolled_back_delete_keeps_every_file(spaces, _isolated_media, django_capture_on_commit_callbacks):
    track = full_track(spaces)
    pk, before = track.pk, files(_isolated_media)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            intake.delete_track(track)
            raise RuntimeError("changed my mind")
    assert Track.objects.filter(pk=pk).exists()
    assert files(_isolated_media) == before


# --- Datasets -----------------------------------------------------------------------------


def test_deleting_a_dataset_through_the_api_removes_its_tracks_derived_files(
    api, spaces, _isolated_media, django_capture_on_commit_callbacks
):
    gone, kept = make_dataset("Gone"), make_dataset("Kept")
    for i in range(2):
        full_track(spaces, gone, freq=300.0 + 50 * i, title=f"g{i}")
    survivor = full_track(spaces, kept, freq=1000.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{DATASETS}{gone.slug}/").status_code == 204
    assert set(files(_isolated_media)) == {
        survivor.audio_path, cached_peaks_name(survivor),
        *TrackFeatures.objects.filter(track=survivor).values_list("path", flat=True),
    }


@pytest.mark.parametrize("how", ["admin", "queryset"])
def test_a_dataset_cascade_removes_its_tracks_files(client, curator, spaces, how, _isolated_media,
                                                    django_capture_on_commit_callbacks):
    dataset = make_dataset("Gone")
    full_track(spaces, dataset)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "admin":
            client.post(f"/admin/catalog/dataset/{dataset.pk}/delete/", {"post": "yes"})
        else:
            Dataset.objects.filter(pk=dataset.pk).delete()  # the database cascade, no intake helper
    assert not Track.objects.exists()
    assert files(_isolated_media) == []


# --- Embedding spaces and clips -----------------------------------------------------------


def stored_clip(status=ClipQuery.Status.SUCCEEDED, space=None, owner=None):
    """A clip with its audio and (when succeeded) its window means in storage."""
    audio = default_storage.save("clips/clip.wav", ContentFile(audio_bytes(tone(seconds=3.0))))
    clip = ClipQuery.objects.create(original_name="clip.wav", audio_path=audio, duration=3.0, status=status,
                                    space=space, owner=owner)
    if status == ClipQuery.Status.SUCCEEDED:
        features = save_window_features(f"clips/{clip.pk}", np.zeros((2, LAYERS, DIM), np.float32))
        ClipQuery.objects.filter(pk=clip.pk).update(features_path=features, audio_path="", window_starts=[0.0, 2.5])
        default_storage.delete(audio)
        clip.refresh_from_db()
    return clip


def test_deleting_a_space_removes_its_features_and_its_clips_window_means(spaces, _isolated_media,
                                                                         django_capture_on_commit_callbacks):
    gone, kept = spaces
    track = full_track(spaces)
    clip = stored_clip(space=gone)
    other_clip = stored_clip(space=kept)
    kept_features = TrackFeatures.objects.get(track=track, space=kept).path

    with django_capture_on_commit_callbacks(execute=True):
        gone.delete()

    assert set(files(_isolated_media)) == {
        track.audio_path, cached_peaks_name(track), kept_features, other_clip.features_path
    }
    clip.refresh_from_db()
    assert (clip.space, clip.features_path, clip.window_starts) == (None, "", [])


def saved_index_and_targets(space, *tracks):
    """What probing and searching leave on disk for a space: an index of each layer
    (recommendations/index.py), a passage index (recommendations/passages.py) and the
    tracks' probe-target tables (analysis/targets.py)."""
    for layer in range(LAYERS):
        index.load_or_build(space.pk, layer)
    passages.load_or_build(space.pk, ((0, 1.0),))
    for track in tracks:
        track_targets(TrackFeatures.objects.get(track=track, space=space), space)


def folder_files(folder):
    return sorted(path.name for path in Path(folder).iterdir())


def index_space(name):
    """The id of the space a file in the index folder belongs to, or None."""
    return (index.file_owner(name) or (None,))[0]


@pytest.mark.django_db(transaction=True)  # an index is read in a transaction of its own
def test_deleting_a_space_removes_its_indices_and_the_target_tables_no_other_space_uses(
        spaces, settings, django_capture_on_commit_callbacks):
    gone, kept = spaces
    shared = make_track(make_dataset("Both"), data=audio_bytes(tone(freq=330.0)), title="In both spaces")
    alone = make_track(make_dataset("One"), data=audio_bytes(tone(freq=550.0)), title="Only in the deleted one")
    for seed, (track, space) in enumerate([(shared, gone), (shared, kept), (alone, gone)]):
        give_features(track, space, seed=seed, windows=1)  # one window: the 2 s tone is shorter than one
    saved_index_and_targets(gone, shared, alone)
    saved_index_and_targets(kept, shared)
    kept_indices = [name for name in folder_files(settings.MESS_INDEX_DIR) if index_space(name) == kept.pk]
    # Per layer: the index, its ids, its rows, its training record and a lock, for each space,
    # and the passage index, its 4 arrays and a lock; a table per audio (the spaces' windows are
    # alike, so `shared` has one table for both).
    assert (len(folder_files(settings.MESS_INDEX_DIR)), len(kept_indices)) == (2 * (LAYERS * 5 + 6), LAYERS * 5 + 6)
    assert len(folder_files(settings.MESS_TARGET_CACHE_DIR)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        gone.delete()

    assert folder_files(settings.MESS_INDEX_DIR) == kept_indices
    assert [name.split("-")[0] for name in folder_files(settings.MESS_TARGET_CACHE_DIR)] == [shared.sha256]
    with django_capture_on_commit_callbacks(execute=True):
        kept.delete()
    assert folder_files(settings.MESS_INDEX_DIR) == folder_files(settings.MESS_TARGET_CACHE_DIR) == []


def test_deleting_clips_removes_their_files(_isolated_media, django_capture_on_commit_callbacks):
    space = make_space()
    owner = make_user("listener")
    stored_clip(space=space, owner=owner)
    stored_clip(status=ClipQuery.Status.QUEUED, owner=owner)
    lone = stored_clip(space=space)
    assert in_folder(_isolated_media, "clips") == 3

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(pk=owner.pk).delete()  # the owner's clips cascade
    assert files(_isolated_media, "clips") == [lone.features_path]

    with django_capture_on_commit_callbacks(execute=True):
        lone.delete()
    assert files(_isolated_media) == []


def test_a_failed_clip_drops_its_uploaded_audio(monkeypatch, _isolated_media):
    clip = create_clip_query(SimpleUploadedFile("clip.wav", audio_bytes(tone(seconds=3.0))))
    assert default_storage.exists(clip.audio_path)

    def unavailable(name):
        raise EncoderUnavailable("no weights here")

    monkeypatch.setattr(extraction, "load_encoder", unavailable)
    extraction.run_clip_query(clip.pk)

    clip.refresh_from_db()
    assert (clip.status, clip.audio_path, clip.error) == (ClipQuery.Status.FAILED, "", "no weights here")
    assert files(_isolated_media) == []


# --- manage.py clean_orphans --------------------------------------------------------------


def orphan(name, data=b"x" * 1000, age_seconds=2 * 3600):
    saved = default_storage.save(name, ContentFile(data))
    past = time.time() - age_seconds
    os.utime(default_storage.path(saved), (past, past))
    return saved


def clean(*args):
    out = io.StringIO()
    call_command("clean_orphans", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def orphans_and_referenced(spaces, _isolated_media):
    track = full_track(spaces)
    clip = stored_clip(space=spaces[0])
    for path in Path(_isolated_media).rglob("*"):  # the referenced files are old too
        os.utime(path, (time.time() - 7200,) * 2)
    referenced = files(_isolated_media)
    stray = [
        orphan(f"features/{spaces[0].pk}/999/{'a' * 32}.npy"),
        orphan("audio/ab/abcdef.wav", b"y" * 2048),
        orphan(f"peaks/{'f' * 64}-{PEAK_COUNT}.json"),
        orphan(f"peaks/{track.sha256}-800.json"),  # another resolution: never read
        orphan("clips/old-upload.wav"),
        orphan("scores/lost.mid"),
    ]
    return referenced, sorted(stray)


def test_clean_orphans_is_a_dry_run_by_default(orphans_and_referenced, _isolated_media):
    referenced, stray = orphans_and_referenced
    before = files(_isolated_media)

    out = clean()

    assert files(_isolated_media) == before
    for name in stray:
        assert name in out
    for name in referenced:
        assert name not in out
    assert "2.0\xa0KB  audio/ab/abcdef.wav" in out
    total = sum(default_storage.size(name) for name in stray)
    assert f"{len(stray)} orphaned files, " in out and "would be removed" in out
    assert total == 5 * 1000 + 2048
    assert "6.9\xa0KB" in out


def test_clean_orphans_delete_removes_only_orphans(orphans_and_referenced, _isolated_media):
    referenced, stray = orphans_and_referenced
    out = clean("--delete")
    assert "Removed 6 orphaned files" in out
    assert files(_isolated_media) == referenced
    assert not [d for d in Path(_isolated_media, "features").rglob("999")]  # emptied folders go too
    assert "No orphaned files." in clean("--delete")


@pytest.mark.django_db(transaction=True)  # an index is read in a transaction of its own
def test_clean_orphans_finds_indices_and_target_tables_that_no_space_or_featured_track_uses(spaces, settings):
    gone, kept = spaces
    track = make_track(make_dataset("Tones"), data=audio_bytes(tone(freq=330.0)), title="Stays")
    dropped = make_track(make_dataset("Other"), data=audio_bytes(tone(freq=550.0)), title="Deleted")
    for seed, (each, space) in enumerate([(track, gone), (track, kept), (dropped, kept)]):
        give_features(each, space, seed=seed, windows=1)
    saved_index_and_targets(gone, track)
    saved_index_and_targets(kept, track, dropped)
    (settings.MESS_INDEX_DIR / "notes.txt").write_text("not written by the index: never an orphan")
    # The space deleted without its files, as a release before remove_space_files did; a
    # deleted track's target table is left to this command.
    gone_pk = gone.pk
    pre_delete.disconnect(sender=EmbeddingSpace, dispatch_uid="analysis.remove_space_files")
    try:
        gone.delete()
    finally:
        analysis_signals.connect()
    dropped.delete()
    local = [path for folder in (settings.MESS_INDEX_DIR, settings.MESS_TARGET_CACHE_DIR) for path in folder.iterdir()]
    for path in local:
        os.utime(path, (time.time() - 7200,) * 2)
    stray = sorted(str(path) for path in local if index_space(path.name) == gone_pk
                   or path.name.startswith(dropped.sha256))
    kept_files = sorted(str(path) for path in local if str(path) not in stray)
    # 5 files a layer (index, ids, rows, training, lock), 6 of a passage index (index, 4 arrays,
    # lock) and a target table; kept also notes.txt.
    assert (len(stray), len(kept_files)) == (LAYERS * 5 + 6 + 1, LAYERS * 5 + 6 + 1 + 1)

    out = clean()
    assert sorted(line.split()[-1] for line in out.splitlines()[:-1]) == stray
    assert sorted(str(path) for path in local if path.exists()) == sorted(stray + kept_files)  # a dry run

    assert f"Removed {len(stray)} orphaned files" in clean("--delete")
    assert sorted(str(path) for path in local if path.exists()) == kept_files
    assert "No orphaned files." in clean()


def test_clean_orphans_leaves_fresh_files(_isolated_media):
    fresh = orphan("audio/cd/cdef.wav", age_seconds=0)
    assert "No orphaned files." in clean("--delete")
    assert default_storage.exists(fresh)
    assert "audio/cd/cdef.wav" in clean("--min-age", "0")
