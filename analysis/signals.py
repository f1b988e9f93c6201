"""Files that derive from analysis rows leave with them, whatever deletes the row.

post_delete receivers, because the rows mostly go by cascade: a track's TrackFeatures when
the track (or its dataset) is deleted, every TrackFeatures of a deleted EmbeddingSpace, a
user's ClipQuery rows with the user. A delete() override or a helper would miss all of
those; the signal is sent for each cascaded row. A deleted space's files that no row
names (saved indices, probe-target tables) are found on pre_delete, while its features
still say which audio it had. Files are removed only after the transaction commits, so a
rolled-back delete still finds them.
"""

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete, pre_delete

from analysis.models import ClipQuery, EmbeddingSpace, TrackFeatures


def delete_after_commit(names, using=None):
    """Remove these names (empty ones skipped) from the default storage once the current
    transaction commits (at once outside one)."""
    names = [name for name in names if name]
    if names:
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names], using=using)


def remove_features_file(sender, instance, using, **kwargs):
    delete_after_commit([instance.path], using)


def remove_clip_files(sender, instance, using, **kwargs):
    delete_after_commit([instance.audio_path, instance.features_path], using)


def remove_space_clip_features(sender, instance, using, **kwargs):
    """A deleted space's clips stay (space set to null, their search answers "upload the clip
    again"), but their window means, comparable only within that space, go."""
    clips = ClipQuery.objects.using(using).filter(space=instance).exclude(features_path="")
    delete_after_commit(list(clips.values_list("features_path", flat=True)), using)
    clips.update(features_path="", window_starts=[])


def remove_space_files(sender, instance, using, **kwargs):
    """A deleted space's saved indices go, and the probe-target tables of the audio it
    leaves without features in any space (the tables are named by audio, not by space)."""
    shas = set(TrackFeatures.objects.using(using).filter(space=instance).values_list("track__sha256", flat=True))
    space_id, created = instance.pk, instance.created_at
    transaction.on_commit(lambda: _remove_space_files(space_id, created, shas, using), using=using)


def _remove_space_files(space_id, created, shas, using):
    from analysis.leftovers import featured_shas, local_files, target_table_sha
    from recommendations.index import space_files  # imports faiss: only once a space goes

    unused = shas - featured_shas(using)
    tables = [path for path in local_files(settings.MESS_TARGET_CACHE_DIR) if target_table_sha(path.name) in unused]
    for path in [*space_files(space_id, created), *tables]:
        path.unlink(missing_ok=True)


def connect():
    post_delete.connect(remove_features_file, sender=TrackFeatures, dispatch_uid="analysis.remove_features_file")
    post_delete.connect(remove_clip_files, sender=ClipQuery, dispatch_uid="analysis.remove_clip_files")
    pre_delete.connect(
        remove_space_clip_features, sender=EmbeddingSpace, dispatch_uid="analysis.remove_space_clip_features"
    )
    pre_delete.connect(remove_space_files, sender=EmbeddingSpace, dispatch_uid="analysis.remove_space_files")
