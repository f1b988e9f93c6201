"""A deleted track leaves the playlists that held it, and their positions close up, however
the track goes (intake.delete_track, a queryset delete, its dataset's cascade): the database
cascade removes the entries, and these receivers renumber what is left."""

from django.db.models.signals import post_delete, pre_delete

from catalog.models import PlaylistEntry, Track
from catalog.playlists.services import close_gaps


def remember_playlists(sender, instance, **kwargs):
    instance.playlists_to_renumber = set(
        PlaylistEntry.objects.filter(track=instance).values_list("playlist_id", flat=True)
    )


def renumber_playlists(sender, instance, **kwargs):
    close_gaps(getattr(instance, "playlists_to_renumber", ()))


def connect():
    pre_delete.connect(remember_playlists, sender=Track, dispatch_uid="catalog.playlists.remember_playlists")
    post_delete.connect(renumber_playlists, sender=Track, dispatch_uid="catalog.playlists.renumber_playlists")
