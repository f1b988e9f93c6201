from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_save


def index_new_space(sender, instance, created, **kwargs):
    """Give a new space its per-layer HNSW indexes while its table part is still empty,
    so rows are indexed as they are written instead of in one long blocking build.
    After commit: CREATE INDEX refuses to run beside pending (deferred FK) trigger events."""
    if created:
        from recommendations.pgsearch import ensure_hnsw_indexes

        transaction.on_commit(lambda: ensure_hnsw_indexes(instance))


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self):
        post_save.connect(index_new_space, sender="analysis.EmbeddingSpace", dispatch_uid="recommendations.index_new_space")
