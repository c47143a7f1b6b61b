"""Fault-test fixtures: a redis-server of the test's own as broker and cache, a real worker (and beat) on it,
the live server and Chromium of the browser tests; the test can kill and restart that Redis mid-test."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, WorkerProcess, _database_url_for_worker, celery_conf_restored, process_stop
from tests.faults import worker_settings
from tests.faults.redis_server import REDIS_SERVER, RedisServer

BROKER_DB, CACHE_DB = 0, 1
# The same shortened intervals in the test process as in the worker's settings module.
SHORT_JOB_TIMES = {
    name: getattr(worker_settings, name)
    for name in ("FERLAB_JOB_HEARTBEAT_SECONDS", "FERLAB_JOB_STALE_SECONDS", "FERLAB_JOB_SWEEP_SECONDS")
}


def wait_until(check, *, timeout: float, every: float = 0.1, what: str = "", log=None):
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- log ---\n{log()[-4000:]}" if log else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}{tail}")
        time.sleep(every)


@pytest.fixture
def redis_server(tmp_path):
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"redis-server is not installed ({REDIS_SERVER}): the fault tests need a Redis of their own")
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


class BeatProcess:
    """`celery beat` sending the (shortened) periodic sweep, as production's beat does."""

    def __init__(self, *, env: dict, directory: Path, name: str):
        self.env, self.directory = env, directory
        self.log_path = ROOT / "var" / f"beat-{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "BeatProcess":
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "server", "beat", "-l", "INFO",
             "-s", str(self.directory / "celerybeat-schedule"), "--pidfile", ""],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        sent = "Sending due task sweep-jobs"
        wait_until(lambda: self.process.poll() is not None or sent in self.log_path.read_text(),
                   timeout=60, what="celery beat to send its first sweep", log=self.log_path.read_text)
        if self.process.poll() is not None:
            raise RuntimeError(f"celery beat exited early:\n{self.log_path.read_text()}")
        return self

    def stop(self) -> None:
        process_stop(self.process, self.log)


class FaultStack:
    """The test's Redis, and the worker and beat processes started on it (all stopped after the test)."""

    def __init__(self, *, redis: RedisServer, media_root: str, directory: Path):
        self.redis, self.media_root, self.directory = redis, media_root, directory
        self.broker_url, self.cache_url = redis.url(BROKER_DB), redis.url(CACHE_DB)
        self.processes: list = []
        self.env = {
            "DJANGO_SETTINGS_MODULE": "tests.faults.worker_settings",
            "CELERY_BROKER_URL": self.broker_url,
            "FERLAB_CACHE_URL": self.cache_url,
        }

    def start_worker(self, *, pool: str = "solo", name: str | None = None,
                     settings_module: str | None = None) -> WorkerProcess:
        """A real worker on the test's Redis; `settings_module` "tests.faults.worker_settings_default_times" keeps
        production's job intervals instead of the shortened ones."""
        env = {**self.env, "DJANGO_SETTINGS_MODULE": settings_module} if settings_module else self.env
        worker = WorkerProcess(queues=["default", "ml"], name=name or f"faults-{uuid.uuid4().hex[:6]}",
                               media_root=self.media_root, pool=pool, extra_env=env)
        self.processes.append(worker)
        return worker.start()

    def start_beat(self) -> BeatProcess:
        beat = BeatProcess(env={**os.environ, **self.env, "DATABASE_URL": _database_url_for_worker(),
                                "FERLAB_MEDIA_ROOT": self.media_root}, directory=self.directory,
                           name=uuid.uuid4().hex[:6])
        self.processes.append(beat)
        return beat.start()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _point_celery_at(app, url: str | None, *, eager: bool) -> None:
    """The test process's Celery app publishes to `url` (the environment's CELERY_BROKER_URL would win over
    broker_url, so the read and write URLs are set too); its connection pools are dropped so the next send
    connects there."""
    app.conf.update(broker_url=url, broker_read_url=url, broker_write_url=url, task_always_eager=eager)
    _drop_pools(app)


def _drop_pools(app) -> None:
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


@pytest.fixture
def fault_stack(transactional_db, settings, redis_server, _media_root, tmp_path):
    """Point this process at the test's Redis (Celery broker, Redis cache, cached_db sessions), with the
    shortened job intervals; returns a FaultStack to start a real worker and beat on that Redis."""
    from server.celery import app

    stack = FaultStack(redis=redis_server, media_root=_media_root, directory=tmp_path)
    with celery_conf_restored(app):
        stack.saved_session_engine = settings.SESSION_ENGINE
        settings.CELERY_BROKER_URL = stack.broker_url
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.CACHES = {"default": {"BACKEND": "server.cache.PooledRedisCache", "LOCATION": stack.cache_url}}
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
        settings.FERLAB_JOB_QUEUES = {"default": "default", "ml": "ml"}
        for name, value in SHORT_JOB_TIMES.items():
            setattr(settings, name, value)
        _point_celery_at(app, stack.broker_url, eager=False)
        app.conf.task_default_queue = "default"
        try:
            yield stack
        finally:
            stack.stop()
    _drop_pools(app)


def _reload_live_server_middleware(live_server) -> None:
    """The live server built its middleware when it started, with the session engine of that moment; build it
    again so the engine set by this test (cached_db on the test's Redis) is the one serving the browser."""
    handler = live_server.thread.httpd.get_app()
    while hasattr(handler, "application"):  # static files, then media files, then Django's WSGIHandler
        handler = handler.application
    handler.load_middleware()


@pytest.fixture
def fault_live_server(fault_stack, live_server):
    """The browser tests' live server, serving with the fault stack's cache and cached_db sessions (and, after
    the test, with the session engine it had before)."""
    from django.test.utils import override_settings

    _reload_live_server_middleware(live_server)
    yield live_server
    with override_settings(SESSION_ENGINE=fault_stack.saved_session_engine):
        _reload_live_server_middleware(live_server)
