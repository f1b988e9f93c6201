"""Files that derive from analysis rows leave with them, whatever deletes the row.

post_delete receivers, because the rows mostly go by cascade: a track's TrackFeatures when
the track (or its dataset) is deleted, every TrackFeatures of a deleted EmbeddingSpace, a
user's ClipQuery rows with the user. A delete() override or a helper would miss all of
those; the signal is sent for each cascaded row. Files are removed only after the
transaction commits, so a rolled-back delete still finds them.
"""

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


def connect():
    post_delete.connect(remove_features_file, sender=TrackFeatures, dispatch_uid="analysis.remove_features_file")
    post_delete.connect(remove_clip_files, sender=ClipQuery, dispatch_uid="analysis.remove_clip_files")
    pre_delete.connect(
        remove_space_clip_features, sender=EmbeddingSpace, dispatch_uid="analysis.remove_space_clip_features"
    )
