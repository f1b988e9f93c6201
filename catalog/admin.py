"""The curators' admin: datasets, tracks and the multi-file upload.

Deletions go through `intake.delete_track` so stored audio goes with its last track.
"""

from collections import Counter

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from analysis.services import request_extraction
from catalog import duplicates, intake
from catalog.forms import TrackAdminForm, TrackUploadForm
from catalog.models import DESCRIPTIVE_FIELDS, Dataset, Playlist, PlaylistEntry, Track, TrackDuplicate
from catalog.templatetags.catalog_format import format_duration


class ExtractionActionsMixin:
    """The extract actions ask what the jobs page and the API ask (analysis.jobs)."""

    def has_extract_permission(self, request):
        from analysis.jobs import can_request_extraction

        return can_request_extraction(request.user)


def queue_extraction(model_admin, request, tracks, *, force):
    jobs = request_extraction(tracks, force=force)
    model_admin.message_user(request, f"Extraction queued for {len(jobs)} track(s).")


@admin.action(description="Extract embeddings (tracks without current ones)", permissions=["extract"])
def extract_tracks(model_admin, request, queryset):
    queue_extraction(model_admin, request, queryset, force=False)


@admin.action(description="Re-extract embeddings (recompute all)", permissions=["extract"])
def reextract_tracks(model_admin, request, queryset):
    queue_extraction(model_admin, request, queryset, force=True)


@admin.action(description="Extract embeddings for every track of the selected datasets", permissions=["extract"])
def extract_datasets(model_admin, request, queryset):
    queue_extraction(model_admin, request, Track.objects.filter(dataset__in=queryset), force=False)


