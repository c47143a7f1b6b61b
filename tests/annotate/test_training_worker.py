"""Training on a real Celery worker over Redis: end to end, a worker killed with SIGKILL resumes from its last
epoch, and a cancelled training leaves no model version and no file behind."""
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotate.models import Job, JobKind, JobStatus, ModelVersion
from annotate.services.jobs import job_cancel, job_enqueue, jobs_sweep
from annotate.services.training import _options_check, checkpoint_path, checkpoint_stored, training_start
from tests.annotate.training_support import evaluation_set_use, training_version

pytestmark = pytest.mark.worker


def _wait(job: Job, worker, *, until=(JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED), done: int | None = None,
          attempts: int = 1, timeout=180) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done is not None and job.progress_done >= done and job.status == JobStatus.RUNNING:
            return job
        if done is None and job.status in until and job.attempts >= attempts:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} is {job.status}/{job.stage!r}:\n{worker.log_path.read_text()[-4000:]}")


def _paused_training(project, version, lead, *, epochs: int, pause_after: int) -> Job:
    """A training whose first attempt waits after one epoch (a test hook), so a test can act between two epochs."""
    params = {"dataset_version": version.pk, **_options_check({"epochs": epochs, "batch_size": 32}),
              "test_pause_after_epoch": pause_after}
    with transaction.atomic():
        return job_enqueue(kind=JobKind.TRAIN, project=project, params=params, created_by=lead)


def _model_files() -> set[str]:
    return set(default_storage.listdir("models")[1]) if default_storage.exists("models") else set()


def test_a_real_worker_trains_a_model_version(start_worker, make_project):
    worker = start_worker("ml", name="train-ml")
    project, lead, _ = make_project(annotators=0)
    version = training_version(project, faces=200)
    evaluation_set_use(project)
    with transaction.atomic():
        job = training_start(project=project, version_id=version.pk, options={"epochs": 2, "batch_size": 32}, created_by=lead)
    job = _wait(job, worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.worker.startswith("train-ml@") and job.queue.endswith("-ml")
    model = ModelVersion.objects.get(job=job)
    assert [c["epoch"] for c in model.curves] == [1, 2] and job.result["evaluation"]["n_total"] > 0
    assert _model_files() == {f"{model.sha256}.pt"}


def test_a_worker_killed_mid_training_resumes_from_its_last_epoch(start_worker, make_project):
    worker = start_worker("ml", name="train-kill")
    project, lead, _ = make_project(annotators=0)
    version = training_version(project, faces=200)
    job = _paused_training(project, version, lead, epochs=4, pause_after=2)
    job = _wait(job, worker, done=2)  # two epochs done and checkpointed; the third waits
    worker.kill(9)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and checkpoint_path(job).exists() and not ModelVersion.objects.exists()
    first = [c["epoch"] for c in job.result["curves"]]
    stored = checkpoint_stored(job)
    assert len(stored) == 1 and stored[0].endswith(f"epoch-{job.progress_done:04d}.pt")
    checkpoint_path(job).unlink()  # the next attempt runs "on another machine": it resumes from storage

    worker.start()
    with transaction.atomic():
        counts = jobs_sweep(now=timezone.now() + timedelta(seconds=100))  # no heartbeat for 90 s: the worker is dead
    assert counts["resumed"] == 1
    job = _wait(job, worker, attempts=2)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert job.result["resumed_from_epoch"] >= 2 and first[:2] == [1, 2]
    model = ModelVersion.objects.get(job=job)
    assert [c["epoch"] for c in model.curves] == [1, 2, 3, 4]  # epochs 1-2 from the first attempt, not run again
    assert not checkpoint_path(job).exists() and checkpoint_stored(job) == []


def test_a_cancelled_training_leaves_no_model_version_and_no_file(start_worker, make_project):
    worker = start_worker("ml", name="train-cancel")
    project, lead, _ = make_project(annotators=0)
    version = training_version(project, faces=200)
    job = _paused_training(project, version, lead, epochs=5, pause_after=1)
    job = _wait(job, worker, done=1)
    assert checkpoint_path(job).exists()
    job_cancel(job=job, cancelled_by=lead)
    job = _wait(job, worker)
    assert job.status == JobStatus.CANCELLED and job.result["cleanup"] == {"checkpoint_removed": True, "model_versions_removed": 0}
    assert not ModelVersion.objects.filter(job=job).exists() and not checkpoint_path(job).exists()
    assert _model_files() == set() and not list(Path(checkpoint_path(job)).parent.glob(f"job-{job.pk}-*"))
    assert checkpoint_stored(job) == []
