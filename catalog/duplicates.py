"""Duplicates across datasets: finding them, and a curator's decision on each pair.

Exact duplicates (the same bytes, by sha256) are found at intake; a file already in the
same dataset is refused there (intake.DuplicateTrack), one in another dataset is accepted
and paired here. Near duplicates (a re-encoded, resampled or trimmed copy) are found by
the worker once a track's embeddings exist: `find_near_duplicates`, called from the
extraction, compares the track's whole-track embedding (the per-layer track means of its
space) with those of its nearest neighbours in each layer (pgvector's HNSW indices), so
the cost grows with the log of the catalogue, not with it. A pair is always stored newer first.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import DESCRIPTIVE_FIELDS, Track, TrackDuplicate

# The score: the mean over the space's layers of the cosine of the two tracks' track-mean
# vectors. Its spread depends on the encoder, so the threshold is per encoder, measured on
# generated tone-plus-noise tracks (README, "Duplicates across datasets"): copies resampled,
# trimmed by 1 s or Ogg-encoded vs. distinct tracks of the same generator scored
#   classic          copies 0.939-0.981, distinct at most 0.636
#   musicnn          copies 0.996-1.000, distinct at most 0.987
#   musicnn+classic  copies 0.970-0.990, distinct at most 0.816
# MERT could not be measured (no weights here): its spaces take their musicnn counterpart's.
NEAR_DUPLICATE_THRESHOLDS = {
    "classic": 0.90,
    "musicnn": 0.99,
    "musicnn+classic": 0.93,
    "mert": 0.99,
    "mert+classic": 0.93,
}
DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.99


def near_duplicate_threshold(space):
    return NEAR_DUPLICATE_THRESHOLDS.get(space.encoder, DEFAULT_NEAR_DUPLICATE_THRESHOLD)


class DecisionError(Exception):
    """The pair cannot take this decision in its present state; the message says why."""


def _ordered(a_id, b_id):
    return (a_id, b_id) if a_id > b_id else (b_id, a_id)


def _pair(track_id, other_id, *, kind, score):
    """Store the pair (newer, older) unless it is known; an exact finding wins over a near one."""
    newer, older = _ordered(track_id, other_id)
    pair, created = TrackDuplicate.objects.get_or_create(
        track_id=newer, of_track_id=older, defaults={"kind": kind, "score": score}
    )
    if not created and pair.decision == TrackDuplicate.Decision.PENDING and pair.kind == TrackDuplicate.Kind.NEAR:
        TrackDuplicate.objects.filter(pk=pair.pk).update(kind=kind, score=score)
    return pair


def record_exact_duplicates(track):
    """Pair a new track with the tracks of other datasets holding the same bytes; returns them."""
    same = list(Track.objects.filter(sha256=track.sha256).exclude(pk=track.pk).select_related("dataset"))
    for other in same:
        _pair(track.pk, other.pk, kind=TrackDuplicate.Kind.EXACT, score=1.0)
    return same


# A near copy averages at least the threshold (0.9 or more) over the layers, so it is among
# the closest few tracks in nearly every layer: the union of each layer's nearest
# NEAR_CANDIDATES_PER_LAYER is scored exactly, not the whole space.
NEAR_CANDIDATES_PER_LAYER = 20

# A layer whose vector is all zeros (a silent track's) has no cosine: pgvector answers NaN,
# which PostgreSQL sorts above every number; it counts as 0 here.
_NEAR_SQL = """
    SELECT track_id, AVG(cosine) AS score FROM (
        SELECT other.track_id, COALESCE(NULLIF(1 - (other.vector <=> mine.vector), 'NaN'), 0) AS cosine
        FROM {embedding} AS mine
        JOIN {embedding} AS other ON other.space_id = mine.space_id AND other.layer = mine.layer
        JOIN {track} AS t ON t.id = other.track_id
        WHERE mine.track_id = %s AND mine.space_id = %s AND other.track_id = ANY(%s) AND t.sha256 <> %s
    ) AS layers
    GROUP BY track_id
    HAVING AVG(cosine) >= %s
    ORDER BY score DESC
