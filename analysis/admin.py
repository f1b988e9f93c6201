"""Admin for embedding spaces, extraction jobs and probe runs."""

from django.contrib import admin, messages
from django.utils.html import format_html

from analysis.models import EmbeddingSpace, ExtractionJob, ProbeResult, ProbeRun
from analysis.services import activate_space, request_probe
from analysis.jobs import can_start_probe
from catalog.admin import ExtractionActionsMixin, queue_extraction
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


def progress_bar(percent, what):
    return format_html(
        '<progress max="100" value="{}" aria-label="{}% {}"></progress> {}%', percent, percent, what, round(percent)
    )


@admin.register(ExtractionJob)
class ExtractionJobAdmin(ExtractionActionsMixin, admin.ModelAdmin):
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
        return progress_bar(job.progress, "of windows done")

    @admin.action(description="Retry the selected jobs' tracks", permissions=["extract"])
    def retry(self, request, queryset):
        queue_extraction(self, request, Track.objects.filter(pk__in=queryset.values("track")), force=True)


class ProbeResultInline(admin.TabularInline):
    model = ProbeResult
    fields = ["layer", "target", "r2", "r2_std", "corr", "rmse", "alphas"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ProbeRun)
class ProbeRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "progress_display", "stage", "tracks", "windows", "created_at", "error"]
    list_filter = ["status", "space", "dataset"]
    readonly_fields = [f.name for f in ProbeRun._meta.fields]
    inlines = [ProbeResultInline]
    actions = ["run_again"]

    def has_add_permission(self, request):
        return False  # started with `manage.py probe`, the API, or "run again" here

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, run):
        return progress_bar(run.progress, "done")

    def has_start_permission(self, request):
        return can_start_probe(request.user)  # what the jobs page and the API ask

    @admin.action(description="Run the selected probes again (same space, scope and targets)", permissions=["start"])
    def run_again(self, request, queryset):
        for run in queryset:
            request_probe(run.space, dataset=run.dataset, targets=run.targets, parameters=run.parameters,
                          user=request.user)
        self.message_user(request, f"Queued {queryset.count()} probe run(s) on the ml queue.")
