"""The catalogue as Subsonic sees it: songs, albums and artists, and their ids.

MESS has tracks, not albums or artists, so both are groupings of tracks, decided here once:
- a song is a track that did not fail (its id is the track's pk);
- its artist is the performer, else the composer, else "Unknown artist": for recorded music
  the one who plays, for a score rendered or a composer's catalogue the composer;
- its album is, within its dataset, the album tag; else the work (with its composer: two
  composers' "Sonata No. 1" are two albums); else the dataset itself, for tracks with
  neither. An album's artist is its tracks' one artist, else "Various Artists";
- an artist's albums are those they play on (any of its tracks), so that every song's and
  every album's artist opens onto albums holding it; "Various Artists" has the albums of
  several artists. A music folder is a dataset (its pk is the folder id).
Album and artist ids carry what they group (base64 of it, prefixed `al-` / `ar-`), so any
process can answer for them without a table to keep in step with the tracks; a malformed
id is simply not found.
"""

import base64
import binascii
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Case, CharField, Count, F, Func, Max, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import Contains, GreaterThan

from catalog.audio import ACCEPTED_FORMATS, EXTENSIONS
from catalog.models import Dataset, Play, Star, Track
from catalog.subsonic.protocol import LARGEST_INT, not_found

UNKNOWN_ARTIST = "Unknown artist"
VARIOUS_ARTISTS = "Various Artists"
ARTIST_PREFIX, ALBUM_PREFIX = "ar-", "al-"
IGNORED_ARTICLES = ("The", "El", "La", "Los", "Las", "Le", "Les")


def songs():
    """Every track a player may see: all but those that failed (no playable audio)."""
    return Track.objects.exclude(status=Track.Status.FAILED).select_related("dataset")


def in_folder(tracks, params):
    """`tracks` limited to the music folder (dataset) named by `musicFolderId`, if any;
    SubsonicError 70 for a folder that does not exist."""
    folder = params.int("musicFolderId")
    if folder is None:
        return tracks
    if not Dataset.objects.filter(pk=folder).exists():
        raise not_found("Music folder")
    return tracks.filter(dataset_id=folder)


# --- grouping expressions, evaluated by the database ------------------------------------

ARTIST = Case(
    When(~Q(performer=""), then=F("performer")),
    When(~Q(composer=""), then=F("composer")),
    default=Value(UNKNOWN_ARTIST),
    output_field=CharField(),
)
ALBUM_KIND = Case(
    When(~Q(album=""), then=Value("album")),
    When(~Q(work=""), then=Value("work")),
    default=Value("dataset"),
    output_field=CharField(),
)
ALBUM_NAME = Case(
    When(~Q(album=""), then=F("album")),
    When(~Q(work=""), then=F("work")),
    default=F("dataset__name"),
    output_field=CharField(),
)
# A work's composer is part of its album's identity; an album tag's or a dataset's is not.
ALBUM_COMPOSER = Case(When(Q(album="") & ~Q(work=""), then=F("composer")), default=Value(""), output_field=CharField())
# The whole identity as one SQL row value, to count distinct albums (a genre's).
ALBUM_IDENTITY = Func(F("dataset_id"), ALBUM_KIND, ALBUM_NAME, ALBUM_COMPOSER, function="ROW", output_field=CharField())


@dataclass(frozen=True)
class AlbumKey:
    dataset_id: int
    kind: str  # "album", "work" or "dataset"
    name: str
    composer: str = ""

    @property
    def id(self):
        return ALBUM_PREFIX + _encode([self.dataset_id, self.kind, self.name, self.composer])

    @property
    def q(self):
        """The condition on tracks that selects this album's."""
        if self.kind == "album":
            return Q(dataset_id=self.dataset_id, album=self.name)
        if self.kind == "work":
            return Q(dataset_id=self.dataset_id, album="", work=self.name, composer=self.composer)
        return Q(dataset_id=self.dataset_id, album="", work="")

    def tracks(self, queryset=None):
        return (queryset if queryset is not None else songs()).filter(self.q)


def artist_id(name):
    return ARTIST_PREFIX + _encode(name)


def artist_of(track):
    return track.performer or track.composer or UNKNOWN_ARTIST


def album_of(track):
    if track.album:
        return AlbumKey(track.dataset_id, "album", track.album)
    if track.work:
        return AlbumKey(track.dataset_id, "work", track.work, track.composer)
    return AlbumKey(track.dataset_id, "dataset", track.dataset.name)


