"""The model registry in Chromium: train from a version's page, watch the curves grow, compare with the shipped model, promote."""
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from annotate.models import Job, JobKind, JobStatus, ModelVersion
from tests.annotate.training_support import training_version
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"
EPOCHS = 2


def test_a_lead_trains_on_a_version_compares_with_the_shipped_model_and_promotes_it(page, live_server, login, make_project):
    project, lead, _ = make_project(annotators=0)
    version = training_version(project, faces=200)  # real sample faces: Training / PrivateTest / PublicTest
    login(page, lead.username)
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/{version.pk}/")
    page.wait_for_selector("body[data-train-ready='1']")
    assert not page.is_disabled("#train-button")
    form = "#train-form"
    assert page.input_value(f"{form} input[name=epochs]") == "60" and page.is_checked(f"{form} input[name=targets][value=soft]")
    page.check(f"{form} input[name=start][value=finetune]")  # fine-tuning fills its own defaults, scratch puts them back
    assert page.input_value(f"{form} input[name=epochs]") == "5" and page.input_value(f"{form} input[name=lr]") == "0.005"
    page.check(f"{form} input[name=start][value=scratch]")
    assert page.input_value(f"{form} input[name=epochs]") == "60" and page.input_value(f"{form} input[name=lr]") == "0.05"
    assert page.get_attribute(f"{form} input[name=epochs]", "max") == "200"

    # The browser would refuse 500 epochs itself; past that, the API's refusal shows beside the form.
    page.eval_on_selector(f"{form} input[name=epochs]", "e => { e.removeAttribute('max'); e.value = '500'; }")
    page.click("#train-button")
    page.wait_for_selector("#train-error p.bad")
    assert "epochs" in page.inner_text("#train-error") and page.get_attribute(f"{form} input[name=epochs]", "aria-invalid") == "true"
    assert not Job.objects.filter(kind=JobKind.TRAIN).exists()

    page.fill(f"{form} input[name=epochs]", str(EPOCHS))
    page.fill(f"{form} input[name=batch_size]", "32")
    page.click(f"{form} details.advanced summary")
    assert page.is_checked(f"{form} input[name=augment]") and page.input_value(f"{form} input[name=dropout]") == "0.1"
    screenshot(page, "dashboard-version-train")
    page.click("#train-button")  # in-process tasks: the training runs inside this POST, then the page moves on
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/models/?job=*", timeout=60_000)
    job = Job.objects.get(kind=JobKind.TRAIN)
    assert job.status == JobStatus.SUCCEEDED, job.error
    model = ModelVersion.objects.get(job=job)

    # The finished job's panel keeps its curves: one point per epoch, on both charts.
    panel = f".training[data-job='{job.pk}']"
    page.wait_for_selector(f"{panel}.succeeded .chart-acc svg")
    assert page.get_attribute(f"{panel} .chart-acc", "data-points") == str(EPOCHS)
    assert page.locator(f"{panel} .chart-acc svg circle").count() == EPOCHS
    assert page.locator(f"{panel} .chart-loss svg circle").count() == 2 * EPOCHS  # train and validation loss
    assert f"{EPOCHS} / {EPOCHS} epochs" in page.inner_text(panel) and model.name in page.inner_text(panel)
    row = f"tr[data-model='{model.pk}']"
    assert page.get_attribute(f"{row} svg.sparkline", "data-points") == str(EPOCHS)
    assert page.get_attribute(f"{row} a[data-dataset-version]", "href") == f"/projects/{project.pk}/versions/{version.pk}/"
    assert page.is_disabled(f"{row} input[data-pick]")  # not scored yet: nothing to compare

    # Score every version on PublicTest (the evaluate job runs inside the POST too).
    page.select_option("#eval-choice", "split:PublicTest")
    page.click("#eval-use")
    page.wait_for_selector(f"{row} input[data-pick]:not([disabled])")
    assert "Current: PublicTest split" in page.inner_text("#eval-current")
    assert "figures are thin" in page.inner_text(row)  # under 100 faces with a final label
    shipped = ModelVersion.objects.get(project__isnull=True, is_active=True)
    shipped_row = f"tr[data-model='{shipped.pk}']"
    assert page.locator(f"{shipped_row} [data-active]").count() == 1 and not page.locator(f"{row} [data-active]").count()

    page.check(f"{row} input[data-pick]")
    page.check(f"{shipped_row} input[data-pick]")
    page.click("#compare-button")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/models/compare/*")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("table.confusion >> nth=1")
    assert page.locator("table.confusion").count() == 2 and page.locator("#recall-diff tbody tr").count() == len(model.classes)
    disagree = int(page.inner_text("#disagree-count"))
    shown = page.locator("#disagreements figure.disagree")
    assert shown.count() == min(disagree, 60) and disagree > 0
    page.wait_for_function("[...document.querySelectorAll('#disagreements img.face')].every(i => i.complete && i.naturalWidth > 0)")
    shot = screenshot(page, "dashboard-models-compare")
    if os.environ.get("FERLAB_UPDATE_DOCS"):
        shutil.copy(shot, DOCS / "dashboard-models-compare.png")

    page.goto(f"{live_server.url}/projects/{project.pk}/models/?job={job.pk}")  # the training's panel stays for the picture
    page.wait_for_selector(f"{panel} .chart-acc svg")
    with page.expect_download() as download:
        page.click(f"a[data-download='{model.pk}']")
    assert sorted(zipfile.ZipFile(download.value.path()).namelist()) == ["MODEL_CARD.md", "checkpoint.pt"]
    page.click(f"button[data-promote='{model.pk}']")
    page.wait_for_selector("#confirm-dialog[open]")
    assert model.name in page.inner_text("#confirm-dialog")
    page.click("#confirm-ok")
    page.wait_for_selector(f"{row} [data-active]", timeout=30_000)
    assert not page.locator(f"{shipped_row} [data-active]").count()
    project.refresh_from_db()
    assert project.model_version_id == model.pk
    assert "promoted" in page.inner_text("#promotions li >> nth=0") and model.name in page.inner_text("#promotions")
    assert page.inner_text("#rollback-button") == f"Roll back to {shipped.name}"
    page.evaluate("document.getElementById('toasts')?.remove()")  # the promotion's toast would cover the table
    shot = screenshot(page, "dashboard-models")
    if os.environ.get("FERLAB_UPDATE_DOCS"):
        shutil.copy(shot, DOCS / "dashboard-models.png")

    page.click("#rollback-button")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")
    page.wait_for_selector(f"{shipped_row} [data-active]", timeout=30_000)
    assert "rolled back to" in page.inner_text("#promotions li >> nth=0") and page.locator("#promotions li").count() == 2


def test_a_running_trainings_curves_grow_as_epochs_finish(page, live_server, login, make_project):
    """The panel polls: a job written epoch by epoch (as a worker does) grows its curves on screen, and Cancel asks it to stop."""
    project, lead, _ = make_project(annotators=0)
    curve = [{"epoch": e, "loss": 2.0 - 0.3 * e, "val_accuracy": 0.3 + 0.1 * e, "val_loss": 1.9 - 0.2 * e, "seconds": 4.0 * e} for e in (1, 2, 3)]

    def report(epochs_done: int) -> dict:
        return {"curves": curve[:epochs_done], "epochs": 4, "eta_seconds": 4.0 * (4 - epochs_done), "device": "cpu",
                "resumed_from_epoch": None, "dataset_version": None}

    job = Job.objects.create(kind=JobKind.TRAIN, project=project, created_by=lead, queue="ml", status=JobStatus.RUNNING,
                             params={"targets": "hard", "start": "scratch", "epochs": 4}, result=report(1),
                             progress_done=1, progress_total=4, stage="epoch 1/4", started_at=timezone.now(), heartbeat_at=timezone.now())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/models/")
    panel = f".training[data-job='{job.pk}']"
    page.wait_for_selector(f"{panel} .chart-acc svg")
    assert page.get_attribute(f"{panel} .chart-acc", "data-points") == "1" and "1 / 4 epochs" in page.inner_text(panel)
    assert "about 12 s left" in page.inner_text(panel) and "on cpu" in page.inner_text(panel)
    Job.objects.filter(pk=job.pk).update(result=report(3), progress_done=3, stage="epoch 3/4")
    page.wait_for_selector(f"{panel} .chart-acc[data-points='3']", timeout=6_000)  # the page polls every 2 s
    assert page.locator(f"{panel} .chart-acc svg circle").count() == 3 and "3 / 4 epochs" in page.inner_text(panel)
    page.click(f"button[data-cancel='{job.pk}']")
    page.wait_for_selector(f"{panel} >> text=Stopping")
    job.refresh_from_db()
    assert job.cancel_requested_at is not None


def test_an_evaluate_jobs_bar_shows_while_it_scores_and_score_all_offers_the_stale_versions(page, live_server, login, make_project):
    project, lead, _ = make_project(annotators=0)
    project.evaluation_set = {"kind": "split", "split": "PublicTest", "items": 3, "sha256": "f" * 64}  # nobody scored on it
    project.save(update_fields=["evaluation_set"])
    job = Job.objects.create(kind=JobKind.EVALUATE, project=project, created_by=lead, queue="ml", status=JobStatus.RUNNING,
                             progress_done=1, progress_total=4, stage="scoring", started_at=timezone.now())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/models/")
    page.wait_for_selector("#eval-progress [role=progressbar][aria-valuenow='25']")
    assert page.is_hidden("#score-all") and "1 / 4" in page.inner_text("#eval-progress")
    assert "not scored on the set as it is now" in page.inner_text("#eval-current")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress_done=4, finished_at=timezone.now())
    page.wait_for_selector("#eval-progress", state="hidden")
    page.wait_for_selector("#score-all", state="visible")  # the shipped model is still not scored on this set
