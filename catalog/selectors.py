"""Read-side queries over the catalogue, shared by the web pages and the API."""

from django.db.models import F, Q

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


# The catalogue page's sortable columns: ?sort=<key> ascending, ?sort=-<key> descending,
# each key's fields in turn; sorted_tracks ends with the id, so pages never share a track.
SORTS = {
    "title": ["title"],
    "composer": ["composer", "title"],
    "work": ["work", "composer", "title"],
    "dataset": ["dataset__name", "composer", "title"],
    "duration": ["duration"],
    "year": ["year"],
    "added": ["created_at"],
}
# The API orders by the same columns (?ordering=, DRF's names: each key's first field).
ORDERING_FIELDS = [fields[0] for fields in SORTS.values()]


def parse_sort(value):
    """(key, descending) of a ?sort= value naming one of SORTS, else None."""
    key = (value or "").removeprefix("-")
    return (key, value.startswith("-")) if key in SORTS else None


def sorted_tracks(tracks, sort):
    """`tracks` ordered by a parse_sort result (None: the model's default order). Years
    left blank sort last either way."""
    if sort is None:
        return tracks
    key, descending = sort
    fields = [F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True) for name in SORTS[key]]
    return tracks.order_by(*fields, "id")
