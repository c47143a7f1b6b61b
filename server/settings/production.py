"""Production: refuses to start without a strong secret key; passes `manage.py check --deploy`."""
from django.core.exceptions import ImproperlyConfigured

from server.settings import env
from server.settings.base import *  # noqa: F401,F403

if weakness := env.secret_key_weakness(key=env.SECRET_KEY):
    raise ImproperlyConfigured(f"DJANGO_SECRET_KEY {weakness} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))').")
SECRET_KEY = env.SECRET_KEY
DEBUG = False
WHITENOISE_USE_FINDERS = False
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# The orchestrator's health check calls the container over plain http; a redirect would fail it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
