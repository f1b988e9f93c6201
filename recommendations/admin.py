"""Curators pin an aspect's layers when they know better than the evidence."""

from django.contrib import admin

from recommendations.models import PinnedAspect


@admin.register(PinnedAspect)
class PinnedAspectAdmin(admin.ModelAdmin):
    list_display = ["aspect", "space", "layers", "pinned_by", "pinned_at", "note"]
    list_filter = ["space", "aspect"]
    readonly_fields = ["pinned_by", "pinned_at"]

    def save_model(self, request, obj, form, change):
        obj.pinned_by = request.user
        super().save_model(request, obj, form, change)
