"""Embedded defaults: SQLite, local media, Celery in-process unless a broker URL is given."""
from datetime import timedelta

import dj_database_url

from server.settings import env

BASE_DIR = env.BASE_DIR
SECRET_KEY = env.SECRET_KEY or env.DEVELOPMENT_SECRET_KEY
DEBUG = env.DEBUG
ALLOWED_HOSTS = env.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's scripts and styles, served by the app (the docs work offline)
    "axes",
    "annotate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "server.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "server.password_gate.PasswordGateMiddleware",  # a one-time password's session sets its own first
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "server.urls"
WSGI_APPLICATION = "server.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

env.VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env.DATABASE_URL or f"sqlite:///{env.VAR_DIR / 'ferlab.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and one writer overlap; the busy timeout queues writers instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT compiles every plan costed over 100,000, i.e. each dashboard query at a million faces: 70-400 ms of
    # compiling per request that the short scans never win back (bench/dashboard_speed.py, #20).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With a shared Redis cache, sessions are read from it instead of the database on every request
# (write-through, so a sign-out is seen by every process). A per-process cache could not promise
# that, so without Redis sessions stay in the database.
if env.CACHE_URL:
    CACHES = {"default": {"BACKEND": "server.cache.PooledRedisCache", "LOCATION": env.CACHE_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# ModelBackend, with the session-user lookup of every request as one cheap query.
# Axes first: it refuses a sign-in while the account or the address is locked out.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "server.auth.SessionUserBackend"]

# Sign-in throttling (django-axes, in the database so it works on SQLite and PostgreSQL alike): ten failures
# for one username, or from one address, lock that username or address out for 15 minutes. The lockout
# page reads the same whether or not the account exists. Behind a proxy, set AXES_IPWARE_META_PRECEDENCE_ORDER
# so the address is the client's, not the proxy's.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "annotate/locked_out.html"

# Content-Security-Policy (server.middleware): scripts, styles, images and requests only from this site, no
# inline scripts or style attributes. The API docs page alone allows inline styles: Swagger UI's page has a
# <style> block and its bundle injects styles at run time.
FERLAB_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; "
              "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
FERLAB_CSP_INLINE_STYLE = FERLAB_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self'", "img-src 'self' data:")
FERLAB_CSP_INLINE_STYLE_PATHS = ["/api/docs/"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STATIC_ROOT = env.VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from frontend/static without collectstatic; production collects and compresses.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = env.MEDIA_ROOT
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if env.STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.S3_BUCKET,
            "endpoint_url": env.S3_ENDPOINT_URL,
            "region_name": env.S3_REGION,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
# Uploads above this stay on disk instead of memory; the import service streams them.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Tokens first: their WWW-Authenticate header makes an unauthenticated call a 401, not a 403.
        "annotate.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "annotate.api.schema.FERLabAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "annotate.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FERLab API",
    "DESCRIPTION": "Facial-expression dataset curation: import, annotate, audit, curate.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One name for a choice set several fields share (drf-spectacular warns, and `check --deploy` fails on it).
    "ENUM_NAME_OVERRIDES": {"LabelSourceEnum": "annotate.selectors.issue_sources.SOURCES"},
}

# Celery: without a broker, tasks run in-process (eagerly) so the embedded setup needs nothing.
CELERY_BROKER_URL = env.CELERY_BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Jobs are sent to the queue their kind needs (annotate.services.job_kinds): `default` workers take imports and
# light work, `ml` workers everything that loads torch. This maps those names to Celery queues.
FERLAB_JOB_QUEUES = {"default": "default", "ml": "ml"}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# A running job's heartbeat every 20 s; 90 s without one and the sweep (every 30 s) resumes it: a dead worker's
# job is taken over within two minutes of its last beat (annotate.services.jobs).
FERLAB_JOB_HEARTBEAT_SECONDS = 20.0
FERLAB_JOB_STALE_SECONDS = 90.0
FERLAB_JOB_SWEEP_SECONDS = 30.0
CELERY_BEAT_SCHEDULE = {
    "reanalyse-projects": {"task": "annotate.tasks.projects_reanalyse", "schedule": 300.0},
    "sweep-jobs": {"task": "annotate.tasks.jobs_sweep", "schedule": FERLAB_JOB_SWEEP_SECONDS},
}

FERLAB_MODEL_PATH = env.MODEL_PATH
# Training jobs keep their per-epoch checkpoint here (a resumed job continues from it: share it between `ml`
# workers on several machines), and workers keep local copies of model versions held in remote storage here.
FERLAB_TRAINING_DIR = env.VAR_DIR / "training"
FERLAB_MODEL_CACHE_DIR = env.VAR_DIR / "model-cache"
FERLAB_TRAIN_THREADS = 2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
