"""Embeddings are stored per (track, space, layer) in pgvector and per window in storage,
and replaced all at once."""

import numpy as np
import pytest
from django.core.files.storage import default_storage

from analysis.embeddings import load_window_features, store_track_embeddings, track_vectors
from analysis.models import EmbeddingSpace, TrackEmbedding, TrackFeatures
from tests.factories import make_track

pytestmark = pytest.mark.django_db(transaction=True)
LAYERS, DIM = 3, 8


@pytest.fixture
def space():
    return EmbeddingSpace.objects.create(
        name="tiny", model_id="tiny-mert", weights_hash="0" * 64, num_layers=LAYERS, dim=DIM,
        sample_rate=24000, window_seconds=5, overlap=0.5, is_active=True,
    )


def embeddings(seed, windows=4):
    window_means = np.random.default_rng(seed).standard_normal((windows, LAYERS, DIM)).astype(np.float32)
    return dict(track_mean=window_means.mean(axis=0), window_means=window_means, window_starts=np.arange(windows) * 2.5)


def stored_files(folder="features"):
    """Every file under `folder` in the default storage."""
    folders, files = default_storage.listdir(folder)
    return [f"{folder}/{name}" for name in files] + [
        path for sub in folders for path in stored_files(f"{folder}/{sub}")
    ]


def test_one_row_per_layer_and_window_features_in_storage(space):
    track = make_track()
    data = embeddings(seed=1)
    store_track_embeddings(track, space, **data)

    assert TrackEmbedding.objects.filter(track=track, space=space).count() == LAYERS
    np.testing.assert_allclose(track_vectors(track, space), data["track_mean"], rtol=1e-6)
    features = TrackFeatures.objects.get(track=track, space=space)
    windows = load_window_features(features.path)
    assert windows.dtype == np.float16 and windows.shape == (4, LAYERS, DIM)
    np.testing.assert_allclose(windows, data["window_means"], atol=2e-3)
    assert features.window_starts == [0.0, 2.5, 5.0, 7.5]
    assert features.audio_sha256 == track.sha256
    space.refresh_from_db()
    assert space.version == 1


def test_storing_again_replaces_rows_and_file(space):
    track = make_track()
    store_track_embeddings(track, space, **embeddings(seed=1))
    first_file = TrackFeatures.objects.get(track=track).path
    second = embeddings(seed=2, windows=6)
    store_track_embeddings(track, space, **second)

    assert TrackEmbedding.objects.filter(track=track, space=space).count() == LAYERS
    np.testing.assert_allclose(track_vectors(track, space), second["track_mean"], rtol=1e-6)
    assert TrackFeatures.objects.get(track=track).num_windows == 6
    assert stored_files() == [TrackFeatures.objects.get(track=track).path]
    assert not default_storage.exists(first_file)


def test_a_failed_write_keeps_the_old_embeddings_and_leaves_no_file(space, monkeypatch):
    track = make_track()
    before = embeddings(seed=1)
    store_track_embeddings(track, space, **before)
    old_file = TrackFeatures.objects.get(track=track).path

    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("database went away mid-write")

    monkeypatch.setattr(TrackEmbedding.objects, "bulk_create", broken_bulk_create)
    with pytest.raises(RuntimeError):
        store_track_embeddings(track, space, **embeddings(seed=2))

    np.testing.assert_allclose(track_vectors(track, space), before["track_mean"], rtol=1e-6)
    assert stored_files() == [old_file]


def test_vectors_of_the_wrong_shape_are_refused(space):
    track = make_track()
    wrong = embeddings(seed=1)
    wrong["track_mean"] = wrong["track_mean"][:, :4]
    with pytest.raises(ValueError, match="do not fit"):
        store_track_embeddings(track, space, **wrong)
    assert not TrackEmbedding.objects.exists()


def test_spaces_keep_their_own_vectors(space):
    other = EmbeddingSpace.objects.create(
        name="other", model_id="tiny-mert", weights_hash="1" * 64, num_layers=LAYERS, dim=DIM,
        sample_rate=24000, window_seconds=5, overlap=0.5,
    )
    track = make_track()
    store_track_embeddings(track, space, **embeddings(seed=1))
    store_track_embeddings(track, other, **embeddings(seed=2))
    assert TrackEmbedding.objects.filter(track=track).count() == 2 * LAYERS
    assert not np.allclose(track_vectors(track, space), track_vectors(track, other))
