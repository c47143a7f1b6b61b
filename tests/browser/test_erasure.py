"""Erasing a face from the issue inspector in Chromium: a confirm dialog with a reason, then an "erased" tile where
the face was (the table and the inspector ask for no image), the image API answering 410, the audit log row."""
import time

import pytest

from annotate.models import Annotation, AuditEvent, Item
from tests.annotate.audit_seed import seed_audit
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lead_erases_a_face_from_the_inspector(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 8)
    seed_audit(project, people, items, noise={0: 0.5})
    answers = {i.pk: Annotation.objects.filter(item=i).count() for i in items}
    image_requests = []
    page.on("request", lambda r: image_requests.append(r.url) if "/image" in r.url else None)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    page.wait_for_selector("body[data-ready='1']")
    first = int(page.locator("#issues tbody tr").first.get_attribute("data-item"))
    button = page.locator(f"#inspector button[data-erase='{first}']")
    button.wait_for()

    # Cancel leaves the face as it was; the review keys do nothing while the dialog is open.
    button.click()
    dialog = page.locator("dialog.erase-dialog")
    dialog.wait_for()
    screenshot(page, "erase-dialog")
    page.keyboard.press("x")  # typed into the reason, not an "exclude" decision
    dialog.locator("button[value='cancel']").click()
    page.wait_for_function("() => !document.querySelector('dialog.erase-dialog')")
    assert Item.objects.get(pk=first).erased_at is None
    assert page.locator(f"#issues tr[data-item='{first}']").get_attribute("data-state") == "open"

    # Erase needs a reason; with one, the face becomes an "erased" tile in the table and in the inspector.
    button.click()
    dialog.locator("button[value='erase']").click()
    assert dialog.is_visible() and Item.objects.get(pk=first).erased_at is None  # the required reason stopped it
    dialog.locator("textarea[name='reason']").fill("The person asked to be removed (ticket 42)")
    dialog.locator("button[value='erase']").click()
    page.wait_for_selector(f"#issues tr[data-item='{first}'] .erased-face")
    page.wait_for_selector("#inspector .erased-face.big")
    page.wait_for_selector("#toasts .toast")
    assert "erased" in page.locator("#toasts .toast").first.inner_text()
    item = Item.objects.get(pk=first)
    assert item.erased_at is not None and item.erased_by == lead and not item.crop
    assert Annotation.objects.filter(item=item).count() == answers[first]
    event = AuditEvent.objects.get(project=project, action="item.erased", target=f"item:{first}")
    assert event.details["reason"] == "The person asked to be removed (ticket 42)"
    screenshot(page, "erase-inspector")

    # A reload draws the tile from the server's rows: no request is made for the erased face's image.
    image_requests.clear()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector(f"#issues tr[data-item='{first}'] .erased-face")
    assert page.locator("#issues tbody img.face").count() == len(items) - 1
    assert not [u for u in image_requests if f"/items/{first}/image" in u]
    status = page.evaluate(f"fetch('/api/items/{first}/image').then(r => r.status)")
    assert status == 410


def test_the_version_page_says_it_contains_an_erased_face(page, live_server, login, make_project, make_items):
    from annotate.models import DatasetVersion, DatasetVersionItem, LabelSource
    from annotate.services.data_cards import data_card_render
    from annotate.services.erasure import item_erase

    project, lead, people = make_project(annotators=3)
    items = make_items(project, 5)
    seed_audit(project, people, items)
    version = DatasetVersion.objects.create(project=project, number=1, name="v1", item_count=5, sha256="cd" * 32,
                                            policy={"split": "keep"}, stats={"per_class": {"happiness": 5}})
    DatasetVersionItem.objects.bulk_create([
        DatasetVersionItem(version=version, item=i, content_hash=i.content_hash, label="happiness", label_source=LabelSource.CONSENSUS,
                           soft_label={"happiness": 1.0}, votes={"happiness": 3}, num_answers=3, split="Training") for i in items])
    version.data_card = data_card_render(version=version)
    version.save(update_fields=["data_card"])
    item_erase(project=project, item_id=items[0].pk, actor=lead, reason="request")
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/{version.pk}/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#erased-faces")
    assert "contains 1 erased face (images removed)" in page.locator("#erased-faces").inner_text()
    assert "This version contains 1 erased face (images removed)" in page.locator("#data-card").inner_text()
    page.locator("#downloads-card").scroll_into_view_if_needed()
    screenshot(page, "erase-version")


def test_a_face_erased_while_prefetched_on_the_labelling_page_is_never_shown(page, live_server, login, make_project, make_items):
    from annotate.models import Assignment, AssignmentStatus
    from annotate.services.erasure import item_erase

    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 12)
    login(page, alice.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    deadline = time.monotonic() + 10
    while Assignment.objects.filter(annotator=alice).count() < 4:  # the face on screen and three prefetched
        assert time.monotonic() < deadline, "the page did not prefetch three faces"
        time.sleep(0.05)
    page.wait_for_timeout(300)  # their images decode
    on_screen = int(page.locator("#face").get_attribute("data-item"))
    held = list(Assignment.objects.filter(annotator=alice, status=AssignmentStatus.OPEN).order_by("pk").values_list("item_id", flat=True))
    queued = [i for i in held if i != on_screen]
    assert len(queued) >= 3, held
    erased = queued[-1]  # prefetched and decoded already: only the server can tell the page it is gone
    item_erase(project=project, item_id=erased, actor=lead, reason="request")
    shown = [on_screen]
    for n in range(5):
        before = shown[-1]
        # At a person's pace: the page learns of an erasure from the lease call each answer makes, one round trip
        # after the key (a key pressed within that round trip may still show the face; its answer is refused).
        with page.expect_response(lambda r: r.url.endswith(f"/api/projects/{project.pk}/next/")):
            page.keyboard.press("1")
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
        shown.append(int(page.locator("#face").get_attribute("data-item")))
    assert erased not in shown and len(set(shown)) == 6, (erased, shown)
