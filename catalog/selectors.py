"""Read-side queries over the catalogue, shared by the web pages and the API."""

from django.db.models import Q

from catalog.models import Track


def search_tracks(query="", dataset=None, composer="", status=None):
    """Tracks whose title, composer or work contains every word of `query`, optionally
    limited to one dataset (a Dataset), one composer (exactly as catalogued) and one status."""
    tracks = Track.objects.select_related("dataset")
    # Every word must match somewhere, so "bach fugue" finds Bach's fugues, not all of Bach.
    for word in query.split():
        tracks = tracks.filter(Q(title__icontains=word) | Q(composer__icontains=word) | Q(work__icontains=word))
    if dataset is not None:
        tracks = tracks.filter(dataset=dataset)
    if composer:
        tracks = tracks.filter(composer=composer)
    if status:
        tracks = tracks.filter(status=status)
    return tracks
