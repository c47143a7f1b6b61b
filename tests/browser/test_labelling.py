"""The labelling page in Chromium: keyboard answers, undo, flags, prefetch speed, a phone by touch."""
import csv
import hashlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from annotate.models import Annotation, Item
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "fer2013_sample.csv"


def faces(project, n: int, make_items) -> list[Item]:
    """n real FER2013 faces from the shipped sample when it is there (nicer screenshots), else synthetic ones."""
    if not SAMPLE.exists():
        return make_items(project, n)
    items = []
    with SAMPLE.open() as handle:
        for row, record in zip(range(n), csv.DictReader(handle)):
            pixels = np.array(record["pixels"].split(), dtype=np.uint8).reshape(48, 48)
            buffer = io.BytesIO()
            Image.fromarray(pixels, "L").save(buffer, format="PNG")
            digest = hashlib.sha256(pixels.tobytes()).hexdigest()
            item = Item(project=project, content_hash=digest, width=48, height=48, source=f"fer2013 row {row}", source_row=row)
            item.crop.save(f"{digest[:16]}.png", ContentFile(buffer.getvalue()), save=False)
            items.append(item)
    return Item.objects.bulk_create(items)


def face_id(page) -> str | None:
    return page.locator("#face").get_attribute("data-item")


def wait_saved(page):
    page.wait_for_function("document.getElementById('sync').dataset.state === 'ok'")


def test_label_twenty_faces_by_keyboard_and_undo_one(page, login, live_server, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, name="Expressions 2026", gold_rate=0)
    faces(project, 24, make_items)
    project.memberships.filter(user=alice).update(message="Label what you see, not what you expect. Contempt is one-sided.")
    login(page, alice.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    assert "Contempt is one-sided" in page.locator("#lead-message").inner_text()
    assert page.locator("#face").evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"

    seen, corrected = [], None
    for n in range(20):
        before = face_id(page)
        seen.append(int(before))
        if n == 4:
            page.keyboard.press("o")  # a flag toggles before the answer
            page.keyboard.press("q")
        page.keyboard.press("12345678"[n % 8])
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
        if n == 11:
            page.keyboard.press("z")  # back to the face just answered
            page.wait_for_function(f"document.getElementById('face').dataset.item === '{before}'")
            assert page.locator("#correcting").is_visible()
            page.keyboard.press("0")  # not a face
            page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
            corrected = int(before)
    wait_saved(page)
    assert page.locator("#session-count").inner_text() == "20"

    originals = Annotation.objects.filter(project=project, annotator=alice, replaces__isnull=True)
    corrections = Annotation.objects.filter(project=project, annotator=alice, replaces__isnull=False)
    assert originals.count() == 20 and corrections.count() == 1
    assert sorted(originals.values_list("item_id", flat=True)) == sorted(seen)
    fix = corrections.get()
    assert (fix.item_id, fix.label, fix.replaces.label) == (corrected, "not_a_face", project.labels[11 % 8])
    assert originals.get(item_id=seen[4]).flags == ["occluded", "low_quality"]
    assert all(a.seconds is not None and a.seconds >= 0 for a in originals)
    assert sorted(Item.objects.filter(answer_count=1).values_list("pk", flat=True)) == sorted(seen)
    assert Item.objects.filter(answer_count__gt=1).count() == 0

    # Prefetched faces are decoded before they are needed: the next face is on screen well within 50 ms.
    switch = sorted(page.evaluate("window.ferlabLabel.switchMs"))
    assert switch[len(switch) // 2] < 50, switch

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.wait_for_function("document.getElementById('help-stats').textContent.includes('20 answers')")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    page.wait_for_function("document.getElementById('toast').textContent === ''")
    path = screenshot(page, "labelling")
    if os.environ.get("FERLAB_UPDATE_DOCS"):  # the README picture changes only on request, never as a test side effect
        shutil.copy(path, ROOT / "docs" / "labelling.png")


def test_no_work_left_is_said_clearly(page, login, live_server, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    faces(project, 2, make_items)
    login(page, alice.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    page.keyboard.press("1")
    page.keyboard.press("s")
    page.wait_for_selector("#label-app[data-state=empty]")
    assert page.locator("#empty-title").inner_text() == "No work left"
    wait_saved(page)
    assert Annotation.objects.filter(annotator=alice).count() == 1
    assert project.assignments.filter(status="skipped").count() == 1


def test_phone_by_touch_with_the_valence_arousal_pad(browser, login, live_server, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, valence_arousal=True)
    faces(project, 4, make_items)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        login(page, alice.username)
        page.goto(f"{live_server.url}/projects/{project.pk}/label/")
        page.wait_for_selector("#label-app[data-state=labelling]")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        box = page.locator("#face").bounding_box()
        assert box["width"] >= 300  # the face fills the phone's width
        for selector in [".label-button >> nth=0", ".label-button >> nth=9", "#skip", "#undo"]:
            target = page.locator(selector).bounding_box()
            assert target["height"] >= 40 and target["x"] >= 0 and target["x"] + target["width"] <= 390
        page.locator("#va-pad").scroll_into_view_if_needed()
        pad = page.locator("#va-pad").bounding_box()
        page.touchscreen.tap(pad["x"] + pad["width"] * 0.75, pad["y"] + pad["height"] * 0.25)
        assert "valence 0.5" in page.locator("#va-readout").inner_text()
        before = face_id(page)
        page.locator(".flag-button[data-flag=non_frontal]").tap()
        page.locator(".label-button[data-label=happiness]").tap()
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
        wait_saved(page)
        screenshot(page, "labelling-phone")
        answer = Annotation.objects.get(annotator=alice)
        assert (answer.label, answer.flags) == ("happiness", ["non_frontal"])
        assert answer.valence == pytest.approx(0.5, abs=0.05) and answer.arousal == pytest.approx(0.5, abs=0.05)
    finally:
        context.close()


def test_answers_given_offline_are_kept_and_sent_once_back_online(browser, login, live_server, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    faces(project, 6, make_items)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        login(page, alice.username)
        page.goto(f"{live_server.url}/projects/{project.pk}/label/")
        page.wait_for_selector("#label-app[data-state=labelling]")
        page.wait_for_function("window.ferlabLabel.queue.length >= 2")  # faces prefetched before the network drops
        context.set_offline(True)
        for key in "12":
            before = face_id(page)
            page.keyboard.press(key)
            page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
        page.wait_for_function("document.getElementById('sync').textContent.startsWith('2 to save')")
        assert not Annotation.objects.filter(annotator=alice).exists()
        context.set_offline(False)
        wait_saved(page)
        assert sorted(Annotation.objects.filter(annotator=alice).values_list("label", flat=True)) == ["happiness", "neutral"]
    finally:
        context.close()
