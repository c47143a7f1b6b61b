"""A real worker on a Redis of the test's own: a pool child SIGKILLed mid-job, and the broker down when a job starts."""
import os
import signal
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from annotate.models import Item, Job, JobKind, JobStatus
from annotate.services.jobs import STAGE_UNSENT, job_enqueue
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.worker
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "fer2013_sample.csv"


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (a prefork worker's pool), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def job_state(job: Job) -> Job:
    job.refresh_from_db()
    return job


def test_a_pool_child_killed_mid_job_is_taken_over_and_the_job_completes(fault_stack, make_project):
    worker = fault_stack.start_worker(pool="prefork")
    fault_stack.start_beat()
    project, lead, _ = make_project(annotators=0)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead,
                          params={"seconds": 120, "first_attempt_only": True})
    wait_until(lambda: job_state(job).status == JobStatus.RUNNING and job.progress_done >= 5, timeout=60,
               what="the job to be running in the pool child", log=worker.log_path.read_text)
    (child,) = children(worker.process.pid)
    os.kill(child, signal.SIGKILL)  # mid-job: the child dies holding the task, unacknowledged (acks_late)
    killed_at = time.monotonic()

    wait_until(lambda: job_state(job).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=120,
               what="the job to finish after its worker child was killed", log=worker.log_path.read_text)
    took = time.monotonic() - killed_at
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert took < 120, took
    assert job.attempts == 2 and job.result["attempt"] == 2  # the second attempt ran it, after the first died
    assert job.result["pid"] != child and job.result["pid"] in children(worker.process.pid)  # a new pool child
    assert worker.process.poll() is None  # the worker itself lived on
    log = worker.log_path.read_text()
    assert "signal 9 (SIGKILL)" in log, log[-3000:]
    print(f"\nkilled child {child}; the job was completed by {job.result['pid']} {took:.1f} s later")


def test_with_the_broker_down_an_import_waits_with_its_upload_and_runs_once_redis_is_back(fault_stack, make_project,
                                                                                           api_client, client):
    worker = fault_stack.start_worker()
    beat = fault_stack.start_beat()
    project, lead, _ = make_project(annotators=0)
    fault_stack.redis.kill()

    assert client.get("/healthz").json()["broker"] == "down"
    api_client.force_authenticate(lead)
    upload = SimpleUploadedFile("fer2013.csv", SAMPLE.read_bytes()[:20_000], content_type="text/csv")
    started = time.monotonic()
    response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    answered_in = time.monotonic() - started
    assert response.status_code == 202, response.content  # accepted, kept: not a 500, not a 503
    assert answered_in < 10, answered_in  # the failed send is bounded (kombu's publish retries), not a hang
    body = response.json()
    assert body["status"] == JobStatus.QUEUED
    polled = api_client.get(body["url"]).json()  # what the import page polls says why it waits
    assert (polled["status"], polled["stage"], polled["attempts"]) == (JobStatus.QUEUED, STAGE_UNSENT, 0)
    job = Job.objects.get(pk=body["id"])
    stored = job.params["upload"]
    assert default_storage.exists(stored)  # the upload waits with its job

    # Beat and the worker keep trying while Redis is away; nothing runs and nothing is lost meanwhile.
    wait_until(lambda: "Connection refused" in worker.log_path.read_text(), timeout=30,
               what="the worker to notice the broker is gone", log=worker.log_path.read_text)
    assert job_state(job).status == JobStatus.QUEUED and job.stage == STAGE_UNSENT and job.attempts == 0

    fault_stack.redis.start()  # back on the same port, empty (no persistence)
    back_at = time.monotonic()
    wait_until(lambda: job_state(job).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=90,
               what="the sweep to send the import and the worker to run it",
               log=lambda: worker.log_path.read_text() + "\n--- beat ---\n" + beat.log_path.read_text())
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 1 and job.result["imported"] > 0
    assert Item.objects.filter(project=project).count() == job.result["imported"]
    assert not default_storage.exists(stored)  # read, then removed: no orphaned upload
    leftovers = [p for p in Path(default_storage.path("uploads")).rglob("*") if p.is_file()] \
        if default_storage.exists("uploads") else []
    assert leftovers == []
    assert client.get("/healthz").json()["broker"] == "ok"
    print(f"\nthe import ran {time.monotonic() - back_at:.1f} s after Redis came back")
