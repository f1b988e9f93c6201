from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue"

    def ready(self):
        from catalog import signals
        from catalog.permissions import ensure_curators_group
        from catalog.playlists import signals as playlist_signals

        signals.connect()
        playlist_signals.connect()

        post_migrate.connect(ensure_curators_group, dispatch_uid="catalog.ensure_curators_group")
