"""Real workers on a Redis of the test's own: a pool child SIGKILLed mid-job (once, and every time), a whole
worker SIGKILLed, the broker down when an import starts, and a Redis that comes back without its queued messages."""
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


def running_attempt(job: Job, attempt: int, *, worker, steps: int = 3) -> None:
    """Wait until `attempt` of the job is running and has made `steps` progress steps (it is mid-job)."""

    def mid_job():
        return (job_state(job).status, job.attempts) == (JobStatus.RUNNING, attempt) and job.progress_done >= steps

    wait_until(mid_job, timeout=60, what=f"attempt {attempt} to be running", log=worker.log_path.read_text)


def kill_pool_child(worker) -> int:
    (child,) = children(worker.process.pid)  # -c 1: one pool child, the one running the job
    os.kill(child, signal.SIGKILL)  # it dies holding the task, unacknowledged (acks_late)
    return child


def test_a_pool_child_killed_mid_job_is_redelivered_and_completes_in_seconds(fault_stack, make_project):
    """Production's intervals (a beat every 20 s, stale after 90 s) and no sweep at all: the job is taken over by
    Celery's redelivery of the dead child's task, so it cannot wait for the heartbeat to go stale."""
    worker = fault_stack.start_worker(pool="prefork", settings_module="tests.faults.worker_settings_default_times")
    project, lead, _ = make_project(annotators=0)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead,
                          params={"seconds": 120, "first_attempt_only": True})
    running_attempt(job, 1, worker=worker)
    child = kill_pool_child(worker)
    killed_at = time.monotonic()

    wait_until(lambda: job_state(job).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=120,
               what="the job to finish after its worker child was killed", log=worker.log_path.read_text)
    took = time.monotonic() - killed_at
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert took < 30, took  # well inside two minutes, and before a 90 s staleness could have played a part
    assert job.attempts == 2 and job.result["attempt"] == 2  # the second attempt ran it, after the first died
    assert job.result["pid"] != child and job.result["pid"] in children(worker.process.pid)  # a new pool child
    assert worker.process.poll() is None  # the worker itself lived on
    log = worker.log_path.read_text()
    assert "signal 9 (SIGKILL)" in log and "WorkerLostError" in log, log[-3000:]
    print(f"\nkilled child {child}; the job was completed by {job.result['pid']} {took:.1f} s later")


def test_a_worker_killed_outright_has_its_job_resumed_by_the_sweep_on_another(fault_stack, make_project):
    """SIGKILL to a whole (solo) worker: nobody requeues its message (it stays unacknowledged in Redis for the
    visibility timeout), so the sweep, sent by a real beat, must see the stale heartbeat and resume the job."""
    first = fault_stack.start_worker(name=f"faults-first-{os.getpid()}")
    fault_stack.start_beat()
    project, lead, _ = make_project(annotators=0)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead,
                          params={"seconds": 120, "first_attempt_only": True})
    running_attempt(job, 1, worker=first)
    first.kill(signal.SIGKILL)
    killed_at = time.monotonic()
    second = fault_stack.start_worker(name=f"faults-second-{os.getpid()}")
    wait_until(lambda: job_state(job).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=120,
               what="the sweep to resume the job on the second worker", log=second.log_path.read_text)
    took = time.monotonic() - killed_at
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert job.worker == second.hostname and job.result["pid"] == second.process.pid
    assert took < 120, took
    print(f"\nthe sweep resumed the job on another worker {took:.1f} s after the first was killed")


def test_a_job_whose_worker_child_dies_every_time_fails_after_three_attempts(fault_stack, make_project):
    """Redelivery must not retry forever a job that kills its worker (out of memory, say): the third death ends it."""
    worker = fault_stack.start_worker(pool="prefork", settings_module="tests.faults.worker_settings_default_times")
    project, lead, _ = make_project(annotators=0)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead, params={"seconds": 120})
    for attempt in (1, 2, 3):
        running_attempt(job, attempt, worker=worker, steps=1)
        kill_pool_child(worker)
    wait_until(lambda: job_state(job).status == JobStatus.FAILED, timeout=60, what="the job to be failed",
               log=worker.log_path.read_text)
    assert job.attempts == 3 and "3 times" in job.error, job.error
    time.sleep(1.0)  # a redelivered task may still arrive: it must not start a fourth attempt
    assert job_state(job).status == JobStatus.FAILED and job.attempts == 3


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


def test_a_job_whose_message_redis_lost_in_a_restart_is_sent_again_and_runs(fault_stack, make_project):
    """A queued job's message lives only in Redis; a Redis that comes back empty (no persistence, a replaced
    host) has forgotten it. The job row remembers: the sweep sends it again once its queue is empty."""
    project, lead, _ = make_project(annotators=0)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead)  # sent: no worker is listening yet
    assert job_state(job).status == JobStatus.QUEUED and job.stage == ""
    assert fault_stack.redis.dbsize(0) > 0  # the message waits in Redis
    fault_stack.redis.kill()
    fault_stack.redis.start()
    assert fault_stack.redis.dbsize(0) == 0  # and is gone

    worker = fault_stack.start_worker()
    fault_stack.start_beat()
    wait_until(lambda: job_state(job).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=60,
               what="the sweep to send the lost job again", log=worker.log_path.read_text)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, job.error
