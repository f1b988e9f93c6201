from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from catalog.models import Track


class JobStatus(models.TextChoices):
    """The states of the work done on workers: extraction jobs, search clips, probe runs."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Encoder(models.TextChoices):
    """What turns audio into layer embeddings: MERT (its weights must be had), musicnn (a
    pretrained tagger whose weights ship in its wheel: analysis/musicnn/), classic MIR
    descriptors grouped as layers (analysis/classic.py: no download, a baseline), or a
    stack of them whose space holds every member's layers side by side (analysis/stack.py):
    a learned model's layers for timbre and genre, the classic tonal ones for harmony."""

    MERT = "mert", "MERT"
    MUSICNN = "musicnn", "musicnn"
    CLASSIC = "classic", "Classic MIR descriptors"
    MERT_CLASSIC = "mert+classic", "MERT + classic descriptors"
    MUSICNN_CLASSIC = "musicnn+classic", "musicnn + classic descriptors"


STACK_SEPARATOR = "+"


def stack_members(encoder):
    """The single encoders an encoder name stands for: ["musicnn", "classic"] for a stack."""
    return encoder.split(STACK_SEPARATOR)


# A job may leave the choice to the worker: MERT + classic when MERT's weights load, else
# musicnn + classic, else classic alone (analysis/encoder_choice.py).
AUTO_ENCODER = "auto"
JOB_ENCODER_CHOICES = [
    *Encoder.choices, (AUTO_ENCODER, "Automatic (MERT + classic, else musicnn + classic, else classic)")
]


class EmbeddingSpace(models.Model):
    """One encoder with one set of weights and windowing: vectors are comparable only
    within a space. Spaces of different models or settings coexist; one is active."""

    name = models.CharField(max_length=200)
    encoder = models.CharField(max_length=50, choices=Encoder.choices, default=Encoder.MERT)
    model_id = models.CharField(max_length=300, help_text="Hugging Face id or local directory.")
    revision = models.CharField(max_length=100, blank=True)
    weights_hash = models.CharField(max_length=64)
    num_layers = models.PositiveSmallIntegerField(help_text="Hidden states per window (layers + the input projection).")
    dim = models.PositiveIntegerField()
    sample_rate = models.PositiveIntegerField()
    window_seconds = models.FloatField()
    overlap = models.FloatField()
    layer_names = models.JSONField(default=list, blank=True, help_text="What each layer is, in order.")
    layer_dims = models.JSONField(
        default=list, blank=True,
        help_text="Each layer's own width; its vectors are zero-padded to `dim`. Empty: every layer is `dim` wide.",
    )
    is_active = models.BooleanField(default=False)
    # Moves whenever the space's embeddings change; similarity indices compare it to stay fresh.
    version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["encoder", "model_id", "weights_hash", "window_seconds", "overlap"], name="space_unique_identity"
            ),
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="space_single_active"),
        ]

    def __str__(self):
        return self.name

    def layer_label(self, layer):
        """ "Layer 3", with the space's name for it when it has one ("Layer 3: chroma")."""
        names = self.layer_names or []
        return f"Layer {layer}: {names[layer]}" if layer < len(names) and names[layer] else f"Layer {layer}"

    def layer_labels(self):
        return [self.layer_label(layer) for layer in range(self.num_layers)]

    def layer_dim(self, layer):
        """How many leading dimensions of the layer's vectors carry values (the rest is
        padding, which changes no cosine): what a similarity index needs to hold."""
        return self.layer_dims[layer] if self.layer_dims else self.dim

    @property
    def is_stack(self):
        return STACK_SEPARATOR in self.encoder


