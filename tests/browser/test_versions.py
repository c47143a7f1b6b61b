"""Dataset versions in Chromium: freeze from the page with its live preview, the version page, and the diff."""
import os
import shutil
from pathlib import Path

import pytest
from django.db.models import Max

from annotate.models import Annotation, DatasetVersion, Item
from annotate.services.reviews import review_create
from tests.annotate.audit_seed import seed_audit
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def project_with_run(make_project, make_items):
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 30)
    Item.objects.filter(pk__in=[i.pk for i in items[:20]]).update(split="Training")
    Item.objects.filter(pk__in=[i.pk for i in items[20:]]).update(split="PublicTest")
    run = seed_audit(project, people, items, seed=5)
    run.annotation_watermark = Annotation.objects.aggregate(w=Max("id"))["w"]
    run.save(update_fields=["annotation_watermark"])
    return project, lead, people, items


def test_a_lead_freezes_a_version_from_the_page_and_reads_its_diff(page, live_server, login, project_with_run):
    project, lead, people, items = project_with_run
    login(page, lead.username)
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#preview-faces")
    everything = int(page.inner_text("#preview-faces"))
    assert everything > 20 and "Training" in page.inner_text("#preview") and "PublicTest" in page.inner_text("#preview")
    page.fill("input[name=min_answers]", "9")  # more than anybody gave: the preview says so and freezing is off
    page.wait_for_selector("#preview >> text=leaves no face")
    assert page.is_disabled("#freeze-button")
    page.fill("input[name=min_answers]", "1")
    page.wait_for_function(f"document.getElementById('preview-faces')?.textContent === '{everything}'")
    page.fill("input[name=name]", "first round")
    page.click("#freeze-button")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/versions/*/")
    page.wait_for_selector("body[data-ready='1']")
    first = DatasetVersion.objects.get()
    assert first.name == "first round" and first.item_count == everything
    assert "first round" in page.inner_text("h1") and page.locator("#chart-balance svg").count() == 1
    assert first.sha256[:12] in page.inner_text(".stats")

    changed = first.entries.exclude(label="fear").first()
    review_create(item=changed.item, reviewer=lead, action="relabel", label="fear")
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#preview >> text=1 final labels differ from version 1")
    page.click("#freeze-button")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/versions/*/")
    second = DatasetVersion.objects.get(number=2)
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/{second.pk}/diff/")
    page.wait_for_selector("body[data-ready='1']")
    row = page.locator(f"#label-changes tr[data-from='{changed.label}'][data-to='fear']")
    assert row.count() == 1 and row.locator("td.num").inner_text() == "1"
    row.click()
    page.wait_for_function("[...document.querySelectorAll('#faces img.face')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#faces img.face").count() == 1
    screenshot(page, "dashboard-version-diff")  # the seeded faces are noise: not for the README
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/")
    page.wait_for_selector("#versions-table tr[data-version]")
    page.wait_for_selector("#preview-faces")
    assert page.locator("#versions-table tr[data-version]").count() == 2
    shot = screenshot(page, "dashboard-versions")
    if os.environ.get("FERLAB_UPDATE_DOCS"):
        shutil.copy(shot, DOCS / "dashboard-versions.png")


@pytest.mark.worker
def test_a_lead_builds_an_export_watches_its_progress_and_downloads_it(page, live_server, login, project_with_run, start_worker):
    from annotate.services.versions import version_freeze

    project, lead, people, items = project_with_run
    version, _ = version_freeze(project=project, created_by=lead)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/{version.pk}/")
    page.wait_for_selector("body[data-ready='1']")
    assert "Datasheets for Datasets" in page.inner_text("#data-card")
    page.click("button[data-build='fer2013-csv']")  # no worker yet: the job waits in its queue, the bar shows it
    bar = "tr[data-format='fer2013-csv'] [role=progressbar]"
    page.wait_for_selector(bar)
    assert "queued" in page.inner_text("tr[data-format='fer2013-csv']")
    screenshot(page, "dashboard-version")
    page.click("button[data-build='ferplus-csv']")
    page.wait_for_selector("button[data-cancel='ferplus-csv']")
    page.click("button[data-cancel='ferplus-csv']")  # a lead changes their mind: the queued job ends, nothing is built
    page.wait_for_selector("tr[data-format='ferplus-csv'] >> text=cancelled")
    start_worker("default", name="exports")
    page.wait_for_selector("a[data-download='fer2013-csv']", timeout=60_000)
    with page.expect_download() as download:
        page.click("a[data-download='fer2013-csv']")
    path = download.value.path()
    body = Path(path).read_bytes()
    import io
    import zipfile

    if zipfile.is_zipfile(io.BytesIO(body)):
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        csv_text = zipfile.ZipFile(io.BytesIO(body)).read(next(n for n in names if n.endswith(".csv"))).decode()
    else:
        csv_text = body.decode()
    lines = csv_text.strip().splitlines()
    fer2013_faces = version.entries.exclude(label="contempt").count()
    assert lines[0].startswith("emotion,pixels,Usage") and len(lines) - 1 == fer2013_faces
    assert version.exports.get(format="ferplus-csv").file == ""  # the cancelled one was never built
    page.wait_for_selector("a[data-download='fer2013-csv']")
    if os.environ.get("FERLAB_UPDATE_DOCS"):
        shutil.copy(screenshot(page, "dashboard-version"), DOCS / "dashboard-version.png")
