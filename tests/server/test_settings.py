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


def compose_default(name: str) -> str:
    """The value compose gives `name` when .env leaves it unset (`${NAME:-default}`)."""
    import re

    text = (ROOT / "docker-compose.yml").read_text()
    return re.search(rf"\b{name}: \$\{{{name}:-([^}}]*)\}}", text).group(1)


def test_the_compose_healthcheck_passes_under_the_production_defaults(tmp_path):
    import json
    import re

    import yaml

    check = " ".join(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["healthcheck"]["test"])
    url = re.search(r"http://([^/']+)(/[^']*)", check)
    host, path = url.group(1), url.group(2)
    code = (
        "import django, json; django.setup(); from django.test import Client; client = Client(); "
        f"health = client.get({path!r}, HTTP_HOST={host!r}); page = client.get('/', HTTP_HOST={host!r}); "
        "print(json.dumps([health.status_code, health.content.decode(), page.status_code, page.get('Location')]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL") and not k.startswith("DJANGO_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "server.settings.production", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": compose_default("DJANGO_ALLOWED_HOSTS"),
        "DJANGO_SECURE_SSL_REDIRECT": compose_default("DJANGO_SECURE_SSL_REDIRECT"), "FERLAB_VAR_DIR": str(tmp_path),
    })
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    health_status, health_body, page_status, page_location = json.loads(result.stdout.strip().splitlines()[-1])
    assert health_status == 200 and json.loads(health_body)["status"] == "ok", health_body
    assert page_status == 301 and page_location.startswith("https://")  # every other page still goes to https


@pytest.mark.parametrize("key, why", [
    ("a" * 60, "distinct characters"),
    ("abcd" * 15, "distinct characters"),
    ("ferlab-insecure-development-key-do-not-use-in-production", "placeholder"),
    ("django-insecure-" + "k3q9x7v2m5p8w1z4" * 3, "placeholder"),
    ("changeme-" + secrets.token_hex(30), "placeholder"),
    (secrets.token_urlsafe(20), "at least 50 characters"),
], ids=["one-character", "four-character-period", "ferlab-placeholder", "django-insecure", "changeme-prefix", "short"])
def test_production_refuses_a_weak_secret_key(key, why):
    from server.settings.env import secret_key_weakness

    assert why in secret_key_weakness(key=key)
    assert secret_key_weakness(key=secrets.token_urlsafe(64)) is None
    assert secret_key_weakness(key=None) and secret_key_weakness(key="")


def test_production_settings_stop_on_a_repeated_character_key():
    result = run_django("check", env_extra={"DJANGO_SETTINGS_MODULE": "server.settings.production", "DJANGO_SECRET_KEY": "a" * 60})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr and "distinct characters" in result.stderr
