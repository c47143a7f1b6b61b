"""Shared by the benchmarks: a fresh database of their own and Django pointed at it (not a benchmark itself)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def recreate_database(database_url: str) -> None:
    """Drop and create the database the URL names: a SQLite file (and its WAL files) or a PostgreSQL database."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("sqlite:///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str, *, fresh: bool = True, media: Path | None = None) -> None:
    """Point Django at the benchmark's own database (recreated when ``fresh``), tasks in-process, and migrate."""
    if fresh:
        recreate_database(database_url)
    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="server.settings.base")
    if media is not None:
        os.environ["FERLAB_MEDIA_ROOT"] = str(media)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("FERLAB_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
