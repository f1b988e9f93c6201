"""Tests run against real PostgreSQL+pgvector and real Redis: the ones named by
DATABASE_URL / REDIS_URL, or the embedded ones under data/ (started here if needed)."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from messsite.celery import app as celery_app
from messsite.embedded import EmbeddedServices


@pytest.fixture(scope="session", autouse=True)
def embedded_services():
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
    services = EmbeddedServices().start()
    # Tasks queued by earlier runs name rows of databases that no longer exist.
    celery_app.control.purge()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def django_db_setup(embedded_services, django_db_setup):
    yield


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test writes files into its own media root and index folder, so leftovers are
    visible to it alone, and starts with no similarity index loaded."""
    from recommendations import index

    settings.MESS_INDEX_DIR = tmp_path / "indexes"
    settings.MESS_TARGET_CACHE_DIR = tmp_path / "targets"
    index.clear()
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": media}},
    }
    yield media


@pytest.fixture(autouse=True)
def _static_without_manifest(settings):
    """Templates use {% static %}; the manifest exists only after collectstatic (deploys)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in Redis; start every test with none."""
    cache.clear()
    yield


TINY_LAYERS, TINY_DIM = 3, 32  # the tiny checkpoint: 2 transformer layers + the projected CNN features


@pytest.fixture(scope="session")
def tiny_mert(tmp_path_factory):
    """A random-weight checkpoint in MERT's format, loaded through the real loading code."""
    from tests.mert_checkpoint import build_checkpoint

    directory = tmp_path_factory.mktemp("tiny-mert")
    build_checkpoint(directory, hidden_size=TINY_DIM, num_layers=TINY_LAYERS - 1)
    return directory


@pytest.fixture
def use_tiny_mert(settings, tiny_mert):
    """MERT is the configured encoder (not "auto"), with the tiny checkpoint's weights."""
    settings.MESS_ENCODER = "mert"
    settings.MESS_MERT_MODEL = str(tiny_mert)
    settings.MESS_MERT_PRECISION = "exact"


@pytest.fixture
def worker_env():
    """Extra environment for `celery_worker_process`; override to configure the worker."""
    return {}


def child_database_url():
    """DATABASE_URL of this test run's database, for the processes a test starts."""
    db = connection.settings_dict
    if settings.EMBEDDED_POSTGRES:
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, settings, worker_env):
    """A real Celery worker process on this test run's database, broker and media."""
    env = {**os.environ, "MEDIA_ROOT": str(settings.MEDIA_ROOT), "DATABASE_URL": child_database_url(),
           "MESS_TARGET_CACHE_DIR": str(settings.MESS_TARGET_CACHE_DIR), **worker_env}
    name = f"test-{os.getpid()}@localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "messsite", "worker", "-Q", "default,ml", "--pool", "solo",
         "--loglevel", "WARNING", "-n", name],
        env=env,
    )
    deadline = time.monotonic() + 60
    while not any(name in reply for reply in celery_app.control.ping(timeout=1.0)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the Celery worker did not come up")
    yield name
    process.terminate()
    process.wait(timeout=30)
