"""The upload page in Chromium: drop a csv and read its report, pack a folder into a zip in the browser, exclude a
near duplicate shown side by side, cancel a queued import, and open a past import's report again."""
import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from annotate.models import AuditEvent, Item, Job, JobStatus, Review
from tests.annotate.imports_support import fer_rows, make_zip, sample_face, write_fer2013
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def edited(face: np.ndarray) -> np.ndarray:
    """The same face with every pixel moved by up to 6 grey levels: other bytes and pixels, dHash distance <= 4."""
    return np.clip(face.astype(int) + np.random.default_rng(1).integers(-6, 7, face.shape), 0, 255).astype(np.uint8)


def drop_file(page, name: str, text: str) -> None:
    """Drop a file on the drop zone as a person dragging it from their desktop would."""
    page.evaluate(
        """([name, text]) => {
          const dt = new DataTransfer();
          dt.items.add(new File([text], name, { type: "text/csv" }));
          const zone = document.getElementById("drop-zone");
          zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
          zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        [name, text],
    )


def wait_for_report(page, status: str = "succeeded") -> None:
    page.wait_for_selector(f"#report[data-status='{status}']:not([hidden])", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#report-list table, #report-list p.empty') !== null")


def stats(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#report-stats .stat')].map(
             (s) => [s.querySelector('.stat-label').textContent, Number(s.querySelector('.stat-value').textContent.replace(/\\D/g, ''))]))"""
    )


def test_a_dropped_csv_uploads_with_its_options_and_its_report_reads_later(page, live_server, login, make_project, tmp_path):
    project, lead, _ = make_project(annotators=1)
    rows = fer_rows(12) + [["0", "1 2 3", "Training"], ["9", fer_rows(1)[0][1], "Training"]]
    rows[3][2] = ""  # no Usage: takes the split typed on the page
    text = write_fer2013(tmp_path / "fer2013.csv", rows).read_text()
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("body[data-ready='1']")
    assert "No imports yet" in page.inner_text("#imports-table")
    assert page.get_attribute("a.tab.active", "href").endswith("/upload/")

    drop_file(page, "fer2013.csv", text)
    page.wait_for_selector("#chosen:not([hidden]) strong")
    assert "fer2013.csv" in page.inner_text("#chosen")
    page.check("#opt-gold")
    assert page.is_disabled("#opt-labels")  # gold from reference labels and labels as answers exclude each other
    page.fill("#opt-split", "Pilot")
    page.click("#upload-button")
    wait_for_report(page)
    assert page.get_attribute("#send-bar", "aria-valuenow") == "100"
    assert page.get_attribute("#job-bar", "aria-valuenow") == "100"
    assert page.is_hidden("#cancel-button") and "fer2013.csv · 105.7 kB sent" in page.inner_text("#progress")
    assert stats(page) == {"Imported": 12, "Updated": 0, "Skipped": 2, "Duplicates": 0, "Near duplicates": 0, "Gold": 12}
    meta = page.inner_text("#report-meta")
    assert "gold from reference labels" in meta and "split Pilot" in meta and lead.username in meta
    assert page.get_attribute("#report-tabs [data-list='skipped']", "aria-pressed") == "true"
    skipped = page.inner_text("#report-list")
    assert "pixels has 3 values, expected 2304" in skipped and "is not a FER2013 class 0..6" in skipped
    page.click("#report-list .reasons button:has-text('bad_emotion')")
    page.wait_for_function("() => document.querySelectorAll('#report-list tr.skip-row').length === 1")
    assert Item.objects.filter(project=project, is_gold=True).count() == 12
    assert Item.objects.get(project=project, source_row=3).split == "Pilot"
    job = Job.objects.get(project=project)
    assert page.url.endswith(f"?job={job.pk}")
    event = AuditEvent.objects.get(action="import.started")
    assert event.actor == lead and event.details["options"]["split"] == "Pilot" and event.details["size"] == len(text.encode())
    screenshot(page, "upload-csv-report")
    assert not [m for m in messages if "Content Security Policy" in m or "Refused to" in m]  # the page runs under the CSP

    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")  # the report is readable later, from the list
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_hidden("#report")
    page.click(f"#imports-table a[data-open='{job.pk}']")
    wait_for_report(page)
    assert stats(page)["Imported"] == 12 and "fer2013.csv" in page.inner_text("#report-title")
    assert page.is_hidden("#progress") and page.is_hidden("#cancel-button")


