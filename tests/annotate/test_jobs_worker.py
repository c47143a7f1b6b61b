"""Pre-label and analyse on a real Celery worker over Redis: end to end, killed mid-run, and rerun."""
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotate.models import Item, Job, JobStatus, Prediction, QualityItemResult, QualityRun
from annotate.services.jobs import jobs_fail_stale
from annotate.services.prelabel import prelabel_start
from annotate.services.quality import quality_run_start
from tests.annotate.test_quality_support import answer, model_version_make, tiny_checkpoint

LABELS = ["neutral", "happiness", "surprise", "sadness"]
pytestmark = pytest.mark.worker


def _wait(job: Job, worker, *, until=(JobStatus.SUCCEEDED, JobStatus.FAILED), stage: str | None = None, attempts: int = 1,
          timeout=90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if (stage is not None and job.stage == stage) or (stage is None and job.status in until and job.attempts >= attempts):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} is {job.status}/{job.stage!r}:\n{worker.log_path.read_text()[-4000:]}")


@pytest.fixture
def labelled_project(make_project, make_items, tmp_path):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 12, split="PublicTest")
    model_version_make(checkpoint=tiny_checkpoint(tmp_path / "tiny.pt"))
    for i, item in enumerate(items):
        for j, person in enumerate(people):
            answer(item, person, LABELS[(i + (j == 2)) % 4])
    return project, lead, items


def _start(start, **kwargs) -> Job:
    with transaction.atomic():
        return start(**kwargs)


def test_prelabel_then_analyse_end_to_end(celery_worker, labelled_project):
    project, lead, items = labelled_project
    job = _wait(_start(prelabel_start, project=project, created_by=lead), celery_worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["scored"] == 12 and Prediction.objects.filter(item__project=project).count() == 12
    job = _wait(_start(quality_run_start, project=project, created_by=lead), celery_worker)
    assert job.status == JobStatus.SUCCEEDED, job.error
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    assert run.annotation_count == 36 and QualityItemResult.objects.filter(run=run).count() == 12
    assert run.summary["answers"] == 36 and job.attempts == 1


def test_a_worker_killed_mid_run_leaves_nothing_and_a_rerun_completes(celery_worker, labelled_project):
    from annotate.tasks.quality import analyse

    project, lead, items = labelled_project
    job = _start(quality_run_start, project=project, created_by=lead, params={"test_delay_seconds": 60})
    _wait(job, celery_worker, stage="test delay")  # computed, about to write: the worst moment to die
    celery_worker.kill(9)
    assert job.status == JobStatus.RUNNING and not QualityRun.objects.exists()
    assert not QualityItemResult.objects.exists() and set(Item.objects.values_list("priority", flat=True)) == {0.0}
    assert jobs_fail_stale(now=timezone.now() + timedelta(minutes=10)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "heartbeat" in job.error

    celery_worker.start()
    analyse.delay(job.pk)
    job = _wait(job, celery_worker, attempts=2)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    run = QualityRun.objects.get()
    assert run.job_id == job.pk and QualityItemResult.objects.filter(run=run).count() == 12


def test_a_rerun_after_success_changes_nothing(celery_worker, labelled_project):
    from annotate.tasks.quality import analyse

    project, lead, items = labelled_project
    first = _wait(_start(quality_run_start, project=project, created_by=lead), celery_worker)
    assert first.status == JobStatus.SUCCEEDED, first.error
    priorities = dict(Item.objects.values_list("id", "priority"))
    results = list(QualityItemResult.objects.order_by("id").values())
    analyse.delay(first.pk)  # the same task delivered again: the succeeded job is not run twice
    second = _wait(_start(quality_run_start, project=project, created_by=lead), celery_worker)
    assert second.status == JobStatus.SUCCEEDED and second.result["reused"] is True
    assert second.result["quality_run"] == first.result["quality_run"] and QualityRun.objects.count() == 1
    first.refresh_from_db()
    assert first.attempts == 1
    assert dict(Item.objects.values_list("id", "priority")) == priorities
    assert list(QualityItemResult.objects.order_by("id").values()) == results
