"""What a radio or a path may play next: never a track heard already, never another copy
of a recording heard already, and not too much of one composer, work, album or dataset
in a row.

A copy of a recording is a track with the same audio (equal sha256) or one paired with
it in catalog.TrackDuplicate, whatever a curator decided about the pair: keeping both
in the catalogue is not wanting both in one queue.

Caps count within a sliding window: among any `window` consecutive tracks (the seed
track, the played ones, then the chosen ones), at most `max_per_composer` share a
composer, `max_per_work` a work (same non-empty work and composer), `max_per_album` an
album and `max_per_dataset` a dataset. Empty composers, works and albums are never
"the same". None is no cap; a cap of `window` or more is none either.
"""

from collections import Counter
from dataclasses import dataclass, fields

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef

from catalog.models import Track, TrackDuplicate
from recommendations.recommender import RecommendationError

MAX_WINDOW = 100
MAX_HISTORY = 500  # played ids a request may send; a session keeps this many


@dataclass(frozen=True)
class Caps:
    """The defaults keep a radio varied on a small catalogue: one recording of a work, two
    tracks of an album and three of a composer in any ten; any number of a dataset."""

    window: int = 10
    max_per_composer: int | None = 3
    max_per_work: int | None = 1
    max_per_album: int | None = 2
    max_per_dataset: int | None = None

    @classmethod
    def of(cls, params):
        """The caps a request's parameters (a mapping) give; a cap missing or None keeps its default."""
        return cls(**{name: params[name] for name in CAP_FIELDS if params.get(name) is not None})

    def check(self):
        """Raises RecommendationError (bad_cap) for numbers out of range."""
        if not whole_number(self.window) or not 1 <= self.window <= MAX_WINDOW:
            raise RecommendationError("bad_cap", f"window must be a whole number from 1 to {MAX_WINDOW}, "
                                                 f"not {self.window!r}.")
        for name in ("max_per_composer", "max_per_work", "max_per_album", "max_per_dataset"):
            value = getattr(self, name)
            if value is not None and (not whole_number(value) or not 1 <= value <= MAX_WINDOW):
                raise RecommendationError("bad_cap", f"{name} must be a whole number from 1 to {MAX_WINDOW}, "
                                                     f"not {value!r}.")
        return self


CAP_FIELDS = tuple(field.name for field in fields(Caps))


def whole_number(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Heard:
    """What the caps and duplicate rules need of a track."""

    id: int
    composer: str
    work: str
    album: str
    dataset_id: int
    sha256: str

    @classmethod
    def of(cls, track):
        return cls(track.pk, track.composer, track.work, track.album, track.dataset_id, track.sha256)

    def keys(self):
        """(cap name, key) for each capped property the track has."""
        return [(name, key) for name, key in (
            ("max_per_composer", self.composer or None),
            ("max_per_work", (self.composer, self.work) if self.work else None),
            ("max_per_album", self.album or None),
            ("max_per_dataset", self.dataset_id),
        ) if key is not None]


class History:
    """The tracks heard so far, oldest first, and every track that may not come next."""

    def __init__(self, caps, heard):
        self.caps = caps
        self.heard = list(heard)
        self.blocked = {track.id for track in self.heard}
        self.blocked |= copies_of(self.heard)
        self._count_recent()

    @classmethod
    def of_ids(cls, caps, ids, first=None):
        """From track ids (unknown ones, e.g. deleted tracks, dropped), after `first` (a Track or None)."""
        rows = Track.objects.filter(pk__in=ids).order_by().values_list(
            "pk", "composer", "work", "album", "dataset_id", "sha256"
        )
        by_id = {row[0]: Heard(*row) for row in rows}
        heard = [Heard.of(first)] if first is not None else []
        last_times = list(dict.fromkeys(reversed(ids)))[::-1]  # a track played twice counts where it was last
        heard += [by_id[i] for i in last_times if i in by_id and (first is None or i != first.pk)]
        return cls(caps, heard)

    def allows(self, track):
        """Whether `track` (a Track) may come next: not blocked, within every cap."""
        if track.pk in self.blocked:
            return False
        return all(
            getattr(self.caps, name) is None or self.recent[(name, key)] < getattr(self.caps, name)
            for name, key in Heard.of(track).keys()
        )

    def add(self, track):
        """Record `track` (a Track read through with_copies) as heard."""
        self.heard.append(Heard.of(track))
        self.blocked |= copy_ids(track)
        self._count_recent()

    def _count_recent(self):
        """How many of the last window - 1 tracks share each capped property: with the next
        track, they make a window."""
        recent = self.heard[max(0, len(self.heard) - self.caps.window + 1):]
        self.recent = Counter(key for heard in recent for key in heard.keys())


COPY_FIELDS = ("same_audio", "paired_as_newer", "paired_as_older")


def with_copies(tracks):
    """`tracks` (a Track queryset) with the ids of each one's copies (itself included): the
    same sha256 or a TrackDuplicate pair, in either direction. Read with the tracks, so a
    radio step's candidates bring the copies of whichever it picks in the same round trip."""
    # Unordered: the models' default orderings would join tables for nothing.
    pairs = TrackDuplicate.objects.order_by()
    return tracks.annotate(
        same_audio=ArraySubquery(Track.objects.order_by().filter(sha256=OuterRef("sha256")).values("pk")),
        paired_as_newer=ArraySubquery(pairs.filter(of_track=OuterRef("pk")).values("track")),
        paired_as_older=ArraySubquery(pairs.filter(track=OuterRef("pk")).values("of_track")),
    )


def copy_ids(track):
    """The ids of the copies of `track` (a Track read through with_copies)."""
    return {copy for name in COPY_FIELDS for copy in getattr(track, name)}


def copies_of(heard):
    """Ids of the tracks that are copies of any of `heard` (Heard), as with_copies finds them; one round trip."""
    if not heard:
        return set()
    rows = with_copies(Track.objects.filter(pk__in=[track.id for track in heard]).order_by())
    return {copy for row in rows.values_list(*COPY_FIELDS) for copies in row for copy in copies}


def violations(caps, tracks):
    """The (position, cap name) of each track of the list that breaks a cap, counting the
    window of tracks before it."""
    found = []
    for position, track in enumerate(tracks):
        recent = tracks[max(0, position - caps.window + 1):position]
        counts = Counter(key for heard in map(Heard.of, recent) for key in heard.keys())
        found += [(position, name) for name, key in Heard.of(track).keys()
                  if getattr(caps, name) is not None and counts[(name, key)] >= getattr(caps, name)]
    return found