def test_a_near_duplicate_in_a_zip_is_shown_beside_its_twin_and_excluded(page, live_server, login, make_project, tmp_path):
    project, lead, _ = make_project(annotators=1)
    face = sample_face(6)
    archive = make_zip(tmp_path / "faces.zip", {"happy/a.png": png(face), "sad/b.png": png(sample_face(12)),
                                                  "happy/a-edited.png": png(edited(face))})
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#pick-file", str(archive))
    page.check("#opt-cropped")
    page.click("#upload-button")
    wait_for_report(page)
    assert stats(page)["Near duplicates"] == 1 and stats(page)["Imported"] == 3
    row = page.locator("#report-list tr.pair-row")
    assert row.count() == 1
    new_id = int(row.get_attribute("data-item"))
    similar = Item.objects.get(project=project, source__endswith="happy/a.png")
    assert "a-edited.png" in row.inner_text() and f"item {similar.pk}" in row.inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('#report-list tr.pair-row img.face')].every((i) => i.complete && i.naturalWidth === 48)")
    screenshot(page, "upload-near-duplicate")

    page.click(f"button[data-exclude='{new_id}']")
    page.wait_for_selector("#report-list tr.pair-row[data-state='excluded']")
    assert "excluded" in row.inner_text() and not page.locator("button[data-exclude]").count()
    assert Item.objects.get(pk=new_id).excluded and not Item.objects.get(pk=similar.pk).excluded
    review = Review.objects.get(item_id=new_id)
    assert review.action == "exclude" and review.reviewer == lead
    event = AuditEvent.objects.get(action="item.excluded_as_near_duplicate")
    assert event.target == f"item:{new_id}" and event.details["similar_item"] == similar.pk
    page.reload()
    wait_for_report(page)
    assert page.locator("#report-list tr.pair-row[data-state='excluded']").count() == 1  # read back from the server


def test_a_folder_is_packed_into_one_zip_in_the_browser(page, live_server, login, make_project, tmp_path):
    project, lead, _ = make_project(annotators=1)
    root = tmp_path / "dataset"
    for folder, row in (("train/happy", 6), ("train/sad", 12), ("test/happy", 13), ("test/angry", 14)):
        (root / folder).mkdir(parents=True)
        (root / folder / f"face-{row}.png").write_bytes(png(sample_face(row)))
    (root / ".DS_Store").write_bytes(b"\0" * 10)
    (root / "train" / "readme.txt").write_text("not a face")
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#pick-folder", str(root))
    page.wait_for_selector("#chosen:not([hidden]) strong")
    chosen = page.inner_text("#chosen")
    assert "5 files" in chosen and "dataset.zip" in chosen and "1 file left out" in chosen
    page.check("#opt-cropped")
    page.check("#opt-gold")
    page.click("#upload-button")
    wait_for_report(page)
    assert page.get_attribute("#pack-bar", "aria-valuenow") == "100"
    assert stats(page)["Imported"] == 4 and stats(page)["Gold"] == 4 and stats(page)["Skipped"] == 1
    assert "readme.txt" in page.inner_text("#report-list")  # the server read the zip the browser made and said why
    items = {i.source.split(":", 1)[1]: i for i in Item.objects.filter(project=project)}
    assert items["dataset/train/happy/face-6.png"].split == "Training" and items["dataset/train/happy/face-6.png"].gold_label == "happiness"
    assert items["dataset/test/angry/face-14.png"].split == "Test" and items["dataset/test/angry/face-14.png"].gold_label == "anger"
    assert Job.objects.get(project=project).params["filename"] == "dataset.zip"
    screenshot(page, "upload-folder")


