"""Start-up guard: MESS stores embeddings with pgvector, so a PostgreSQL without the
``vector`` extension is refused early, with instructions, instead of failing later."""

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

HOW_TO_FIX = (
    "Install pgvector into that server (https://github.com/pgvector/pgvector#installation, "
    "or use the pgvector/pgvector Docker image), or unset DATABASE_URL to use the embedded "
    "PostgreSQL 18 + pgvector under data/postgres."
)


def pgvector_problem(connection):
    """Return why this database cannot serve MESS, or None when pgvector is usable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT installed_version, default_version FROM pg_available_extensions WHERE name = 'vector'")
        row = cursor.fetchone()
    if row is None:
        params = connection.get_connection_params()
        where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/{connection.settings_dict['NAME']}"
        return f"The PostgreSQL at {where} has no 'vector' extension available. {HOW_TO_FIX}"
    return None


def require_pgvector(connection=None):
    problem = pgvector_problem(connection or connections["default"])
    if problem:
        raise ImproperlyConfigured(problem)
