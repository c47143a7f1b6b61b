"""The one place FERLab reads its environment."""
import os
from pathlib import Path

from server.settings.probe import reachable  # noqa: F401  (settings and tests ask env.reachable)

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    return [part.strip() for part in value.split(",") if part.strip()] if value else default


SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEVELOPMENT_SECRET_KEY = "ferlab-insecure-development-key-do-not-use-in-production"
# Words that mark a key copied from an example or a tutorial rather than generated.
PLACEHOLDER_WORDS = ("insecure", "changeme", "change-me", "change_me", "replace-me", "replaceme", "your-secret", "secret-key", "example")


def secret_key_weakness(*, key: str | None) -> str | None:
    """Why `key` is unfit to sign sessions and links in production, or None.

    The length and distinct-character floor are Django's own deployment check (security.W009),
    enforced at start-up so that a weak key stops the server instead of printing a warning.
    """
    if not key or len(key) < 50:
        return "must be set to a random string of at least 50 characters"
    if len(set(key)) < 5:
        return f"has only {len(set(key))} distinct characters; generate a random one (at least 5 distinct characters)"
    lowered = key.lower()
    if key == DEVELOPMENT_SECRET_KEY or lowered.startswith("django-insecure-") or any(w in lowered for w in PLACEHOLDER_WORDS):
        return "is a placeholder from an example, not a generated key; generate a random one"
    return None
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
DATABASE_URL = env_str("DATABASE_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CACHE_URL = env_str("FERLAB_CACHE_URL")  # e.g. redis://127.0.0.1:6379/1: shared cache and cached sessions
VAR_DIR = Path(env_str("FERLAB_VAR_DIR", str(BASE_DIR / "var")))
MEDIA_ROOT = Path(env_str("FERLAB_MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGE = env_str("FERLAB_STORAGE", "local")  # "local" or "s3"
S3_BUCKET = env_str("FERLAB_S3_BUCKET")
S3_ENDPOINT_URL = env_str("FERLAB_S3_ENDPOINT_URL")
S3_REGION = env_str("FERLAB_S3_REGION")
MODEL_PATH = env_str("FERLAB_MODEL_PATH", str(BASE_DIR / "ml" / "weights" / "ferlab-cnn.pt"))
LOG_LEVEL = env_str("FERLAB_LOG_LEVEL", "INFO")
