"""The jobs page in Chromium, with a real worker: a running job's bar moves, Cancel stops it, every state reads plainly."""
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from annotate.models import Job, JobKind, JobStatus, QualityRun
from annotate.services.jobs import job_enqueue
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _finished_jobs(project, lead):
    """A history as a lead would see it: a resumed quality run, a failed import, a cancelled pre-labelling."""
    now = timezone.now()
    common = {"project": project, "created_by": lead, "queue": "ml"}
    run = QualityRun.objects.create(project=project, summary={}, finished_at=now - timedelta(minutes=8))
    Job.objects.create(kind=JobKind.ANALYSE, status=JobStatus.SUCCEEDED, progress_done=6, progress_total=6, attempts=2,
                       stage="writing results", result={"quality_run": run.pk, "reused": False},
                       started_at=now - timedelta(minutes=9, seconds=40), finished_at=now - timedelta(minutes=8), **common)
    Job.objects.create(kind=JobKind.IMPORT, status=JobStatus.FAILED, progress_done=0, progress_total=0, stage="importing",
                       error="photos.zip: cannot read the file (File is not a zip file)",
                       started_at=now - timedelta(minutes=7), finished_at=now - timedelta(minutes=7), **{**common, "queue": "default"})
    Job.objects.create(kind=JobKind.PRELABEL, status=JobStatus.CANCELLED, progress_done=512, progress_total=2048,
                       stage="cancelled", result={"cleanup": {"predictions_removed": 512}}, cancelled_by=lead,
                       cancel_requested_at=now - timedelta(minutes=5), started_at=now - timedelta(minutes=6),
                       finished_at=now - timedelta(minutes=5), **common)


def test_the_jobs_page_shows_a_running_jobs_progress_and_cancels_it(page, live_server, login, make_project, celery_worker):
    project, lead, _ = make_project(annotators=1)
    _finished_jobs(project, lead)
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead, params={"seconds": 30})
    login(page, lead.username)
    page.set_viewport_size({"width": 1360, "height": 760})
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/")
    page.wait_for_selector(f"tr[data-job='{job.pk}'].running", timeout=30_000)
    bar = f"tr[data-job='{job.pk}'] [role=progressbar]"
    first = int(page.get_attribute(bar, "aria-valuenow"))
    page.wait_for_function(
        "([sel, v]) => Number(document.querySelector(sel).getAttribute('aria-valuenow')) >= v + 5", arg=[bar, first], timeout=10_000,
    )
    assert "holding" in page.inner_text(f"tr[data-job='{job.pk}'] .job-stage")
    rows = page.locator("#jobs-table tbody tr")
    assert rows.count() == 4 and rows.first.get_attribute("data-job") == str(job.pk)  # newest first
    assert "resumed · attempt 2" in page.inner_text("#jobs-table tbody tr.succeeded")
    assert page.inner_text("#jobs-table tbody tr.succeeded a") == "run #1"  # the project's first run, not its id
    assert "not a zip file" in page.inner_text("#jobs-table tbody tr.failed .job-error")
    assert "512 predictions removed" in page.inner_text("#jobs-table tbody tr.cancelled")
    shot = screenshot(page, "dashboard-jobs")
    if os.environ.get("FERLAB_UPDATE_DOCS"):
        shutil.copy(shot, DOCS / "dashboard-jobs.png")

    page.click(f"button[data-cancel='{job.pk}']")
    page.wait_for_selector(f"tr[data-job='{job.pk}'].cancelled", timeout=10_000)
    assert f"cancelled by {lead.username}" in page.inner_text(f"tr[data-job='{job.pk}']")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.progress_done < job.progress_total
    assert not page.locator(f"button[data-cancel='{job.pk}']").count()
