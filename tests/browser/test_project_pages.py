"""Projects from the browser, in Chromium: create one from the home page, change its settings after reading what
the change does, the instructions on the labelling page, and the change in the audit log."""
import re
import uuid

import pytest

from annotate.models import Annotation, AuditEvent, Item, Project
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answer(item, people, labels):
    Annotation.objects.bulk_create([Annotation(project=item.project, item=item, annotator=p, label=label, client_id=uuid.uuid4())
                                    for p, label in zip(people, labels)])
    Item.objects.filter(pk=item.pk).update(answer_count=len(labels))


def csp_watch(page) -> list[str]:
    """Console messages and page errors; Chromium reports each CSP violation there."""
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    return messages


def violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m or "Error" in m]


def test_a_staff_lead_creates_a_project_from_the_home_page(page, live_server, login, make_user):
    make_user("maria", is_staff=True)
    messages = csp_watch(page)
    login(page, "maria")
    assert "Create one, or ask an ML lead to add you" in page.locator("main").inner_text()
    screenshot(page, "home-new-project")
    page.click("text=New project")
    page.wait_for_selector("#pf-presets input[value=ferplus]:checked")
    assert "neutral" in page.locator("#pf-label-chips").inner_text()  # the FER+ eight by default
    page.fill("input[name=name]", "Smiles 2026")
    page.check("#pf-presets input[value=custom]")
    page.fill("textarea[name=custom_labels]", "happiness\nunknown")
    page.click("#pf-submit")
    page.wait_for_selector("#pf-error:not([hidden])")
    assert "at least two expression classes" in page.locator("#pf-error").inner_text()
    assert not Project.objects.exists()
    page.check("#pf-presets input[value=ekman]")
    page.fill("textarea[name=instructions]", "Label the expression you see.")
    page.fill("input[name=overlap_target]", "5")
    page.fill("input[name=gold_rate]", "10")
    page.check("input[name=valence_arousal]")
    screenshot(page, "project-new")
    page.click("#pf-submit")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get()
    assert project.name == "Smiles 2026" and project.overlap_target == 5 and project.gold_rate == 0.1
    assert project.labels == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral", "unknown", "not_a_face"]
    assert project.valence_arousal and not project.show_model_hints
    assert project.instructions == "Label the expression you see."
    assert page.url.endswith(f"/projects/{project.pk}/")
    assert violations(messages) == []


def test_an_annotator_is_not_offered_new_project(page, login, make_project):
    _, _, (alice,) = make_project(annotators=1)
    login(page, alice.username)
    assert page.locator("text=New project").count() == 0


def test_a_lower_k_shows_its_impact_before_saving_and_the_log_lists_the_change(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=3, overlap_target=3, name="Faces 2026")
    a, b, c, _ = make_items(project, 4)
    answer(a, people, ["happiness", "happiness", "contempt"])
    answer(b, people, ["fear", "fear", "fear"])
    answer(c, people[:2], ["neutral", "neutral"])
    messages = csp_watch(page)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.wait_for_selector("#impact-body")
    assert page.locator("#pf-submit").is_disabled()  # nothing changed yet
    page.fill("input[name=overlap_target]", "2")
    page.wait_for_selector("li.effect.warn[data-field=overlap_target]")
    impact = page.locator("#impact-body").inner_text()
    assert "2 faces already have more than 2 answers" in impact and "1 more face now has all the answers wanted" in impact
    screenshot(page, "project-settings-impact")
    # a label in use cannot go: the preview says why and Save stays off
    page.check("#pf-presets input[value=custom]")
    page.fill("textarea[name=custom_labels]", "\n".join(x for x in project.labels if x != "contempt"))
    page.wait_for_selector("li.effect.blocked[data-field=labels]")
    assert "it is used by 1 answer." in page.locator("li.effect.blocked").inner_text()
    assert page.locator("#pf-submit").is_disabled()
    screenshot(page, "project-settings-refused")
    page.check("#pf-presets input[value=ferplus]")
    page.wait_for_function("() => !document.querySelector('li.effect.blocked') && !document.getElementById('pf-submit').disabled")
    page.click("#pf-submit")
    page.wait_for_selector("text=Settings saved")
    page.wait_for_function("() => document.getElementById('impact-body').textContent.includes('No changes')")
    assert Project.objects.get(pk=project.pk).overlap_target == 2
    assert "k = 2" in page.locator(".crumbs").inner_text()
    page.click(".tabs >> text=Audit log")
    page.wait_for_selector("#audit-table tbody tr")
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator(".sentence").inner_text() == "changed k (answers per face) from 3 to 2"
    assert rows.nth(0).locator(".who-col").inner_text() == lead.username
    assert "created the project 'Faces 2026'" in rows.nth(1).inner_text()
    rows.nth(0).locator("summary").click()
    assert "2 faces already have more than 2 answers" in rows.nth(0).inner_text()
    screenshot(page, "project-audit-log")
    page.select_option("#audit-filter", "project")
    page.wait_for_function("() => document.getElementById('audit-status').textContent.includes('2 events')")
    assert violations(messages) == []


def test_the_log_loads_more_and_reads_events_it_does_not_know(page, live_server, login, make_project):
    from annotate.services.audit_log import audit_record

    project, lead, (alice,) = make_project(annotators=1)
    for i in range(55):
        audit_record(project=project, actor=lead, action="token.created", target="token:1", details={"name": f"ci-{i}"})
    audit_record(project=project, actor=lead, action="member.paused", target=f"user:{alice.pk}", details={"paused": {"before": False, "after": True}})
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/audit-log/")
    page.wait_for_selector("#audit-table tbody tr")
    assert page.locator("#audit-table tbody tr").count() == 50
    assert page.locator("#audit-table tbody tr").nth(0).locator(".sentence").inner_text() == f"member paused: {alice.username}"
    page.click("#audit-more")
    page.wait_for_function("() => document.querySelectorAll('#audit-table tbody tr').length === 57")
    assert page.locator("#audit-more").is_hidden()
    assert AuditEvent.objects.filter(project=project).count() == 57


def test_annotators_read_the_instructions_as_plain_text(page, live_server, login, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, instructions="Look at the mouth first.\n<b>Not bold</b> & no markup.")
    make_items(project, 2)
    login(page, alice.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    panel = page.locator("#instructions")
    assert panel.locator("summary").is_visible()
    panel.locator("summary").click()
    text = panel.locator(".instructions-text")
    assert text.is_visible()
    assert text.inner_text() == "Look at the mouth first.\n<b>Not bold</b> & no markup."
    assert panel.locator("b").count() == 0
    screenshot(page, "label-instructions")
