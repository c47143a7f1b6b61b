"""Fixtures shared by the answer-path tests."""
import pytest

from annotate import fastpaths


@pytest.fixture(params=[True, False], ids=["fast path", "general path"])
def path(request, monkeypatch):
    """Run the test on the PostgreSQL fast paths and on their ORM twins; the fast paths are raw PostgreSQL SQL, so
    on another database (SQLite in `make test-embedded`) that half is skipped."""
    if request.param and not fastpaths.enabled():  # enabled() is "the database is PostgreSQL", before the patch
        pytest.skip("the fast paths are PostgreSQL SQL; the test database is not PostgreSQL")
    monkeypatch.setattr(fastpaths, "enabled", lambda: request.param)
    return request.param
