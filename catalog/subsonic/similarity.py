"""getSonicSimilarTracks and findSonicPath (OpenSubsonic's sonicSimilarity extension),
getSimilarSongs, getSimilarSongs2, getTopSongs, and getArtistInfo(2) / getAlbumInfo(2).

Similar means what it means everywhere in MESS: the recommender's score, a weighted sum of
per-layer cosines (weights summing to 1, so in [-1, 1]), by the default aspect or by the one a
client names with MESS's own `aspect=` parameter (players that do not know it never send it; an
unknown one is error 0 naming the known ones).
- `similarity` (OpenSubsonic: 1 the same song, 0 the most different) is the score's closeness
  in its space (recommendations/calibration.py): the share of pairs of catalogue tracks that
  score no higher by the same aspect. 0.99 means closer than 99 % of pairs; the same recording
  is 1. A raw cosine would not do: in a space whose vectors share one cone every pair scores
  above 0.9, and a player would show every track as 95 % alike. With fewer than two analysed
  tracks there are no pairs to measure by, and it is (1 + score) / 2. For a path it is each
  song's similarity to the start song, as the specification says.
- A path is findSonicPath's `count` songs in all: the start song, then MESS's listening path
  (recommendations/listening/paths.py: steps towards slerped targets, caps on composer, work and
  album), then the end song. `count` below 2 still answers both ends.
- getSimilarSongs(2) for a song is its similar tracks; for an album or an artist, the tracks
  nearest the mean direction of its analysed tracks (up to MAX_GROUP_SEED of them), its own
  tracks among them (Subsonic's "songs by the artist and similar artists"). Various Artists
  plays nothing itself: its similar songs are none.
- A song MESS cannot compare yet (not analysed in the active embedding space, or no space at
  all) gets an empty answer, not an error: what Navidrome answers when it cannot, and what a
  player shows as "nothing similar" rather than as a failure.
- getArtistInfo(2)'s similar artists sound alike: the artists of the songs most similar to
  the artist's own (getSimilarSongs of the artist), in order of their first appearance, the
  artist itself and Various Artists left out. MESS keeps no biographies or pictures, so that is
  all an artist's (and an album's) info holds.
- getTopSongs orders an artist's songs by the caller's plays (scrobbles), then by title;
  `id` belongs to the topSongsByArtistId extension, which MESS does not advertise.
"""

import numpy as np
from django.db.models import Count, Q

from analysis.models import TrackEmbedding
from catalog.models import Track
from catalog.subsonic.library import (
    ALBUM_PREFIX,
    ARTIST,
    ARTIST_PREFIX,
    VARIOUS_ARTISTS,
    artist_entry,
    artist_folder_entry,
    artist_of,
    artist_songs,
    artists,
    parse_album_id,
    parse_artist_id,
    parse_song_id,
    resolve_item,
    song_entries,
    songs,
)
from catalog.subsonic.protocol import GENERIC, SubsonicError
from recommendations.calibration import TIE, closeness, pair_scores
from recommendations.listening.paths import MAX_STEPS, track_path
from recommendations.listening.radio import Seed, seed_vectors
from recommendations.recommender import (
    MAX_K,
    RecommendationError,
    prepare_query,
    query_units,
    query_vectors,
    similar_to_vectors,
    similar_tracks,
)

MAX_COUNT = 500  # as Navidrome caps its lists
MAX_GROUP_SEED = 100  # an album's or artist's first tracks (by id) make its seed
SIMILAR_ARTIST_SONGS = 200  # the similar songs whose artists are an artist's similar artists
# Refusals that mean "nothing to compare yet" rather than a wrong request.
CANNOT_COMPARE = {"no_space", "no_embeddings"}


def similarity(score, pair_scores):
    """OpenSubsonic's similarity in [0, 1] of a weighted cosine: 1 for the same recording,
    else its closeness among the space's `pair_scores`, or (1 + score) / 2 without them."""
    if score >= 1.0 - TIE:
        return 1.0
    found = closeness(score, pair_scores)
    return round(min(max((1.0 + score) / 2.0 if found is None else found, 0.0), 1.0), 4)


def get_sonic_similar_tracks(call):
    track = parse_song_id(call.params.required("id"))
    count = call.params.int("count", 10, maximum=MAX_COUNT)
    aspect = _aspect(call)
    return _matches(call.user, _comparing(lambda: similar_to_track(track, aspect=aspect, count=count)), aspect)


def find_sonic_path(call):
    start = parse_song_id(call.params.required("startSongId"))
    end = parse_song_id(call.params.required("endSongId"))
    count = call.params.int("count", 25, minimum=2, maximum=MAX_STEPS + 2)
    aspect = _aspect(call)
    return _matches(call.user, _comparing(lambda: sonic_path(start, end, aspect=aspect, count=count)), aspect)


def sonic_path(start, end, *, aspect, count):
    """[(track, score to the start)]: `start`, up to count - 2 steps, `end`."""
    space, weights = _by_aspect(aspect)
    start_units, end_units = (query_units(seed_vectors(Seed(track), space, weights), weights) for track in (start, end))
    steps = track_path(start, end, space=space, aspect=aspect, steps=count - 2).steps if count > 2 else []
    to_end = sum(weight * float(np.dot(start_units[layer], end_units[layer])) for layer, weight in weights.items())
    middle = [(step.recommendation.track, step.score_to_start) for step in steps]
    return [(start, 1.0), *_playable(middle), (end, to_end)]


def similar_to_track(track, *, aspect, count):
    """Up to `count` [(track, score)] most similar to `track`."""
    return _pages(lambda k, offset: similar_tracks(track, aspect=aspect, k=k, offset=offset), count)


