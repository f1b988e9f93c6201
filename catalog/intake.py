"""Putting audio into the catalogue: uploads (admin, API) and files on disk (importers).

Every path goes through the same steps: size limit, sha256 (streamed), probe, duplicate
check, content-addressed storage, and one place that creates the Track row.
"""

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from analysis.services import request_extraction
from catalog import audio
from catalog.duplicates import record_exact_duplicates
from catalog.file_tags import read_tags
from catalog.models import DESCRIPTIVE_FIELDS, Track

# Caller-supplied fields; everything else on a Track is derived from the file.
TRACK_FIELDS = {*DESCRIPTIVE_FIELDS, "external_id", "metadata"}
_CHUNK_BYTES = 1024 * 1024


class DuplicateTrack(Exception):
    """The same audio (by sha256) is already in the dataset."""

    def __init__(self, existing, name=None):
        self.existing = existing
        label = name or "This file"
        super().__init__(
            f"{label} has the same audio as track {existing.pk} “{existing}” already in {existing.dataset}."
        )


def ingest_upload(dataset, uploaded_file, **fields):
    """Add a Django UploadedFile (in memory or spooled to disk) to `dataset` as a pending Track."""
    name = Path(uploaded_file.name).name
    audio.check_size(uploaded_file.size, name)
    with upload_on_disk(uploaded_file) as path:
        return _ingest(dataset, path, name, fields, in_place_root=None)


def ingest_path(dataset, path, *, copy=True, root=None, **fields):
    """Add the audio file at `path` to `dataset` as a pending Track.

    copy=True stores the bytes in the managed storage; copy=False references the file
    where it is, relative to `root` (the import root; the file's folder by default).
    """
    path = Path(os.path.abspath(path))
    audio.check_size(path.stat().st_size, path.name)
    in_place_root = None if copy else Path(os.path.abspath(root or path.parent))
    return _ingest(dataset, path, path.name, fields, in_place_root=in_place_root)


def delete_track(track):
    """Delete a track. Its files (managed audio once no other track shares those bytes,
    score, waveform peaks, per-window features) go after commit: catalog/signals.py and
    analysis/signals.py, which also cover queryset deletes and cascades."""
    with transaction.atomic():
        track.delete()


def delete_dataset(dataset):
    """Delete a dataset; its tracks cascade, and their files go as delete_track's do."""
    with transaction.atomic():
        dataset.delete()


def _ingest(dataset, path, name, fields, *, in_place_root):
    unknown = set(fields) - TRACK_FIELDS
    if unknown:
        raise TypeError(f"Unknown track fields: {', '.join(sorted(unknown))}")
    size = path.stat().st_size
    sha = _sha256(path)
    info = audio.probe(path, name)
    _refuse_duplicate(dataset, sha, name)
    # What the caller gives (form, API, sidecar, dataset layout) wins over the file's tags.
    explicit = {key: value for key, value in fields.items() if value not in (None, "")}
    fields = {"title": Path(name).stem, **read_tags(path), **explicit}

    newly_saved = None
    if in_place_root:
        location = {"audio_root": str(in_place_root), "audio_path": path.relative_to(in_place_root).as_posix()}
    else:
        stored_name, newly_saved = _store(path, sha, info.format)
        location = {"audio_path": stored_name}
    try:
        with transaction.atomic():
            return _create_track(dataset, sha=sha, info=info, size=size, name=name, fields=fields, **location)
    except Exception as exc:
        if newly_saved:
            _delete_if_unreferenced(newly_saved)
        if isinstance(exc, IntegrityError):
            # Another request added the same bytes between our check and our insert.
            _refuse_duplicate(dataset, sha, name)
        raise


def _create_track(dataset, *, sha, info, size, name, fields, audio_path, audio_root=""):
    """The single point where a Track enters the catalogue; its extraction is queued
    for when the transaction commits. `track.same_audio_as` lists the tracks of other
    datasets with the same bytes (catalog/duplicates.py)."""
    track = Track.objects.create(
        dataset=dataset,
        **{key: value for key, value in fields.items() if key in DESCRIPTIVE_FIELDS},
        external_id=fields.get("external_id") or "",
        metadata={"original_name": name, **(fields.get("metadata") or {})},
        audio_path=audio_path,
        audio_root=audio_root,
        sha256=sha,
        duration=info.duration,
        sample_rate=info.sample_rate,
        channels=info.channels,
        format=info.format,
        size_bytes=size,
        status=Track.Status.PENDING,
    )
    # The same bytes in other datasets: accepted, paired for the curators, and reported.
    track.same_audio_as = record_exact_duplicates(track)
    request_extraction([track])
    return track


def _refuse_duplicate(dataset, sha, name):
    existing = Track.objects.filter(dataset=dataset, sha256=sha).select_related("dataset").first()
    if existing:
        raise DuplicateTrack(existing, name)


def _store(path, sha, fmt):
    """Save the bytes under their content address; returns (name, newly saved name or None)."""
    name = f"audio/{sha[:2]}/{sha}.{audio.EXTENSIONS[fmt]}"
    if default_storage.exists(name):
        return name, None  # the same bytes are already stored for another dataset
    with open(path, "rb") as f:
        saved = default_storage.save(name, File(f, name=name))
    if saved != name:
        # A concurrent intake stored the same bytes first and the storage picked a new
        # name for ours: keep theirs, which is identical by construction.
        default_storage.delete(saved)
        return name, None
    return name, saved


def _delete_if_unreferenced(audio_path):
    if not Track.objects.filter(audio_path=audio_path, audio_root="").exists():
        default_storage.delete(audio_path)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def upload_on_disk(uploaded_file):
    """A path to the upload's bytes: Django's temp file, or one we spool (and remove)."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield Path(uploaded_file.temporary_file_path())
        return
    fd, temp_path = tempfile.mkstemp(prefix="mess-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in uploaded_file.chunks(_CHUNK_BYTES):
                out.write(chunk)
        yield Path(temp_path)
    finally:
        os.unlink(temp_path)
