"""Writing and reading a track's embeddings: web-safe (numpy and pgvector, no torch).

A track's vectors in one space change all at once: the per-window features file is
written first under a new name, then the rows are replaced in one transaction that
holds the track's row lock, and the old file is removed only after that commits.
Readers (and a second worker on the same track) see the old set or the new, never a mix.
"""

import io
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.db.models import F

from analysis.models import EmbeddingSpace, TrackEmbedding, TrackFeatures
from analysis.tags import replace_track_tags
from catalog.models import Track


def store_track_embeddings(track, space, *, track_mean, window_means, window_starts, tags=None):
    """Replace the track's embeddings in `space`: one vector per layer (the track mean,
    [layers, dim]) in the database, each at its layer's own width (`space.layer_dim`: the
    rest is zero padding), the per-window means ([windows, layers, dim]) as float16 .npy in
    storage, and its auto-tags ({tag: score}) when the encoder has them."""
    expected = (space.num_layers, space.dim)
    if track_mean.shape != expected or window_means.shape[1:] != expected:
        raise ValueError(f"embeddings of shape {track_mean.shape}/{window_means.shape} do not fit {space} {expected}")
    new_path = save_window_features(f"features/{space.pk}/{track.pk}", window_means)
    try:
        with transaction.atomic():
            # Serialises writers of one track; readers are never blocked.
            Track.objects.select_for_update().filter(pk=track.pk).get()
            old = TrackFeatures.objects.filter(track=track, space=space).first()
            TrackEmbedding.objects.filter(track=track, space=space).delete()
            TrackEmbedding.objects.bulk_create(
                TrackEmbedding(track=track, space=space, layer=layer, vector=vector[: space.layer_dim(layer)])
                for layer, vector in enumerate(track_mean.astype(np.float32))
            )
            TrackFeatures.objects.update_or_create(
                track=track,
                space=space,
                defaults=dict(
                    path=new_path,
                    num_windows=len(window_means),
                    window_starts=[round(float(s), 4) for s in window_starts],
                    audio_sha256=track.sha256,
                ),
            )
            replace_track_tags(track, space, tags)
            EmbeddingSpace.objects.filter(pk=space.pk).update(version=F("version") + 1)
            if old:
                transaction.on_commit(lambda: default_storage.delete(old.path))
    except BaseException:
        default_storage.delete(new_path)
        raise


def save_window_features(folder, window_means):
    """Store [windows, layers, dim] as float16 .npy under a new name in `folder`; returns the name."""
    buffer = io.BytesIO()
    np.save(buffer, window_means.astype(np.float16), allow_pickle=False)
    return default_storage.save(f"{folder}/{uuid.uuid4().hex}.npy", ContentFile(buffer.getvalue()))


def load_window_features(path):
    """[windows, layers, dim] float16 from a name in the default storage."""
    with default_storage.open(path, "rb") as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)


@contextmanager
def local_file(storage, name):
    """A filesystem path to a stored file; object storage is copied to a temp file."""
    if isinstance(storage, FileSystemStorage):
        yield storage.path(name)
        return
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as temp:
        with storage.open(name, "rb") as source:
            while chunk := source.read(1024 * 1024):
                temp.write(chunk)
        temp.flush()
        yield temp.name


def track_vectors(track, space):
    """[layers, dim] float32 from the database (narrower layers padded again), or None when
    the track has none in `space`."""
    rows = list(TrackEmbedding.objects.filter(track=track, space=space).order_by("layer").values_list("vector", flat=True))
    return np.stack([padded(row, space.dim) for row in rows]) if rows else None


def padded(vectors, dim):
    """float32 vectors (the last axis) zero-padded to `dim`: what a layer narrower than its space stores."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.pad(vectors, [(0, 0)] * (vectors.ndim - 1) + [(0, dim - vectors.shape[-1])])


def is_current(track, space):
    """Whether the track has embeddings in `space` computed from its present audio."""
    return TrackFeatures.objects.filter(track=track, space=space, audio_sha256=track.sha256).exists()

