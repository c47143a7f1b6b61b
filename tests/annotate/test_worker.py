"""A real Celery worker process on Redis consumes a task and writes to the test database."""
import os
import time

import pytest
from django.db import transaction

from annotate.models import Job, JobKind, JobStatus


@pytest.mark.worker
def test_real_worker_runs_task_against_the_database(celery_worker):
    from annotate.tasks.health import ping

    job = Job.objects.create(kind=JobKind.IMPORT)
    with transaction.atomic():
        transaction.on_commit(lambda: ping.delay(job.pk))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == JobStatus.SUCCEEDED:
            break
        time.sleep(0.1)
    assert job.status == JobStatus.SUCCEEDED, celery_worker.log_path.read_text()
    assert job.result["pid"] != os.getpid()
    assert job.result["pid"] == celery_worker.process.pid
