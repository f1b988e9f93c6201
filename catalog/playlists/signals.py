"""A deleted track leaves the playlists that held it, and their positions close up, however
the track goes (intake.delete_track, a queryset delete, its dataset's cascade): the database
cascade removes the entries, and these receivers renumber what is left.

Django sends pre_delete for every row of a delete before any goes and post_delete after all
have gone, each naming the delete's origin (the instance or queryset delete() was called on):
the playlists are gathered on that origin, so one delete of many tracks renumbers each
playlist once rather than once per track."""

from django.db.models.signals import post_delete, pre_delete

from catalog.models import PlaylistEntry, Track
from catalog.playlists.services import close_gaps

PENDING = "playlists_to_renumber"


def remember_playlists(sender, instance, origin, **kwargs):
    vars(origin).setdefault(PENDING, set()).update(
        PlaylistEntry.objects.filter(track=instance).order_by().values_list("playlist_id", flat=True)
    )


def renumber_playlists(sender, instance, origin, **kwargs):
    # The first track's post_delete renumbers for the whole delete; the others find nothing left.
    close_gaps(vars(origin).pop(PENDING, ()))


def connect():
    pre_delete.connect(remember_playlists, sender=Track, dispatch_uid="catalog.playlists.remember_playlists")
    post_delete.connect(renumber_playlists, sender=Track, dispatch_uid="catalog.playlists.renumber_playlists")
