"""Configuration: embedded defaults, environment switches, and production hardening."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_django(*args, env_extra: dict, env_remove=("DATABASE_URL", "CELERY_BROKER_URL")):
    env = {k: v for k, v in os.environ.items() if k not in env_remove and not k.startswith("DJANGO_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def settings_value(expression: str, **env_extra) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "server.settings.base", **env_extra})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout.strip()


def test_defaults_are_embedded_sqlite_and_in_process_tasks():
    assert settings_value("settings.DATABASES['default']['ENGINE']") == "django.db.backends.sqlite3"
    assert settings_value("settings.CELERY_TASK_ALWAYS_EAGER") == "True"


def test_environment_switches_to_postgres_redis_and_s3():
    env = {
        "DATABASE_URL": "postgres://u@db.example:5432/ferlab",
        "CELERY_BROKER_URL": "redis://cache.example:6379/0",
        "FERLAB_STORAGE": "s3",
        "FERLAB_S3_BUCKET": "faces",
    }
    assert settings_value("settings.DATABASES['default']['ENGINE']", **env) == "django.db.backends.postgresql"
    assert settings_value("settings.CELERY_TASK_ALWAYS_EAGER", **env) == "False"
    assert settings_value("settings.STORAGES['default']['BACKEND']", **env) == "storages.backends.s3.S3Storage"


def test_production_refuses_to_start_without_a_secret_key():
    result = run_django("check", env_extra={"DJANGO_SETTINGS_MODULE": "server.settings.production"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_passes_the_deployment_check():
    result = run_django(
        "check", "--deploy", "--fail-level", "WARNING",
        env_extra={"DJANGO_SETTINGS_MODULE": "server.settings.production", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_redis_cache_url_moves_sessions_to_the_shared_cache():
    assert settings_value("settings.SESSION_ENGINE") == "django.contrib.sessions.backends.db"
    env = {"FERLAB_CACHE_URL": "redis://127.0.0.1:6379/9"}
    assert settings_value("settings.SESSION_ENGINE", **env) == "django.contrib.sessions.backends.cached_db"
    assert settings_value("settings.CACHES['default']['BACKEND']", **env) == "server.cache.PooledRedisCache"


def test_the_redis_cache_reuses_one_client_per_pool():
    from server.cache import PooledRedisCache
    from server.settings.probe import reachable

    url = "redis://127.0.0.1:6379/9"
    if not reachable(url):
        pytest.skip("Redis is not reachable")
    cache = PooledRedisCache(url, {"KEY_PREFIX": "ferlab-test-cache"})
    cache.set("k", {"v": 1}, 30)
    assert cache.get("k") == {"v": 1}
    assert cache._cache.get_client() is cache._cache.get_client(write=True)  # one server: one pool, one client
    cache.delete("k")
    assert cache.get("k") is None
