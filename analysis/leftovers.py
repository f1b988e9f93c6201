"""Orphans: files in the managed storage that no row refers to, and saved indices and
probe-target tables of no current space or featured audio (`manage.py clean_orphans`).

Deletes remove their files after commit (catalog/signals.py, analysis/signals.py); what a
crash between commit and removal, an older release, or a changed PEAK_COUNT left behind
is found here by listing the folders the application writes and comparing with the rows.
Files younger than `min_age` are skipped: intake stores a file before its row commits.
"""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.utils import timezone

from analysis.models import ClipQuery, EmbeddingSpace, TrackFeatures
from catalog.models import Track
from catalog.peaks import PEAKS_FOLDER, peaks_name

# The folders of the default storage that hold derived or uploaded files, and what names them.
FOLDERS = ("audio", "scores", PEAKS_FOLDER, "features", "clips", "health")


@dataclass(frozen=True)
class Orphan:
    name: str  # a storage name, or the path of a file outside the storage
    size: int
    outside_storage: bool = False


def referenced_names():
    """Every storage name a row refers to."""
    names = set(Track.objects.filter(audio_root="").values_list("audio_path", flat=True))
    scores = Track.objects.filter(metadata__has_key="midi_path").values_list("metadata__midi_path", flat=True)
    names.update(path for path in scores if isinstance(path, str))
    names.update(peaks_name(sha) for sha in Track.objects.values_list("sha256", flat=True).distinct())
    names.update(TrackFeatures.objects.values_list("path", flat=True))
    for audio_path, features_path in ClipQuery.objects.values_list("audio_path", "features_path"):
        names.update(name for name in (audio_path, features_path) if name)
    return names


def stored_names(storage, folder):
    """Every file name under `folder` of the storage, recursively."""
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for file in files:
        yield f"{folder}/{file}"
    for directory in directories:
        yield from stored_names(storage, f"{folder}/{directory}")


def local_files(folder):
    """The files directly in a folder outside the storage (none when it does not exist)."""
    folder = Path(folder)
    return [path for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []


def target_table_sha(name):
    """The audio sha256 of a probe-target table (analysis/targets.py names them
    "{sha256}-{layout digest}.npz"), or None for another file (a crashed write's .tmp)."""
    sha, dash, _ = name.partition("-")
    return sha if dash and name.endswith(".npz") else None


def featured_shas(using=None):
    """The sha256 of the audio of tracks with features in some space: only those are
    probed, so only their target tables are of use."""
    return set(TrackFeatures.objects.using(using).values_list("track__sha256", flat=True).distinct())


def find_orphans(*, min_age=datetime.timedelta(hours=1), storage=None):
    """[Orphan] in the application's folders, oldest listing order; files modified less than
    `min_age` ago are left out (they may belong to a row not yet committed)."""
    from recommendations import index  # imports faiss, which only this needs here

    storage = storage or default_storage
    # Listed before the rows are read: a file saved with its row in between is then referenced.
    listed = [name for folder in FOLDERS for name in stored_names(storage, folder)]
    indexes = local_files(index.index_dir())
    tables = local_files(settings.MESS_TARGET_CACHE_DIR)
    referenced = referenced_names()
    # Owners of the index files that stay: the spaces', and None, a name index.py does not write.
    spaces = EmbeddingSpace.objects.values_list("pk", "created_at")
    kept_owners = {None}.union(*(index.owners(pk, created) for pk, created in spaces))
    featured = featured_shas()
    cutoff = timezone.now() - min_age
    orphans = []
    for name in listed:
        if name in referenced:
            continue
        try:
            if min_age and storage.get_modified_time(name) > cutoff:
                continue
            size = storage.size(name)
        except FileNotFoundError:  # removed meanwhile
            continue
        orphans.append(Orphan(name, size))
    stray = [path for path in indexes if index.file_owner(path.name) not in kept_owners]
    stray += [path for path in tables if target_table_sha(path.name) not in featured]
    for path in stray:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed meanwhile
            continue
        if not min_age or datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC) <= cutoff:
            orphans.append(Orphan(str(path), stat.st_size, outside_storage=True))
    return orphans


def remove_orphans(orphans, storage=None):
    """Delete them, then the folders that leave empty (filesystem storage only)."""
    storage = storage or default_storage
    for orphan in orphans:
        if orphan.outside_storage:
            Path(orphan.name).unlink(missing_ok=True)
        else:
            storage.delete(orphan.name)
    if isinstance(storage, FileSystemStorage):
        for folder in FOLDERS:
            prune_empty_folders(storage.path(folder))


def prune_empty_folders(root):
    if not os.path.isdir(root):
        return
    for directory, subdirectories, files in os.walk(root, topdown=False):
        if directory != root and not os.listdir(directory):
            os.rmdir(directory)
