"""A project's action units from the browser (#18), in Chromium: chosen from a preset on the new-project page, and
on the Settings tab an AU that answers judge cannot be dropped (the preview says why, Save stays off)."""
import re
import uuid

import pytest

from annotate.models import Annotation, Project
from ml.action_units import PRESETS
from tests.browser.conftest import screenshot
from tests.browser.test_project_pages import csp_watch, violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_picks_the_disfa_preset_with_intensity(page, live_server, login, make_user):
    make_user("maria", is_staff=True)
    messages = csp_watch(page)
    login(page, "maria")
    page.goto(f"{live_server.url}/projects/new/")
    page.wait_for_selector("#pf-aus input[name=au]")
    assert page.locator("input[name=au_intensity]").is_disabled()  # no AU chosen yet: nothing to rate
    assert "pulls the lip corners up and back" in page.locator("#pf-aus").inner_text()
    page.fill("input[name=name]", "DISFA-style")
    page.click("[data-au-preset=disfa]")
    page.check("input[name=au_intensity]")
    page.check("input[name=au][value='7']")  # one more beyond the preset
    page.check("input[name=valence_arousal]")
    screenshot(page, "project-new-action-units")
    page.click("#pf-submit")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
    project = Project.objects.get()
    assert project.action_units == sorted([*PRESETS["disfa"], 7]) and project.au_intensity and project.valence_arousal
    assert violations(messages) == []


def test_an_au_in_use_cannot_be_dropped_from_the_settings(page, live_server, login, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, action_units=list(PRESETS["bp4d"]))
    (face,) = make_items(project, 1)
    Annotation.objects.create(project=project, item=face, annotator=alice, label="happiness", client_id=uuid.uuid4(),
                              action_units={"6": 1, "12": 1})
    messages = csp_watch(page)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.wait_for_selector("#pf-aus input[name=au][value='12']:checked")
    page.uncheck("input[name=au][value='12']")
    page.wait_for_selector("li.effect.blocked[data-field=action_units]")
    assert "AU12 (lip corner puller) cannot be removed: 1 answer judges it." in page.locator("li.effect.blocked").inner_text()
    assert "removed AU12" in page.locator("#impact-body").inner_text()
    assert page.locator("#pf-submit").is_disabled()
    screenshot(page, "project-settings-au-refused")
    page.check("input[name=au][value='12']")
    page.uncheck("input[name=au][value='24']")  # no answer judges AU24: it may go
    page.wait_for_function("() => !document.querySelector('li.effect.blocked') && !document.getElementById('pf-submit').disabled")
    page.click("#pf-submit")
    page.wait_for_selector("text=Settings saved")
    assert 24 not in Project.objects.get(pk=project.pk).action_units
    assert violations(messages) == []
