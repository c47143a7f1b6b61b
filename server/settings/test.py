"""Test settings: the real PostgreSQL and Redis when reachable, SQLite and eager tasks otherwise."""
from server.settings import env
from server.settings.base import *  # noqa: F401,F403
from server.settings.base import DATABASES

if env.DATABASE_URL and not env.reachable(env.DATABASE_URL):
    import dj_database_url

    DATABASES["default"] = dj_database_url.parse(f"sqlite:///{env.VAR_DIR / 'ferlab-test.sqlite3'}")
BROKER_REACHABLE = env.reachable(env.CELERY_BROKER_URL)
CELERY_BROKER_URL = env.CELERY_BROKER_URL if BROKER_REACHABLE else "memory://"
# The test process itself always runs tasks in-process; tests that need the real worker start one.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a worker process started by a test can open the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(env.VAR_DIR / "ferlab-test-db.sqlite3")}
