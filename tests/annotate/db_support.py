"""Markers for tests of PostgreSQL-only code (fast paths, TABLESAMPLE estimates, statement timeouts, snapshots)."""
import pytest
from django.db import connection


def postgres_only(reason: str):
    """Mark a test `postgres` and skip it when the test database is not PostgreSQL (`make test-embedded`)."""
    def mark(test):
        return pytest.mark.postgres(pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)(test))
    return mark