def similar_to_group(tracks, *, aspect, count):
    """Up to `count` [(track, score)] nearest the mean direction of `tracks`' vectors."""
    space, weights = _by_aspect(aspect)
    analysed = tracks.filter(pk__in=TrackEmbedding.objects.filter(space=space).values("track_id"))
    units = [query_units(query_vectors(track, space, weights), weights)
             for track in analysed.order_by("pk")[:MAX_GROUP_SEED]]
    if not units:
        raise RecommendationError("no_embeddings", f"None of these tracks has embeddings in {space} yet.")
    mean = {layer: np.mean([unit[layer] for unit in units], axis=0) for layer in weights}
    return _pages(lambda k, offset: similar_to_vectors(mean, space=space, aspect=aspect, k=k, offset=offset), count)


def _pages(find, count):
    """Up to `count` playable [(track, score)] from find(k, offset), read page by page (a
    page holds at most MAX_K)."""
    found, offset = [], 0
    while offset is not None and len(found) < count:
        page = find(min(MAX_K, count - len(found)), offset)
        found += _playable((r.track, r.score) for r in page.results)
        offset = page.next_offset
    return found


def _similar_songs(call, element):
    item = resolve_item(call.params.required("id"))
    count = call.params.int("count", 50, maximum=MAX_COUNT)
    aspect = _aspect(call)
    if item.track is not None:
        found = _comparing(lambda: similar_to_track(item.track, aspect=aspect, count=count))
    else:
        found = _comparing(lambda: similar_to_group(_group_tracks(item.id), aspect=aspect, count=count))
    return {element: {"song": song_entries(call.user, [track for track, _score in found])}}


def get_similar_songs(call):
    return _similar_songs(call, "similarSongs")


def get_similar_songs2(call):
    return _similar_songs(call, "similarSongs2")


def get_top_songs(call):
    name = call.params.required("artist")
    count = call.params.int("count", 50, maximum=MAX_COUNT)
    # The caller's own plays: everyone's would tell one listener what another plays.
    tracks = (songs().annotate(artist_name=ARTIST, plays_count=Count("plays", filter=Q(plays__user=call.user)))
              .filter(artist_name__iexact=name).order_by("-plays_count", "title", "pk")[:count])
    return {"topSongs": {"song": song_entries(call.user, tracks)}}


def _group_tracks(item_id):
    """The songs an album or artist id groups (none for Various Artists, who plays nothing itself)."""
    if item_id.startswith(ALBUM_PREFIX):
        return parse_album_id(item_id).tracks()
    return artist_songs(parse_artist_id(item_id))


def _by_aspect(aspect):
    """(the active space, its layer -> weight for `aspect`, the default when None)."""
    space, weights, _description = prepare_query(None, layer=None, aspect=aspect, mix=None, k=1, diversity=0.0)
    return space, weights


def _aspect(call):
    return call.params.get("aspect") or None


def _comparing(find):
    """find()'s answer; nothing when there is nothing to compare yet; a wrong request as error 0."""
    try:
        return find()
    except RecommendationError as error:
        if error.code in CANNOT_COMPARE:
            return []
        raise SubsonicError(GENERIC, error.message) from error


def similar_artists(name, *, aspect, count):
    """Up to `count` artist names that sound like `name`, most alike first."""
    if name == VARIOUS_ARTISTS:
        return []
    found = _comparing(lambda: similar_to_group(artist_songs(name), aspect=aspect, count=SIMILAR_ARTIST_SONGS))
    alike = dict.fromkeys(artist_of(track) for track, _score in found)  # ordered, each once
    return [other for other in alike if other not in (name, VARIOUS_ARTISTS)][:count]


def _artist_info(call, element, shape):
    item = resolve_item(call.params.required("id"))
    if item.track is not None or not item.id.startswith(ARTIST_PREFIX):
        raise SubsonicError(GENERIC, "getArtistInfo takes an artist id (ar-...).")
    names = similar_artists(parse_artist_id(item.id), aspect=_aspect(call),
                            count=call.params.int("count", 20, maximum=MAX_COUNT))
    album_counts = artists(songs().alias(artist_name=ARTIST).filter(artist_name__in=names))
    return {element: {"similarArtist": [shape(artist_entry(name, album_counts[name])) for name in names]}}


def get_artist_info(call):
    return _artist_info(call, "artistInfo", artist_folder_entry)


def get_artist_info2(call):
    return _artist_info(call, "artistInfo2", lambda entry: entry)


def get_album_info(call):
    resolve_item(call.params.required("id"))  # an album's, or a song's for its album: 70 when unknown
    return {"albumInfo": {}}


def _playable(pairs):
    # A track whose re-extraction failed keeps its older embeddings, but is no song any more.
    return [(track, score) for track, score in pairs if track.status != Track.Status.FAILED]


def _matches(user, pairs, aspect):
    """sonicMatch for [(track, score by `aspect`)]: each song with its similarity."""
    if not pairs:
        return {"sonicMatch": []}
    space, weights = _by_aspect(aspect)
    scale = pair_scores(space, weights)
    entries = song_entries(user, [track for track, _score in pairs])
    return {"sonicMatch": [{"entry": entry, "similarity": similarity(score, scale)}
                           for entry, (_track, score) in zip(entries, pairs)]}


ENDPOINTS = {
    "getSonicSimilarTracks": get_sonic_similar_tracks,
    "findSonicPath": find_sonic_path,
    "getSimilarSongs": get_similar_songs,
    "getSimilarSongs2": get_similar_songs2,
    "getTopSongs": get_top_songs,
    "getArtistInfo": get_artist_info,
    "getArtistInfo2": get_artist_info2,
    "getAlbumInfo": get_album_info,
    "getAlbumInfo2": get_album_info,
}
