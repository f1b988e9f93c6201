"""Auto-tags: web-safe (no torch). An encoder with a tag output (musicnn) hands over one
score per tag for a track (the mean of its windows' taggrams); the track is said to have
the tags scoring at least TAG_THRESHOLD."""

from django.db.models import Count, F, Func, Prefetch

from analysis.models import TrackTags

# musicnn's sigmoid outputs are per-tag probabilities trained on sparse labels (a few per
# clip): at 0.2, MTT_musicnn gives each demo track 1 to 4 tags (2.8 on average; 4.7 at
# 0.1, 1.3 and a quarter of the tracks untagged at 0.3).
TAG_THRESHOLD = 0.2


def ranked(scores):
    """The (tag, score) pairs of {tag: score}, best first."""
    return sorted(scores.items(), key=lambda item: -item[1])


def assigned_tags(scores):
    """The tags of {tag: score} at or above TAG_THRESHOLD, best first."""
    return [tag for tag, score in ranked(scores) if score >= TAG_THRESHOLD]


def replace_track_tags(track, space, scores):
    """Store a track's tag scores in `space` (inside the caller's transaction), or remove
    them when `scores` is None (an encoder without tags)."""
    if scores is None:
        TrackTags.objects.filter(track=track, space=space).delete()
        return
    scores = {tag: round(float(score), 4) for tag, score in scores.items()}
    TrackTags.objects.update_or_create(
        track=track, space=space, defaults={"scores": scores, "tags": assigned_tags(scores)}
    )


# --- reading them (the pages, the API, the map): always the tags of one space -------------


def known_tags(space):
    """Every tag the space's model scores, sorted; empty for a space without tags (MERT,
    classic) or with none stored yet. All of a space's rows score the same model's tags."""
    scores = TrackTags.objects.filter(space=space).values_list("scores", flat=True).first() if space else None
    return sorted(scores or ())


def tagged(tracks, space, tags):
    """The tracks (a Track queryset) that carry every one of `tags` in `space`."""
    return tracks.filter(tag_sets__space=space, tag_sets__tags__contains=list(tags))


def tag_counts(tracks, space):
    """[{"tag", "count"}]: how many of `tracks` carry each tag in `space`, most common first."""
    rows = TrackTags.objects.filter(space=space, track__in=tracks.order_by().values("pk"))
    rows = rows.annotate(tag=Func(F("tags"), function="unnest")).values("tag").annotate(count=Count("*"))
    return list(rows.order_by("-count", "tag"))


def with_tags(tracks, space):
    """`tracks` with their tags in `space` prefetched, for tag_scores (one query for all)."""
    return tracks.prefetch_related(
        Prefetch("tag_sets", queryset=TrackTags.objects.filter(space=space), to_attr="space_tags")
    )


def tag_scores(track):
    """[(tag, score)] of the tags `track` carries, best first, from with_tags' prefetch (a
    track read otherwise, such as one just uploaded, has none yet)."""
    tag_sets = getattr(track, "space_tags", None)
    return assigned_scores(tag_sets[0]) if tag_sets else []


def assigned_scores(tag_set):
    """[(tag, score)] of the tags a TrackTags assigns, best first."""
    return [(tag, tag_set.scores[tag]) for tag in tag_set.tags]


def track_tags(track, space):
    """The track's TrackTags in `space`, or None (no space, an encoder without tags, not
    extracted yet)."""
    return TrackTags.objects.filter(track=track, space=space).first() if space else None


def top_tags(space, track_ids):
    """{track id: its best tag in `space`} for those of `track_ids` that carry any."""
    rows = TrackTags.objects.filter(space=space, track_id__in=track_ids).exclude(tags=[])
    return dict(rows.values_list("track_id", "tags__0"))
