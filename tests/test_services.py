import pytest
from django.db import connection

from messsite.database import pgvector_problem


@pytest.mark.django_db
def test_database_is_postgres_with_pgvector():
    assert connection.vendor == "postgresql"
    assert pgvector_problem(connection) is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() is not None
