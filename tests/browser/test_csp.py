"""Issue 17, point 8: the labelling page, a dashboard page and the API docs run under the Content-Security-Policy
without a single violation (Chromium reports each one in the console)."""
import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_run_under_the_csp_without_violations(page, login, live_server, make_project, make_items):
    project, lead, _ = make_project(annotators=0)
    make_items(project, 3)
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    assert page.evaluate("document.getElementById('progress-bar').style.width") != ""
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelector('.progress [data-width]').style.width").endswith("%")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    screenshot(page, "csp-api-docs")
    violations = [text for text in messages if "Content Security Policy" in text or "Refused to" in text]
    assert violations == [], violations
