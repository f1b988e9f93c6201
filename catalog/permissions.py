"""The Curators group: staff accounts in it manage the catalogue and its extraction.

Kept up to date after every migrate (and every test-database flush) by a post_migrate
handler, so new models' permissions join the group without a data migration."""

from django.contrib.auth.models import Group, Permission

CURATOR_PERMISSIONS = {
    "catalog": ["add_dataset", "change_dataset", "delete_dataset", "view_dataset",
                "add_track", "change_track", "delete_track", "view_track",
                "view_trackduplicate", "change_trackduplicate"],
    "analysis": ["view_embeddingspace", "view_extractionjob", "change_extractionjob",
                 "add_proberun", "view_proberun", "view_proberesult"],
    "recommendations": ["add_pinnedaspect", "change_pinnedaspect", "delete_pinnedaspect", "view_pinnedaspect"],
}  # fmt: skip


def ensure_curators_group(**kwargs):
    """The Curators group with its permissions (returned for callers other than the signal)."""
    group, _ = Group.objects.get_or_create(name="Curators")
    for app_label, codenames in CURATOR_PERMISSIONS.items():
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
    return group
