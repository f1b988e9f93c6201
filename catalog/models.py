from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import MD5
from django.urls import reverse


class Dataset(models.Model):
    class SourceKind(models.TextChoices):
        UPLOAD = "upload", "Uploads"
        FOLDER = "folder", "Folder of audio"
        SMD = "smd", "Saarland Music Data"
        MAESTRO = "maestro", "MAESTRO"
        DEMO = "demo", "Demo corpus"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.UPLOAD)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


# What people describe a recording with: set at intake from the file's tags, a sidecar or
# the uploader, and editable by curators afterwards (admin, track page, API).
DESCRIPTIVE_FIELDS = ("title", "composer", "work", "performer", "album", "year", "genre", "track_number")


class Track(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="tracks")
    title = models.CharField(max_length=300)
    composer = models.CharField(max_length=200, blank=True, db_index=True)
    work = models.CharField(max_length=300, blank=True, help_text="Work or opus, e.g. BWV 849.")
    # The tags' "artist" (ID3 TPE1, Vorbis ARTIST) lands here: for recorded music the
    # artist is who plays, and one field keeps the performer filter and display whole.
    performer = models.CharField(max_length=200, blank=True, help_text="Who plays; the tags' artist.")
    album = models.CharField(max_length=300, blank=True)
    year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(9999)],
        help_text="Year of the recording or release.",
    )
    genre = models.CharField(max_length=100, blank=True)
    track_number = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Position on its album, from 1."
    )
    external_id = models.CharField(
        max_length=500, blank=True, help_text="Identifier in the source dataset (file name, MAESTRO path, ...)."
    )
    # Where the bytes live: `audio_path` inside the managed storage (content-addressed,
    # shared by every track with the same bytes) or, for datasets imported in place,
    # relative to `audio_root` on this host's filesystem.
    audio_path = models.CharField(max_length=500)
    audio_root = models.CharField(max_length=500, blank=True, help_text="Set when the file is referenced in place.")
    sha256 = models.CharField(max_length=64, db_index=True)
    duration = models.FloatField(help_text="Seconds.")
    sample_rate = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    format = models.CharField(max_length=10)
    size_bytes = models.PositiveBigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True, help_text="Why the last processing attempt failed, for people.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset__name", "composer", "title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "sha256"], name="track_unique_audio_per_dataset"),
        ]
        indexes = [models.Index(fields=["dataset", "external_id"])]

    def __str__(self):
        return f"{self.composer}: {self.title}" if self.composer else self.title

    def get_absolute_url(self):
        return reverse("catalog:track-detail", args=[self.pk])

    @property
    def storage(self):
        if self.audio_root:
            return FileSystemStorage(location=self.audio_root)
        return default_storage

    @property
    def file_name(self):
        return Path(self.audio_path).name


class TrackDuplicate(models.Model):
    """Two tracks that are (or sound like) the same recording, for a curator to decide on.

    `track` is the newer of the two (the higher id), `of_track` the older. Exact pairs are
    recorded at intake (same sha256, other dataset: the same dataset refuses the file);
    near pairs by the worker after extraction (catalog/duplicates.py). Merging deletes the
    newer track, and this row with it, so a stored decision is only ever pending or kept.
    """

    class Kind(models.TextChoices):
        EXACT = "exact", "Same audio (content hash)"
        NEAR = "near", "Near duplicate (embeddings)"

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        KEPT = "kept", "Kept both"

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="duplicate_of_pairs")
    of_track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="duplicated_by_pairs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    score = models.FloatField(help_text="1 for the same bytes; else the whole-track embedding similarity.")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["track", "of_track"], name="duplicate_unique_pair"),
            models.CheckConstraint(condition=models.Q(track__gt=models.F("of_track")), name="duplicate_newer_first"),
        ]

    def __str__(self):
        return f"Track {self.track_id} {self.get_kind_display().lower()} of track {self.of_track_id}"


class Playlist(models.Model):
    """An ordered list of tracks kept by a user: private unless made public, and readable
    by anyone holding its share token while link sharing is on (catalog/playlists/)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="playlists")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    public = models.BooleanField(default=False, help_text="Listed for, and readable by, everyone.")
    # Null while link sharing is off; a fresh token each time it is turned on, so turning it
    # off and on again revokes the links handed out before.
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("playlists:detail", args=[self.pk])

    @property
    def link_sharing(self):
        return self.share_token is not None


class PlaylistEntry(models.Model):
    """One place in a playlist: positions run 0..n-1 without gaps (catalog/playlists/services.py
    keeps them so, and closes the gap when a track is deleted); a track may appear twice."""

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="entries")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="playlist_entries")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["playlist", "position"]
        constraints = [
            # Deferred: a move or renumbering shifts many positions in one statement, and
            # PostgreSQL checks an immediate unique constraint row by row as it goes.
            models.UniqueConstraint(
                fields=["playlist", "position"], name="playlist_entry_unique_position",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        verbose_name_plural = "playlist entries"

    def __str__(self):
        return f"{self.playlist} #{self.position}: {self.track}"


class ApiKey(models.Model):
    """A key a player signs in with (the OpenSubsonic apiKeyAuthentication extension).
    Only its SHA-256 is kept: the key is shown once, when made, and a lost key is revoked
    and replaced, never recovered (catalog/subsonic/keys.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Which player or device uses it.")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell keys apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class Star(models.Model):
    """Something a user starred in a player: a track, or an album or artist by its
    Subsonic id (albums and artists are groupings of tracks, not rows)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    # An album's id carries its name and composer: up to ~4 KB (library.MAX_ID_LENGTH).
    item = models.TextField(help_text="The Subsonic id: a track's pk, or an al-/ar- id.")
    track = models.ForeignKey(Track, null=True, blank=True, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # On the id's digest: a B-tree entry holds at most ~2.7 KB, less than the longest id.
        constraints = [models.UniqueConstraint("user", MD5("item"), name="star_unique_per_user")]


class Play(models.Model):
    """A track a user listened to, as a player reported it (Subsonic `scrobble`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plays")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="plays")
    played_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-played_at", "-id"]
        indexes = [models.Index(fields=["user", "track"])]