def parse_artist_id(value):
    """The artist name an `ar-` id stands for; SubsonicError 70 when malformed."""
    name = _decode(value, ARTIST_PREFIX)
    if not isinstance(name, str) or not name:
        raise not_found("Artist")
    return name


def parse_album_id(value):
    """The AlbumKey an `al-` id stands for; SubsonicError 70 when malformed."""
    fields = _decode(value, ALBUM_PREFIX)
    if (not isinstance(fields, list) or len(fields) != 4 or not isinstance(fields[0], int)
            or fields[1] not in ("album", "work", "dataset") or not all(isinstance(f, str) for f in fields[2:])):
        raise not_found("Album")
    return AlbumKey(*fields)


def parse_pk(value):
    """The row id `value` spells in decimal ASCII digits, up to LARGEST_INT; else None
    (digits of other scripts too: "٣" is no 3). The length is checked before int(), which
    is slow on thousands of digits."""
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > len(str(LARGEST_INT)):
        return None
    number = int(value)
    return number if number <= LARGEST_INT else None


def parse_song_id(value):
    """The track a song id names (a pk in decimal); SubsonicError 70 when there is none."""
    pk = parse_pk(value)
    track = songs().filter(pk=pk).first() if pk is not None else None
    if track is None:
        raise not_found("Song")
    return track


def _encode(value):
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(value, prefix):
    if not value.startswith(prefix) or len(value) > MAX_ID_LENGTH:
        return None
    body = value[len(prefix):]
    try:
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def _longest_id():
    """The length of the longest id _encode can make from the catalogue's fields, with
    base64's padding (players may send it)."""
    def longest(model, field):
        # A control character takes the most room in JSON ("\u0001": six bytes); PostgreSQL
        # stores any but NUL.
        return "\x01" * model._meta.get_field(field).max_length

    album_name = max(longest(Track, "album"), longest(Track, "work"), longest(Dataset, "name"), key=len)
    album = ALBUM_PREFIX + _encode([-(2**63), "dataset", album_name, longest(Track, "composer")])
    artist = ARTIST_PREFIX + _encode(max(longest(Track, "performer"), longest(Track, "composer"), key=len))
    return max(len(album), len(artist)) + 2


MAX_ID_LENGTH = _longest_id()  # a longer id is refused before decoding


# --- any id a player holds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str  # as library.py writes it, whatever spelling the player sent
    track: object = None  # the track, for a song


def resolve_item(value):
    """The song, album or artist `value` names; SubsonicError 70 when it names nothing
    (a malformed id, a failed track, an album or artist without songs)."""
    return resolve_items([value])[0]


def resolve_items(values):
    """resolve_item of each of `values`, in order, 70 for the first that names nothing; the
    songs among them in one query, the artists in one (two with Various Artists)."""
    album_keys = {value: parse_album_id(value) for value in values if value.startswith(ALBUM_PREFIX)}
    artist_names = {value: parse_artist_id(value) for value in values if value.startswith(ARTIST_PREFIX)}
    tracks = _songs_by_id(values)
    playing = _artists_with_songs(set(artist_names.values()))

    def item(value):
        if value in album_keys:
            key = album_keys[value]
            if not key.tracks().exists():  # by the album's own columns: cheap
                raise not_found("Album")
            return Item(key.id)
        if value in artist_names:
            if artist_names[value] not in playing:
                raise not_found("Artist")
            return Item(artist_id(artist_names[value]))
        if value not in tracks:
            raise not_found("Song")
        return Item(str(tracks[value].pk), tracks[value])

    return [item(value) for value in values]


def resolve_songs(values):
    """The tracks these song ids name, in order (repeats kept); 70 for the first that names none."""
    found = _songs_by_id(values)
    return [found.get(value) or parse_song_id(value) for value in values]


def _songs_by_id(values):
    """{each of `values` that names a song: its track}, in one query."""
    pks = {value: parse_pk(value) for value in values}
    tracks = songs().in_bulk({pk for pk in pks.values() if pk is not None})
    return {value: tracks[pk] for value, pk in pks.items() if pk in tracks}


def artist_songs(name):
    """The songs of artist `name` (none for Various Artists, who plays nothing itself)."""
    return songs().alias(artist_name=ARTIST).filter(artist_name=name)


