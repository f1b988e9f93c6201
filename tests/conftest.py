"""Tests run against real PostgreSQL+pgvector and real Redis: the ones named by
DATABASE_URL / REDIS_URL, or the embedded ones under data/ (started here if needed)."""

import pytest
from django.core.cache import cache

from messsite.embedded import EmbeddedServices


@pytest.fixture(scope="session", autouse=True)
def embedded_services():
    services = EmbeddedServices().start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def django_db_setup(embedded_services, django_db_setup):
    yield


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test writes files into its own media root, so leftovers are visible to it alone."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": media}},
    }
    yield media


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in Redis; start every test with none."""
    cache.clear()
    yield