def test_a_queued_import_is_cancelled_from_the_page(page, live_server, login, make_project, tmp_path, job_queues):
    project, lead, _ = make_project(annotators=1)
    text = write_fer2013(tmp_path / "fer2013.csv", fer_rows(3)).read_text()
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("body[data-ready='1']")
    drop_file(page, "fer2013.csv", text)
    page.wait_for_selector("#chosen:not([hidden]) strong")
    page.click("#upload-button")
    page.wait_for_selector("#job-bar[data-status='queued']")  # no worker consumes this test's queue
    assert page.is_visible("#cancel-button")
    screenshot(page, "upload-queued")
    page.click("#cancel-button")
    wait_for_report(page, "cancelled")
    assert f"cancelled by {lead.username}" in page.inner_text("#report-meta")
    assert "Cancelled before it stored anything." in page.inner_text("#report-notes")
    job = Job.objects.get(project=project)
    assert job.status == JobStatus.CANCELLED and not Item.objects.filter(project=project).exists()
    assert not default_storage.exists(job.params["upload"])  # the queued import's upload is removed with it
    assert "cancelled" in page.inner_text("#imports-table tr[data-job] .state")


def test_the_browsers_zip_is_what_pythons_zipfile_reads(page):
    """zip.js on its own: CRC-32 as zlib computes it, UTF-8 names, stored members, an end record zipfile accepts."""
    import base64
    import binascii
    import zipfile
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "frontend/static/js/zip.js").read_text()
    page.goto("about:blank")
    page.add_script_tag(content=source.replace("export ", "") + "\nwindow.zipFiles = zipFiles; window.crc32 = crc32;")
    for n in (0, 1, 7, 8, 9, 4099):
        data = bytes((i * 37 + 11) % 256 for i in range(n))
        assert page.evaluate("(a) => crc32(new Uint8Array(a))", list(data)) == binascii.crc32(data)
    encoded = page.evaluate("""async () => {
      const file = (text, name) => new File([text], name, { lastModified: Date.UTC(2026, 0, 2, 3, 4, 6) });
      const blob = await zipFiles([{ path: "happy/ä.png", file: file("x".repeat(5000), "ä.png") },
                                   { path: "empty.jpg", file: file("", "empty.jpg") }, { path: "b/c.txt", file: file("c", "c.txt") }]);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      return btoa(String.fromCharCode(...bytes));
    }""")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded))) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["happy/ä.png", "empty.jpg", "b/c.txt"]
        assert archive.read("happy/ä.png") == b"x" * 5000 and archive.read("empty.jpg") == b""
        info = archive.getinfo("b/c.txt")
        assert info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size == 1


# Enough rows that an idle worker takes a few seconds (about 3,000 rows/s): 2,000 finished between two polls.
ROWS_FOR_A_VISIBLE_BAR = 12_000


def test_a_real_workers_import_moves_the_job_bar(page, live_server, login, make_project, tmp_path, celery_worker):
    project, lead, _ = make_project(annotators=1)
    rng = np.random.default_rng(7)
    labels = ("0", "3", "4", "6")
    lines = ["emotion,pixels,Usage"] + [f"{labels[i % 4]},{' '.join(map(str, rng.integers(0, 256, 2304)))},Training" for i in range(ROWS_FOR_A_VISIBLE_BAR)]
    path = tmp_path / "noise-faces.csv"
    path.write_text("\n".join(lines) + "\n")
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#pick-file", str(path))
    # Every value the job bar shows, as the page sets it.
    page.evaluate("""() => {
      window.seen = [];
      const bar = document.getElementById("job-bar");
      new MutationObserver(() => window.seen.push([bar.dataset.status, Number(bar.getAttribute("aria-valuenow"))]))
        .observe(bar, { attributes: true, attributeFilter: ["aria-valuenow", "data-status"] });
    }""")
    page.click("#upload-button")
    wait_for_report(page)
    seen = page.evaluate("() => window.seen")
    assert any(status == "running" and 0 < value < 100 for status, value in seen), seen
    assert seen[-1] == ["succeeded", 100] and stats(page)["Imported"] == ROWS_FOR_A_VISIBLE_BAR