def _artists_with_songs(names):
    """Those of `names` that are some song's artist, in one query (the artist is computed per
    track, so each name asked alone would read every track again); Various Artists when an
    album has several, as by_artist selects it."""
    if not names:
        return set()
    found = set(songs().order_by().annotate(artist_name=ARTIST).filter(artist_name__in=names)
                .values_list("artist_name", flat=True).distinct())
    if VARIOUS_ARTISTS in names - found and albums().filter(by_artist(VARIOUS_ARTISTS)).exists():
        found.add(VARIOUS_ARTISTS)
    return found


# --- the user's own marks ---------------------------------------------------------------


def starred_at(user, ids):
    """{Subsonic id: when `user` starred it} for those of `ids` they starred."""
    return dict(Star.objects.filter(user=user, item__in=list(ids)).values_list("item", "created_at"))


def play_counts(user, track_ids):
    """{track pk: how often `user` played it} for those of `track_ids` they played."""
    plays = Play.objects.filter(user=user, track_id__in=list(track_ids)).values("track_id").annotate(n=Count("id"))
    return {row["track_id"]: row["n"] for row in plays}


def song_entries(user, tracks):
    """song_entry for each of `tracks`, with `user`'s stars and play counts: two queries."""
    tracks = list(tracks)
    stars = starred_at(user, (str(track.pk) for track in tracks))
    plays = play_counts(user, (track.pk for track in tracks))
    return [song_entry(track, starred=stars.get(str(track.pk)), play_count=plays.get(track.pk, 0)) for track in tracks]


# --- what a client receives -------------------------------------------------------------


def song_entry(track, *, starred=None, play_count=None):
    """A track as a Subsonic `Child` (a song), with OpenSubsonic's audio details."""
    album, artist = album_of(track), artist_of(track)
    suffix = EXTENSIONS.get(track.format, track.format.lower())
    return {
        "id": str(track.pk),
        "parent": album.id,
        "isDir": False,
        "title": track.title,
        "album": album.name,
        "artist": artist,
        "track": track.track_number,
        "year": track.year,
        "genre": track.genre or None,
        "coverArt": album.id,
        "size": track.size_bytes,
        "contentType": ACCEPTED_FORMATS.get(track.format, "application/octet-stream"),
        "suffix": suffix,
        "duration": round(track.duration),
        "bitRate": round(track.size_bytes * 8 / 1000 / track.duration) if track.duration > 0 else None,
        "path": f"{track.dataset.name}/{track.file_name}",
        "isVideo": False,
        "playCount": play_count,
        "created": iso(track.created_at),
        "starred": iso(starred) if starred else None,
        "albumId": album.id,
        "artistId": artist_id(artist),
        "type": "music",
        # OpenSubsonic additions
        "mediaType": "song",
        "samplingRate": track.sample_rate,
        "channelCount": track.channels,
        "displayComposer": track.composer or None,
    }


def albums(queryset=None, *, user=None):
    """Every album among `queryset`'s tracks (default: all songs), as rows with what an
    AlbumID3 needs, grouped by the database; a queryset of dicts to order and slice.
    Album-wide values a track also has are prefixed `a_`, so that filters can still name
    the tracks' own (`genre`, `year`).
    With `user`, also how often they played its songs (play_count) and when last (played)."""
    tracks = queryset if queryset is not None else songs()
    mine = {}
    if user is not None:
        # Per track first, then summed per album: joining the plays would multiply the songs.
        plays = Play.objects.filter(user=user, track=OuterRef("pk")).order_by().values("track")
        tracks = tracks.annotate(
            user_plays=Subquery(plays.annotate(n=Count("id")).values("n")),
            user_played=Subquery(plays.annotate(last=Max("played_at")).values("last")),
        )
        mine = {"play_count": Coalesce(Sum("user_plays"), 0), "played": Max("user_played")}
    return (
        tracks.annotate(a_kind=ALBUM_KIND, a_name=ALBUM_NAME, a_composer=ALBUM_COMPOSER)
        .values("dataset_id", "a_kind", "a_name", "a_composer")
        .annotate(
            song_count=Count("id"), seconds=Coalesce(Sum("duration"), 0.0), created=Min("created_at"),
            a_year=Max("year"), a_genre=Max("genre"), artists=ArrayAgg(ARTIST, distinct=True),
            album_artist=Case(When(GreaterThan(Count(ARTIST, distinct=True), 1), then=Value(VARIOUS_ARTISTS)),
                              default=Min(ARTIST)),
            **mine,
        )
        .order_by(*ALBUM_ORDER)
    )


