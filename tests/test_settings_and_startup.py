import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.db.utils import ConnectionHandler

from messsite.database import pgvector_problem, require_pgvector

ROOT = Path(__file__).resolve().parent.parent
PLAIN_POSTGRES_URL = os.environ.get("MESS_PLAIN_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_manage(*args, env=None):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_with_production_environment():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={"DEBUG": "0", "MESS_HTTPS": "1", "SECRET_KEY": "x" * 64 + "-production-secret-Z9",
             "ALLOWED_HOSTS": "mess.example.org"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_malformed_boolean_is_a_clear_configuration_error():
    result = run_manage("check", env={"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_an_unknown_encoder_is_a_clear_configuration_error():
    result = run_manage("check", env={"MESS_ENCODER": "wav2vec"})
    assert result.returncode != 0
    assert "MESS_ENCODER='wav2vec' is not one of: auto, mert, musicnn, classic, mert+classic, musicnn+classic." in result.stderr


def test_settings_follow_database_and_redis_urls():
    code = "from django.conf import settings as s; print(s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL, s.EMBEDDED_POSTGRES)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "messsite.settings",
             "DATABASE_URL": "postgresql://u:p@db.example.org:5433/mess", "REDIS_URL": "redis://cache:6379/2"},
    )
    assert result.stdout.split() == ["db.example.org", "redis://cache:6379/2", "False"], result.stderr


@pytest.fixture
def plain_postgres(django_db_blocker):
    """A Django connection to the machine's own PostgreSQL, which has no pgvector."""
    try:
        psycopg.connect(PLAIN_POSTGRES_URL, connect_timeout=2).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL without pgvector reachable at {PLAIN_POSTGRES_URL}: {exc}")
    connection = ConnectionHandler({"default": dj_database_url.parse(PLAIN_POSTGRES_URL)})["default"]
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if cursor.fetchone():
                pytest.skip("this PostgreSQL has pgvector after all")
        yield connection
        connection.close()


def test_postgres_without_pgvector_is_refused_with_instructions(plain_postgres):
    problem = pgvector_problem(plain_postgres)
    assert "has no 'vector' extension" in problem
    assert "unset DATABASE_URL" in problem
    with pytest.raises(ImproperlyConfigured, match="Install pgvector"):
        require_pgvector(plain_postgres)


def test_migrate_on_postgres_without_pgvector_stops_with_instructions(plain_postgres):
    result = run_manage("migrate", "--noinput", env={"DATABASE_URL": PLAIN_POSTGRES_URL})
    assert result.returncode != 0
    assert "has no 'vector' extension available" in result.stderr


WEB_PACKAGES = ["messsite", "catalog", "analysis", "recommendations"]
# The model code itself: only workers on the ml queue import these.
WORKER_ONLY = {
    "analysis.mert", "analysis.pipeline", "analysis.extraction", "analysis.targets", "analysis.probing",
    "analysis.classic", "analysis.musicnn.encoder", "analysis.musicnn.network", "analysis.musicnn.frontend",
}
BLOCK_ML = """
import importlib.abc, sys
class BlockML(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'transformers', 'librosa'}:
            raise ImportError(f'{name} must not be imported by the web process')
sys.meta_path.insert(0, BlockML())
"""


def test_every_web_module_imports_without_torch_transformers_or_librosa():
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in WEB_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts or path.name != "__init__.py"
    )
    modules = [name for name in modules if name not in WORKER_ONLY]
    script = BLOCK_ML + (
        "import django; django.setup()\n"
        "import importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import messsite.urls, messsite.wsgi\n"
        "assert not any(m.split('.')[0] in {'torch','transformers','librosa'} for m in sys.modules)\n"
        "print('imported', len(" + repr(modules) + "))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "messsite.settings"},
    )
    assert result.returncode == 0, result.stderr
    assert len(modules) > 10