"""


def find_near_duplicates(track, space, threshold=None):
    """Pair `track` with every track whose whole-track embedding in `space` is at least
    `threshold` similar (near_duplicate_threshold(space) by default; tracks with the same
    bytes are exact pairs already); returns [(track id, score)], best first."""
    from analysis.models import TrackEmbedding  # the embeddings' table; no model code

    threshold = near_duplicate_threshold(space) if threshold is None else threshold
    candidates = _nearest_in_some_layer(track, space)
    if not candidates:
        return []
    sql = _NEAR_SQL.format(embedding=TrackEmbedding._meta.db_table, track=Track._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [track.pk, space.pk, candidates, track.sha256, threshold])
        found = [(other_id, min(float(score), 1.0)) for other_id, score in cursor.fetchall()]
    for other_id, score in found:
        _pair(track.pk, other_id, kind=TrackDuplicate.Kind.NEAR, score=score)
    return found


def _nearest_in_some_layer(track, space):
    """The ids of the tracks among the NEAR_CANDIDATES_PER_LAYER nearest to `track` in any
    layer of `space`, from the database's HNSW indices."""
    from analysis.embeddings import track_vectors
    from recommendations import pgsearch  # the recommender's pgvector search; catalog does not import it at load

    vectors = track_vectors(track, space)
    if vectors is None:
        return []
    found = set()
    for layer, vector in enumerate(vectors):
        found.update(
            other for other, _cosine in pgsearch.search(space, layer, vector, NEAR_CANDIDATES_PER_LAYER, exclude=[track.pk])
        )
    return sorted(found)


def pending_duplicates():
    return TrackDuplicate.objects.filter(decision=TrackDuplicate.Decision.PENDING).select_related(
        "track__dataset", "of_track__dataset"
    )


def duplicates_of(track):
    """The pending pairs a track is part of, each as (pair, the other track), for its page."""
    pairs = pending_duplicates().filter(Q(track=track) | Q(of_track=track))
    return [(pair, pair.of_track if pair.track_id == track.pk else pair.track) for pair in pairs]


def keep_both(pair):
    """Both tracks stay; the pair is no longer pending."""
    with transaction.atomic():
        pair = _pending_locked(pair)
        pair.decision = TrackDuplicate.Decision.KEPT
        pair.decided_at = timezone.now()
        pair.save(update_fields=["decision", "decided_at"])
    return pair


def _pending_locked(pair):
    """The pair's row, locked against a concurrent decision; DecisionError unless pending."""
    current = TrackDuplicate.objects.select_for_update().filter(pk=pair.pk).first()
    if current is None:
        raise DecisionError("This pair is gone: one of its tracks was merged or deleted.")
    if current.decision != TrackDuplicate.Decision.PENDING:
        raise DecisionError(f"This pair was already decided ({current.get_decision_display().lower()}).")
    return current


@dataclass
class Merged:
    kept: Track
    deleted_id: int


def merge(pair):
    """Keep the older track (`of_track`), delete the newer one (`track`).

    What moves to the older track: the descriptive fields it lacks (a blank title, composer,
    year, ... taken from the newer one) and the newer track's other duplicate pairs, so a
    third copy stays listed against the track that remains (exact when it has the older
    track's bytes, else near with the weaker of the two links' scores). Then the newer track
    goes through intake.delete_track, the one deletion path: its embeddings, jobs and this pair
    cascade, and its files (audio unless another track shares the bytes, peaks, features)
    are removed after commit by the deletion signals.
    """
    from catalog.intake import delete_track  # intake pairs exact duplicates through this module

    with transaction.atomic():
        pair = _pending_locked(pair)
        newer = Track.objects.select_for_update().get(pk=pair.track_id)
        older = Track.objects.select_for_update().get(pk=pair.of_track_id)
        blank = (None, "")
        missing = [f for f in DESCRIPTIVE_FIELDS if getattr(older, f) in blank and getattr(newer, f) not in blank]
        for field in missing:
            setattr(older, field, getattr(newer, field))
        if missing:
            older.save(update_fields=[*missing, "updated_at"])
        others = TrackDuplicate.objects.filter(Q(track=newer) | Q(of_track=newer)).exclude(pk=pair.pk)
        for other in list(others):
            third = other.of_track_id if other.track_id == newer.pk else other.track_id
            if third == older.pk:
                continue
            if Track.objects.filter(pk=third, sha256=older.sha256).exists():
                kind, score = TrackDuplicate.Kind.EXACT, 1.0
            else:  # through the merged track: the weaker link's score, until measured directly
                kind, score = TrackDuplicate.Kind.NEAR, min(other.score, pair.score)
            moved = _pair(older.pk, third, kind=kind, score=score)
            if other.decision != TrackDuplicate.Decision.PENDING:
                TrackDuplicate.objects.filter(pk=moved.pk).update(decision=other.decision, decided_at=other.decided_at)
        deleted_id = newer.pk
        delete_track(newer)
    return Merged(kept=older, deleted_id=deleted_id)


def can_decide_duplicates(user):
    """Curators: staff who may change duplicate pairs and delete tracks (a merge deletes one)."""
    return bool(
        user and user.is_active and user.is_staff
        and user.has_perms(["catalog.change_trackduplicate", "catalog.delete_track"])
    )
