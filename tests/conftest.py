"""Shared fixtures: users, projects, a temporary media folder, and a real Celery worker process."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.browser.fixtures import browser, login, page  # noqa: F401  (one Chromium for browser and fault tests)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Every test writes media into its own folder, never into var/media."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    return settings.MEDIA_ROOT


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username: str | None = None, *, password: str = "pw-ferlab-123", **fields):
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        return get_user_model().objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def make_project(db, make_user):
    """make_project(annotators=3, **options) -> (project, lead, [annotators])."""
    from annotate.models import Role
    from annotate.services.projects import membership_set, project_create

    def make(*, annotators: int = 2, name: str | None = None, **options):
        lead = make_user(f"lead-{uuid.uuid4().hex[:6]}")
        project = project_create(name=name or f"Project {uuid.uuid4().hex[:6]}", created_by=lead, **options)
        people = [make_user(f"annotator-{uuid.uuid4().hex[:6]}") for _ in range(annotators)]
        for person in people:
            membership_set(project=project, user=person, role=Role.ANNOTATOR)
        return project, lead, people

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def broker_reachable() -> bool:
    from server.settings import env

    return env.reachable(env.CELERY_BROKER_URL)


def _database_url_for_worker() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """A `celery worker` subprocess consuming queues of its own, over the real Redis broker."""

    def __init__(self, *, queues: list[str], name: str, media_root: str, pool: str = "solo", extra_env: dict | None = None):
        self.queues, self.name, self.media_root, self.pool = queues, name, media_root, pool
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / f"worker-{name}.log"
        self.hostname = f"{name}@{socket.gethostname()}"

    def start(self) -> "WorkerProcess":
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "server.settings.test",
            "DATABASE_URL": _database_url_for_worker(),
            "FERLAB_MEDIA_ROOT": self.media_root,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "server", "worker", "-Q", ",".join(self.queues), "-P", self.pool, "-c", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO", "-n", self.hostname],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_path.read_text()}")
            if "ready." in self.log_path.read_text():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready:\n{self.log_path.read_text()}")

    def kill(self, sig=9) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """After the test: a solo worker runs its tasks in its one process, so SIGKILL loses nothing the test still
        checks and skips the ~2 s warm shutdown; a prefork worker gets SIGTERM so its pool's children go too."""
        if self.pool == "solo":
            self.kill(9)
            self.log.close()
        else:
            process_stop(self.process, self.log)


def process_stop(process: subprocess.Popen | None, log) -> None:
    """Stop a helper process (worker, beat): SIGTERM, SIGKILL after 20 s; then close its log."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


@pytest.fixture
def job_queues(transactional_db, settings):
    """Private Celery queues for this test's `default` and `ml` jobs; tasks go to the broker, not in-process."""
    if not broker_reachable():
        pytest.skip("Redis is not reachable (CELERY_BROKER_URL unset or down): no real worker to start")
    from server.celery import app

    tag = uuid.uuid4().hex[:10]
    queues = {"default": f"ferlab-test-{tag}-default", "ml": f"ferlab-test-{tag}-ml"}
    with celery_conf_restored(app, ("task_always_eager", "task_default_queue")):
        app.conf.update(task_always_eager=False, task_default_queue=queues["default"])
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.FERLAB_JOB_QUEUES = queues
        yield queues


CELERY_TEST_KEYS = ("broker_url", "broker_read_url", "broker_write_url", "task_always_eager", "task_default_queue")


@contextlib.contextmanager
def celery_conf_restored(app, keys=CELERY_TEST_KEYS):
    """Give the app's `keys` back the values they had on entry. Enter before changing Django's settings: a key not set
    on app.conf reads through to them, so values saved after a test changed the settings (and written back) would pin
    that test's broker and eager flag on the app for every later test in the process."""
    saved = {key: app.conf[key] for key in keys}
    try:
        yield
    finally:
        app.conf.update(saved)


@pytest.fixture
def start_worker(job_queues, _media_root):
    """start_worker(*queue names, name=...) -> a running WorkerProcess; every one is stopped after the test."""
    workers: list[WorkerProcess] = []

    def start(*queues: str, name: str, **options) -> WorkerProcess:
        worker = WorkerProcess(queues=[job_queues[q] for q in queues], name=name, media_root=_media_root, **options).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker):
    """One real worker on Redis consuming both of this test's queues, as the demo's worker does."""
    return start_worker("default", "ml", name=f"both-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def make_items(db):
    """make_items(project, n, **fields) -> [Item]: n distinct 48x48 grey PNG faces stored in media.

    Scaffolding for tests that are not about import (the import service has its own tests).
    """
    import hashlib
    import io

    import numpy as np
    from django.core.files.base import ContentFile
    from PIL import Image

    from annotate.models import Item

    rng = np.random.default_rng(0)

    def make(project, n: int, **fields):
        items = []
        for _ in range(n):
            pixels = rng.integers(0, 256, size=(48, 48), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels, "L").save(buffer, format="PNG")
            digest = hashlib.sha256(pixels.tobytes()).hexdigest()
            item = Item(project=project, content_hash=digest, width=48, height=48, source="test", **fields)
            item.crop.save(f"{digest[:16]}.png", ContentFile(buffer.getvalue()), save=False)
            items.append(item)
        return Item.objects.bulk_create(items)

    return make
