"""A project that asks no expression class (#18), in Chromium: action units answered by keyboard, Enter submits,
undo corrects; after a real quality run the lead's pages open without an error."""
import pytest

from annotate.models import Annotation
from tests.annotate.test_no_class_projects import analyse, au_only_crowd  # noqa: F401  (analyse is a fixture)
from tests.browser.conftest import screenshot
from tests.browser.test_dashboard_dimensions import csp_watch, wait_ready
from tests.browser.test_labelling import face_id, faces, wait_saved

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]  # DISFA


def test_two_faces_of_an_au_only_project_by_keyboard(page, login, live_server, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, labels=[], action_units=AUS)
    faces(project, 4, make_items)
    messages = csp_watch(page)
    login(page, alice.username)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    assert page.locator(".label-button").count() == 1 and page.locator("#submit-answer").is_visible()
    keys = {n: page.locator(f'.au-chip[data-au="{n}"]').get_attribute("data-key") for n in AUS}
    seen = []
    for marked in ([6, 12], [4]):
        before = face_id(page)
        seen.append(int(before))
        for n in marked:
            page.keyboard.press(keys[n])
        if marked == [4]:
            screenshot(page, "labelling-au-only")
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
    page.keyboard.press("z")  # undo the second: AU4 was wrong, AU15 it is
    page.wait_for_function(f"document.getElementById('face').dataset.item === '{seen[1]}'")
    assert "no class asked" in page.inner_text("#correcting")
    page.keyboard.press(keys[15])
    page.locator("#submit-answer").click()
    page.wait_for_function(f"document.getElementById('face').dataset.item !== '{seen[1]}'")
    wait_saved(page)

    originals = {a.item_id: a for a in Annotation.objects.filter(project=project, replaces__isnull=True)}
    assert sorted(originals) == sorted(seen) and {a.label for a in originals.values()} == {""}
    none = {str(n): 0 for n in AUS}
    assert originals[seen[0]].action_units == none | {"6": 1, "12": 1}
    assert originals[seen[1]].action_units == none | {"4": 1}
    fix = Annotation.objects.get(project=project, replaces__isnull=False)
    assert fix.replaces_id == originals[seen[1]].pk and fix.label == "" and fix.action_units == none | {"15": 1}
    page.keyboard.press("?")
    assert "submit the answer" in page.locator("#help").inner_text()
    assert not [t for t in messages if "Error" in t or "Refused to" in t], messages


def test_the_lead_pages_open_after_a_run(page, login, live_server, make_project, make_items, analyse):
    project, lead, people, items = au_only_crowd(make_project, make_items)
    analyse(project)
    messages = csp_watch(page)
    login(page, lead.username)
    for tab in ("", "issues/", "annotators/", "agreement/", "versions/"):
        response = page.goto(f"{live_server.url}/projects/{project.pk}/{tab}")
        assert response.status == 200, tab
        wait_ready(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.wait_for_selector("input[name=preset][value=none]:checked")
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    wait_ready(page)
    assert page.locator("select[name=check] option[value=au_disputed]").count() == 1
    assert page.locator("select[name=check] option[value=expression_vs_au]").count() == 0  # no class to check against
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    wait_ready(page)
    page.wait_for_selector("#au-heatmap .empty")
    assert "asks no expression class" in page.inner_text("#au-heatmap")
    screenshot(page, "agreement-au-only")
    assert not [t for t in messages if "Error" in t or "Refused to" in t], messages