# A total order of albums() rows by name, for pages that never share an album.
ALBUM_ORDER = (Lower("a_name"), "a_name", "dataset_id", "a_composer", "a_kind")


def by_artist(name):
    """The condition on albums() rows that selects the albums `name` plays on (for Various
    Artists, also every album of several artists)."""
    plays_on = Q(artists__contains=[name])
    return plays_on | Q(artists__len__gt=1) if name == VARIOUS_ARTISTS else plays_on


def artists(queryset=None):
    """{artist name: how many albums they play on} among `queryset`'s tracks, counted as
    by_artist selects them: one pass over albums()."""
    counts = Counter()
    for row in albums(queryset):
        counts.update(row["artists"])
        if len(row["artists"]) > 1 and VARIOUS_ARTISTS not in row["artists"]:
            counts[VARIOUS_ARTISTS] += 1
    return counts


def album_key(row):
    return AlbumKey(row["dataset_id"], row["a_kind"], row["a_name"], row["a_composer"])


def album_entry(row, *, starred=None):
    """An album row of albums() as an AlbumID3."""
    key, artist = album_key(row), row["album_artist"]
    return {
        "id": key.id,
        "name": key.name,
        "artist": artist,
        "artistId": artist_id(artist),
        "coverArt": key.id,
        "songCount": row["song_count"],
        "duration": round(row["seconds"]),
        "playCount": row.get("play_count"),
        "created": iso(row["created"]),
        "starred": iso(starred) if starred else None,
        "year": row["a_year"],
        "genre": row["a_genre"] or None,
        "played": iso(row["played"]) if row.get("played") else None,  # OpenSubsonic
    }


def album_child(row, *, starred=None):
    """An album row of albums() as a directory `Child`, for the folder-based endpoints."""
    album = album_entry(row, starred=starred)
    return {
        "id": album["id"], "parent": album["artistId"], "isDir": True, "title": album["name"],
        "album": album["name"], "artist": album["artist"], "year": album["year"], "genre": album["genre"],
        "coverArt": album["coverArt"], "duration": album["duration"], "playCount": album["playCount"],
        "created": album["created"], "starred": album["starred"], "artistId": album["artistId"],
    }


def artist_entry(name, album_count, *, starred=None):
    """An artist as an ArtistID3 (its cover is drawn from its id, as an album's is)."""
    return {
        "id": artist_id(name), "name": name, "coverArt": artist_id(name), "albumCount": album_count,
        "starred": iso(starred) if starred else None,
    }


def artist_folder_entry(artist):
    """An ArtistID3 (artist_entry) cut down to the folder-based endpoints' Artist."""
    return {"id": artist["id"], "name": artist["name"], "starred": artist["starred"]}


# --- matching what people type ----------------------------------------------------------

# Latin letters with accents (and the few with a stroke instead: ø, ł, đ) to their plain
# letter, so that "dvorak" finds "Dvořák". Applied by the database to the catalogue's text
# (fold_sql) and by Python to names already loaded (fold): the same table, so both agree.
def _plain_letter(char):
    base, *marks = unicodedata.normalize("NFKD", char)
    return base if marks and base.isascii() and base.isalpha() else None


_PLAIN = {char: _plain_letter(char) for char in map(chr, range(0xC0, 0x250)) if _plain_letter(char)}
_PLAIN.update({"Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d"})
_FROM, _TO = "".join(_PLAIN), "".join(_PLAIN.values())
_TABLE = str.maketrans(_PLAIN)


def fold_sql(expression):
    """`expression` in lower case without accents, computed by the database (translate() is
    built in, unlike the unaccent extension)."""
    return Lower(Func(expression, Value(_FROM), Value(_TO), function="TRANSLATE", output_field=CharField()))


def fold(text):
    """`text` as fold_sql folds it, in Python."""
    return text.translate(_TABLE).lower()


def sort_name(name):
    """How lists sort an artist's name: without a leading article, accents or case."""
    first, _, rest = name.partition(" ")
    return fold(rest if rest and first.casefold() in {a.casefold() for a in IGNORED_ARTICLES} else name)


def contains_words(expression, words):
    """A condition true where `expression` contains every word (folded both sides by the
    database), so that "bach fugue" finds Bach's fugues, not all of Bach."""
    return Q(*(Contains(fold_sql(expression), fold_sql(Value(word))) for word in words))


def iso(moment):
    """xs:dateTime in UTC, as every Subsonic server writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