class TrackEmbedding(models.Model):
    """A track's time-averaged hidden state for one layer of one space."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="embeddings")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="embeddings")
    layer = models.PositiveSmallIntegerField()
    # No fixed dimension: spaces of different sizes share the table; indices are per space.
    vector = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "track", "layer"], name="embedding_unique_layer")]
        indexes = [models.Index(fields=["space", "layer"])]


class TrackFeatures(models.Model):
    """Where a track's per-window features ([windows, layers, dim], float16 .npy) are stored."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="features")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="features")
    path = models.CharField(max_length=500, help_text="Name in the default storage.")
    num_windows = models.PositiveIntegerField()
    window_starts = models.JSONField(help_text="Start of each window, in seconds.")
    audio_sha256 = models.CharField(max_length=64, help_text="The audio these features were computed from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "track"], name="features_unique_track")]


class TrackTags(models.Model):
    """An encoder's auto-tags for a track in one space (musicnn: the taggram's window mean).
    `scores` keeps every tag the model knows; `tags` the ones a listener would call the
    track's (score >= analysis.tags.TAG_THRESHOLD), best first, indexed for filtering."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="tag_sets")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="track_tags")
    scores = models.JSONField(help_text="{tag: score in [0, 1]} for every tag of the model.")
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "track"], name="tags_unique_track")]
        indexes = [GinIndex(fields=["tags"], name="track_tags_gin")]

    def __str__(self):
        return f"Tags of track {self.track_id} in space {self.space_id}: {', '.join(self.tags)}"


class ExtractionJob(models.Model):
    Status = JobStatus

    ACTIVE_STATES = (Status.QUEUED, Status.RUNNING)

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="extraction_jobs")
    space = models.ForeignKey(EmbeddingSpace, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    encoder = models.CharField(max_length=50, choices=JOB_ENCODER_CHOICES, default=AUTO_ENCODER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    force = models.BooleanField(default=False, help_text="Recompute even when current embeddings exist.")
    progress = models.FloatField(default=0, help_text="Percent of windows done.")
    windows_done = models.PositiveIntegerField(default=0)
    windows_total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    load_seconds = models.FloatField(null=True, blank=True, help_text="Model loading, when this job paid for it.")
    extract_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one queued or running job per track and encoder: requests while one is
            # pending join it.
            models.UniqueConstraint(
                fields=["track", "encoder"], condition=Q(status__in=["queued", "running"]),
                name="job_single_active_per_track_encoder",
            ),
        ]

    def __str__(self):
        return f"Extraction of track {self.track_id} ({self.get_status_display()})"

    @property
    def realtime_factor(self):
        if not self.extract_seconds:
            return None
        return self.track.duration / self.extract_seconds


class ClipQuery(models.Model):
    """A short clip a client searches with: embedded on the ml queue like a track, then
    matched against the catalogue when the client polls."""

    Status = JobStatus

    owner = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.CASCADE, related_name="clips")
    original_name = models.CharField(max_length=300)
    audio_path = models.CharField(max_length=500, blank=True, help_text="The clip in storage until it is embedded.")
    duration = models.FloatField()
    space = models.ForeignKey(EmbeddingSpace, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips")
    features_path = models.CharField(max_length=500, blank=True, help_text="Window means, float16 .npy.")
    window_starts = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Clip {self.original_name} ({self.get_status_display()})"


class ProbeRun(models.Model):
    """Layer discovery on one space: proxy targets computed from the audio, one ridge probe
    per (layer, target) scored by cross-validation grouped by track (analysis/probing.py).
    A finished run is the evidence behind the aspect map (recommendations/aspects.py)."""

    Status = JobStatus

    ACTIVE_STATES = (Status.QUEUED, Status.RUNNING)

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="probe_runs")
    dataset = models.ForeignKey(
        "catalog.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="probe_runs",
        help_text="Only this dataset's tracks; empty: every track with features in the space.",
    )
    targets = models.JSONField(default=list, blank=True, help_text="Target names asked for; empty: all.")
    parameters = models.JSONField(default=dict, blank=True, help_text="folds, inner_folds, alphas, seed.")
    target_specs = models.JSONField(
        default=list, blank=True, help_text="The targets probed: name, aspect, unit, description (set by the worker)."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0, help_text="Percent done.")
    stage = models.CharField(max_length=200, blank=True, help_text="What the run is doing now.")
    error = models.TextField(blank=True)
    tracks = models.PositiveIntegerField(default=0, help_text="Tracks probed.")
    windows = models.PositiveIntegerField(default=0, help_text="Windows probed.")
    skipped = models.JSONField(default=list, blank=True, help_text="[track id, reason] of tracks left out.")
    dropped_targets = models.JSONField(
        default=list, blank=True,
        help_text="[target, reason] of targets left out: values on too few tracks (e.g. MIDI without MIDI files).",
    )
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    weighted = models.JSONField(
        default=dict, blank=True, help_text="Per target: the weighted probe's scores, layer weights and gain."
    )
    baseline = models.JSONField(default=dict, blank=True, help_text="Per target: what chance scores.")
    aspect_choices = models.JSONField(
        default=dict, blank=True,
        help_text="Per aspect: the layers chosen, their retrieval evidence and agreement (analysis/aspect_choice.py).",
    )
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        scope = self.dataset.name if self.dataset_id else "all tracks"
        return f"Probe run {self.pk} on {self.space} ({scope}, {self.get_status_display()})"


class ProbeResult(models.Model):
    """How well one layer predicts one target: means and spreads across the outer folds."""

    run = models.ForeignKey(ProbeRun, on_delete=models.CASCADE, related_name="results")
    layer = models.PositiveSmallIntegerField()
    target = models.CharField(max_length=100)
    r2 = models.FloatField(null=True)
    r2_std = models.FloatField(null=True)
    corr = models.FloatField(null=True)
    corr_std = models.FloatField(null=True)
    rmse = models.FloatField(null=True)
    rmse_std = models.FloatField(null=True)
    alphas = models.JSONField(default=list, help_text="The ridge alpha chosen in each outer fold.")

    class Meta:
        ordering = ["layer", "target"]
        constraints = [models.UniqueConstraint(fields=["run", "layer", "target"], name="probe_result_unique_cell")]