@admin.register(Dataset)
class DatasetAdmin(ExtractionActionsMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "source_kind", "track_count"]
    list_filter = ["source_kind"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    actions = [extract_datasets]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(track_count=Count("tracks"))

    @admin.display(description="tracks", ordering="track_count")
    def track_count(self, dataset):
        return dataset.track_count

    def delete_model(self, request, obj):
        intake.delete_dataset(obj)

    def delete_queryset(self, request, queryset):
        for dataset in queryset:
            intake.delete_dataset(dataset)


class ComposerFilter(admin.SimpleListFilter):
    """Composers by name, plus "Unknown" (the field's own filter shows blanks as an empty link)."""

    title = "composer"
    parameter_name = "composer"
    UNKNOWN = "__unknown__"

    def lookups(self, request, model_admin):
        composers = Track.objects.exclude(composer="").order_by("composer").values_list("composer", flat=True)
        return [*((name, name) for name in composers.distinct()), (self.UNKNOWN, "Unknown")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(composer="" if self.value() == self.UNKNOWN else self.value())


@admin.register(Track)
class TrackAdmin(ExtractionActionsMixin, admin.ModelAdmin):
    form = TrackAdminForm
    list_display = ["title", "composer", "work", "dataset", "status_and_error", "length", "format", "created_at"]
    list_filter = ["dataset", "status", ComposerFilter, "format"]
    list_select_related = ["dataset"]
    search_fields = ["title", "composer", "work", "performer", "album"]
    actions = [extract_tracks, reextract_tracks]
    # Measured from the file or set by the pipeline: editing them would make them lie.
    readonly_fields = [
        "audio_player", "length", "format", "sample_rate", "channels", "size_bytes", "sha256",
        "audio_path", "audio_root", "status", "error", "created_at", "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["dataset", *DESCRIPTIVE_FIELDS, "external_id", "metadata"]}),
        ("Audio", {"fields": [
            "audio_player", "length", "format", "sample_rate", "channels", "size_bytes", "sha256",
            "audio_path", "audio_root",
        ]}),
        ("Processing", {"fields": ["status", "error", "created_at", "updated_at"]}),
    ]

    @admin.display(description="status", ordering="status")
    def status_and_error(self, track):
        if track.status == Track.Status.FAILED and track.error:
            return f"{track.get_status_display()}: {track.error}"
        return track.get_status_display()

    @admin.display(description="duration", ordering="duration")
    def length(self, track):  # a model field's own name would win over this method
        return format_duration(track.duration)

    @admin.display(description="listen")
    def audio_player(self, track):
        src = reverse("catalog:track-audio", args=[track.pk])
        return format_html('<audio controls preload="metadata" src="{}"></audio>', src)

    def get_urls(self):
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="catalog_track_upload")
        return [upload, *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        # A track is made from an audio file, so "add" means the upload page.
        return redirect("admin:catalog_track_upload")

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TrackUploadForm(request.POST, request.FILES) if request.method == "POST" else TrackUploadForm()
        outcomes = form.save() if form.is_bound and form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload audio",
            "opts": self.opts,
            "form": form,
            "outcomes": outcomes,
            "counts": Counter(outcome.result for outcome in outcomes or ()),
        }
        return TemplateResponse(request, "admin/catalog/track/upload.html", context)

    def delete_model(self, request, obj):
        intake.delete_track(obj)

    def delete_queryset(self, request, queryset):
        for track in queryset:
            intake.delete_track(track)


@admin.action(description="Keep both tracks of the selected pairs", permissions=["decide"])
def keep_both(model_admin, request, queryset):
    decide(model_admin, request, queryset, duplicates.keep_both, "kept both")


@admin.action(description="Merge the selected pairs (keep the older track, delete the newer)", permissions=["decide"])
def merge(model_admin, request, queryset):
    decide(model_admin, request, queryset, duplicates.merge, "merged")


def decide(model_admin, request, queryset, decision, done):
    """One decision per pair, each on its own: a pair already decided, or gone because an
    earlier merge in the same batch deleted its track, is reported and skipped."""
    count, skipped = 0, []
    for pair_id in list(queryset.values_list("pk", flat=True)):
        pair = TrackDuplicate.objects.filter(pk=pair_id).first()
        if pair is None:
            skipped.append(f"pair {pair_id}: gone with a merged track")
            continue
        try:
            decision(pair)
        except duplicates.DecisionError as exc:
            skipped.append(f"pair {pair_id}: {exc}")
            continue
        count += 1
    model_admin.message_user(request, f"{count} pair(s) {done}.")
    if skipped:
        model_admin.message_user(request, "Skipped " + "; ".join(skipped), level=messages.WARNING)


@admin.register(TrackDuplicate)
class TrackDuplicateAdmin(admin.ModelAdmin):
    """Pairs of tracks with the same (exact) or nearly the same (near) audio; the newer
    track first. Decided with the actions; nothing is edited by hand."""

    list_display = ["newer_track", "older_track", "kind", "similarity", "decision", "created_at"]
    list_filter = ["decision", "kind"]
    list_select_related = ["track__dataset", "of_track__dataset"]
    actions = [keep_both, merge]
    readonly_fields = ["track", "of_track", "kind", "score", "decision", "created_at", "decided_at"]

    def has_add_permission(self, request):
        return False

    def has_decide_permission(self, request):
        return duplicates.can_decide_duplicates(request.user)

    @admin.display(description="newer track (merge deletes)", ordering="track")
    def newer_track(self, pair):
        return self._link(pair.track)

    @admin.display(description="older track (merge keeps)", ordering="of_track")
    def older_track(self, pair):
        return self._link(pair.of_track)

    @admin.display(description="score", ordering="score")
    def similarity(self, pair):
        return f"{pair.score:.3f}"

    def _link(self, track):
        url = reverse("admin:catalog_track_change", args=[track.pk])
        return format_html('<a href="{}">{}</a> ({})', url, track, track.dataset)


class PlaylistEntryInline(admin.TabularInline):
    """The entries, in order, to look at: edits go through the playlist pages and the API,
    which keep the positions contiguous."""

    model = PlaylistEntry
    fields = ["position", "track"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Playlist)
class PlaylistAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "public", "entry_count", "updated_at"]
    list_filter = ["public"]
    search_fields = ["name", "description", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["share_token", "created_at", "updated_at"]
    inlines = [PlaylistEntryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").annotate(entry_count=Count("entries"))

    @admin.display(description="Tracks", ordering="entry_count")
    def entry_count(self, playlist):
        return playlist.entry_count
