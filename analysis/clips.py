"""Search by clip, web side: validate and store a short clip, queue its embedding."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from analysis.models import ClipQuery
from catalog import audio
from catalog.intake import upload_on_disk


def create_clip_query(uploaded_file, *, owner=None):
    """A queued ClipQuery for an uploaded clip, or AudioRejected saying why not."""
    from analysis.tasks import embed_clip

    name = Path(uploaded_file.name).name
    audio.check_size(uploaded_file.size, name)
    with upload_on_disk(uploaded_file) as path:
        info = audio.probe(path, name)
        if info.duration > settings.MESS_CLIP_MAX_SECONDS:
            raise audio.AudioRejected(
                "too_long",
                f"{name} is {audio.human_duration(info.duration)} long; search clips may be at most "
                f"{audio.human_duration(settings.MESS_CLIP_MAX_SECONDS)}.",
            )
        with open(path, "rb") as f:
            stored = default_storage.save(f"clips/{uuid.uuid4().hex}.{audio.EXTENSIONS[info.format]}", File(f))
    try:
        clip = ClipQuery.objects.create(
            owner=owner if owner and owner.is_authenticated else None,
            original_name=name, audio_path=stored, duration=info.duration,
        )
    except BaseException:
        default_storage.delete(stored)
        raise
    transaction.on_commit(lambda: embed_clip.delay(clip.pk))
    return clip
