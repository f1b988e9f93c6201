"""Files that derive from a Track leave with it, however the row goes: intake.delete_track
(API, admin), a queryset delete, or the cascade from its dataset.

A post_delete receiver is the one hook every one of those paths fires (Django sends it for
each cascaded row once a receiver is connected); the files are removed only after the
transaction commits, so a rolled-back delete still finds them. Files shared by content
(audio, peaks and scores are named by sha256) go only once no track refers to them.
"""

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete

from catalog.models import Track


def remove_track_files(sender, instance, using, **kwargs):
    audio_path = instance.audio_path if not instance.audio_root else None
    score = (instance.metadata or {}).get("midi_path")
    sha256 = instance.sha256
    transaction.on_commit(lambda: _remove_unreferenced(audio_path, score, sha256), using=using)


def _remove_unreferenced(audio_path, score, sha256):
    from catalog.peaks import forget_peaks

    if audio_path and not Track.objects.filter(audio_path=audio_path, audio_root="").exists():
        default_storage.delete(audio_path)
    if score and not Track.objects.filter(metadata__midi_path=score).exists():
        default_storage.delete(score)
    forget_peaks(sha256)


def connect():
    post_delete.connect(remove_track_files, sender=Track, dispatch_uid="catalog.remove_track_files")
