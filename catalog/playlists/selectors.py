"""Which playlists a user may see: their own, the public ones, and for staff every one."""

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from catalog.models import Playlist


def visible_playlists(user, share_token=None):
    """The playlists `user` may read, with track_count and duration (seconds) annotated;
    also the one whose link `share_token` is, while its link sharing is on."""
    playlists = Playlist.objects.select_related("owner").annotate(
        track_count=Count("entries"), duration=Coalesce(Sum("entries__track__duration"), 0.0)
    ).order_by("-updated_at", "-id")  # explicitly: Django leaves Meta.ordering out of GROUP BY queries
    if user.is_authenticated and user.is_staff:
        return playlists
    allowed = Q(public=True)
    if user.is_authenticated:
        allowed |= Q(owner=user)
    if share_token:
        allowed |= Q(share_token=share_token)
    return playlists.filter(allowed)


def listed_playlists(user, mine=False):
    """What a list shows `user`: their own and the public ones (staff too: others' private
    playlists are theirs to open, not to be listed), or with `mine` only their own."""
    if not user.is_authenticated:
        return visible_playlists(user).none() if mine else visible_playlists(user)
    own = Q(owner=user)
    return visible_playlists(user).filter(own if mine else own | Q(public=True))


def entries_of(playlist):
    """The playlist's entries in order, each with its track and the track's dataset."""
    return playlist.entries.select_related("track__dataset").order_by("position")
