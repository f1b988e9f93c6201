from django.db import migrations

CURATOR_PERMISSIONS = [
    "add_dataset", "change_dataset", "delete_dataset", "view_dataset",
    "add_track", "change_track", "delete_track", "view_track",
]


def create_curators(apps, schema_editor):
    """Curators manage the catalogue: staff accounts in this group may upload and delete."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; the group needs them now.
    app_config = apps.get_app_config("catalog")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Curators")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="catalog", codename__in=CURATOR_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_curators, migrations.RunPython.noop)]
