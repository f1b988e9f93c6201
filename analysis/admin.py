"""Admin for embedding spaces and extraction jobs."""

from django.contrib import admin, messages
from django.utils.html import format_html

from analysis.models import EmbeddingSpace, ExtractionJob
from analysis.services import activate_space
from catalog.admin import queue_extraction
from catalog.models import Track


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["name", "model_id", "num_layers", "dim", "window_seconds", "overlap", "is_active", "version"]
    readonly_fields = [f.name for f in EmbeddingSpace._meta.fields if f.name != "name"]
    actions = ["make_active"]

    def has_add_permission(self, request):
        return False  # spaces come into being when a worker first uses a model

    @admin.action(description="Make the selected space the active one", permissions=["change"])
    def make_active(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one space to make active.", messages.ERROR)
            return
        activate_space(queryset.get())
        self.message_user(request, f"“{queryset.get()}” is now the active space.")


@admin.register(ExtractionJob)
class ExtractionJobAdmin(admin.ModelAdmin):
    list_display = ["track", "status", "progress_bar", "worker", "attempts", "created_at", "extract_seconds", "error"]
    list_filter = ["status", "space", "track__dataset"]
    search_fields = ["track__title", "track__composer", "error", "worker"]
    list_select_related = ["track"]
    readonly_fields = [f.name for f in ExtractionJob._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, job):
        return format_html(
            '<progress max="100" value="{}" aria-label="{}% of windows done"></progress> {}%',
            job.progress, job.progress, round(job.progress),
        )

    @admin.action(description="Retry the selected jobs' tracks", permissions=["change"])
    def retry(self, request, queryset):
        queue_extraction(self, request, Track.objects.filter(pk__in=queryset.values("track")), force=True)
