"""Every job kind through the one task on real Celery workers over Redis: routing, cancel, a killed worker, reruns."""
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from annotate.models import Item, Job, JobKind, JobStatus, Prediction, QualityItemResult, QualityRun
from annotate.services.imports import import_job_create
from annotate.services.jobs import job_cancel, job_enqueue, job_send, jobs_sweep
from tests.annotate.quality_support import answer, model_version_make, tiny_checkpoint

LABELS = ["neutral", "happiness", "surprise", "sadness"]
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "fer2013_sample.csv"
pytestmark = pytest.mark.worker


def _wait(job: Job, worker, *, until=(JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED), stage: str | None = None,
          attempts: int = 1, timeout=90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if (stage is not None and job.stage == stage) or (stage is None and job.status in until and job.attempts >= attempts):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} is {job.status}/{job.stage!r}:\n{worker.log_path.read_text()[-4000:]}")


def _enqueue(**kwargs) -> Job:
    with transaction.atomic():
        return job_enqueue(**kwargs)


@pytest.fixture
def labelled_project(make_project, make_items, tmp_path):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 12, split="PublicTest")
    model_version_make(checkpoint=tiny_checkpoint(tmp_path / "tiny.pt"))
    for i, item in enumerate(items):
        for j, person in enumerate(people):
            answer(item, person, LABELS[(i + (j == 2)) % 4])
    return project, lead, items


def test_a_ping_job_runs_in_the_worker_process(celery_worker, make_project):
    project, lead, _ = make_project(annotators=0)
    job = _wait(_enqueue(kind=JobKind.PING, project=project, created_by=lead), celery_worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["pid"] == celery_worker.process.pid != os.getpid()
    assert job.worker == celery_worker.hostname and job.result["database"] in ("postgresql", "sqlite")


def test_torch_jobs_go_to_the_ml_worker_and_imports_to_the_default_one(start_worker, labelled_project):
    project, lead, items = labelled_project
    default = start_worker("default", name="default-only")
    ml = start_worker("ml", name="ml-only")
    prelabel = _wait(_enqueue(kind=JobKind.PRELABEL, project=project, created_by=lead), ml)
    assert prelabel.status == JobStatus.SUCCEEDED, prelabel.error
    assert prelabel.worker == ml.hostname and prelabel.result["scored"] == 12
    assert "annotate.tasks.job_run[" not in default.log_path.read_text()  # the default worker never received it
    assert ml.log_path.read_text().count("annotate.tasks.job_run[") == 2  # received, succeeded
    with transaction.atomic():
        upload = SimpleUploadedFile("fer2013.csv", SAMPLE.read_bytes()[:20_000], content_type="text/csv")
        imported = import_job_create(project=project, upload=upload, created_by=lead)
    imported = _wait(imported, default)
    assert imported.status == JobStatus.SUCCEEDED, imported.error
    assert imported.worker == default.hostname and imported.result["imported"] > 0
    assert ml.log_path.read_text().count("annotate.tasks.job_run[") == 2  # the import never reached the ml worker


def test_prelabel_then_analyse_end_to_end(celery_worker, labelled_project):
    project, lead, items = labelled_project
    job = _wait(_enqueue(kind=JobKind.PRELABEL, project=project, created_by=lead), celery_worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["scored"] == 12 and Prediction.objects.filter(item__project=project, job=job).count() == 12
    job = _wait(_enqueue(kind=JobKind.ANALYSE, project=project, created_by=lead), celery_worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    assert run.annotation_count == 36 and QualityItemResult.objects.filter(run=run).count() == 12
    assert run.summary["answers"] == 36 and job.attempts == 1


def test_a_running_job_cancelled_stops_within_one_progress_step(celery_worker, make_project):
    project, lead, _ = make_project(annotators=0)
    job = _enqueue(kind=JobKind.PING, project=project, created_by=lead, params={"seconds": 60})
    _wait(job, celery_worker, stage="holding")
    time.sleep(0.5)
    job_cancel(job=job, cancelled_by=lead)
    cancelled_at = time.monotonic()
    job = _wait(job, celery_worker)
    assert job.status == JobStatus.CANCELLED and job.cancelled_by == lead
    assert time.monotonic() - cancelled_at < 2.0  # one progress step is 0.2 s; the poll adds 0.1
    done = job.progress_done
    time.sleep(0.6)
    job.refresh_from_db()
    assert job.progress_done == done and job.status == JobStatus.CANCELLED


def test_an_analysis_cancelled_while_running_writes_nothing(celery_worker, labelled_project):
    project, lead, items = labelled_project
    job = _enqueue(kind=JobKind.ANALYSE, project=project, created_by=lead, params={"test_delay_seconds": 60})
    _wait(job, celery_worker, stage="test delay")  # computed, about to write
    job_cancel(job=job, cancelled_by=lead)
    job = _wait(job, celery_worker)
    assert job.status == JobStatus.CANCELLED, job.error
    assert not QualityRun.objects.exists() and not QualityItemResult.objects.exists()
    assert set(Item.objects.values_list("priority", flat=True)) == {0.0}
    assert not Prediction.objects.filter(job=job).exists() and job.result["cleanup"]["predictions_removed"] == 12


def test_a_worker_killed_mid_run_is_resumed_by_the_sweep_and_completes(celery_worker, labelled_project):
    project, lead, items = labelled_project
    job = _enqueue(kind=JobKind.ANALYSE, project=project, created_by=lead, params={"test_delay_seconds": 60})
    _wait(job, celery_worker, stage="test delay")  # computed, about to write: the worst moment to die
    job_send(job=job)  # a redelivered task while the job is alive: dropped, never run twice at once
    time.sleep(1.0)
    celery_worker.kill(9)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 1 and not QualityRun.objects.exists()
    assert not QualityItemResult.objects.exists() and set(Item.objects.values_list("priority", flat=True)) == {0.0}

    celery_worker.start()
    assert jobs_sweep(now=timezone.now()) == {"sent": 0, "resumed": 0, "cancelled": 0, "failed": 0}  # the heartbeat is fresh
    with transaction.atomic():
        counts = jobs_sweep(now=timezone.now() + timedelta(seconds=100))  # 90 s after its last beat: taken for dead
    assert counts["resumed"] == 1
    job = _wait(job, celery_worker, until=(JobStatus.SUCCEEDED, JobStatus.FAILED), attempts=2)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    run = QualityRun.objects.get()
    assert run.job_id == job.pk and QualityItemResult.objects.filter(run=run).count() == 12


def test_a_rerun_after_success_changes_nothing(celery_worker, labelled_project):
    project, lead, items = labelled_project
    first = _wait(_enqueue(kind=JobKind.ANALYSE, project=project, created_by=lead), celery_worker)
    assert first.status == JobStatus.SUCCEEDED, first.error
    priorities = dict(Item.objects.values_list("id", "priority"))
    results = list(QualityItemResult.objects.order_by("id").values())
    job_send(job=first)  # the same task delivered again: the succeeded job is not run twice
    second = _wait(_enqueue(kind=JobKind.ANALYSE, project=project, created_by=lead), celery_worker)
    assert second.status == JobStatus.SUCCEEDED and second.result["reused"] is True
    assert second.result["quality_run"] == first.result["quality_run"] and QualityRun.objects.count() == 1
    first.refresh_from_db()
    assert first.attempts == 1
    assert dict(Item.objects.values_list("id", "priority")) == priorities
    assert list(QualityItemResult.objects.order_by("id").values()) == results
