"""Sign in through the real form in Chromium and see "my projects"."""
import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_shows_my_projects(page, login, make_project):
    project, lead, annotators = make_project(annotators=1, name="Smiles 2026")
    login(page, annotators[0].username)
    assert page.locator("h1").inner_text() == "My projects"
    assert "Smiles 2026" in page.locator(".projects").inner_text()
    screenshot(page, "home")


def test_wrong_password_is_refused(page, live_server, make_user):
    user = make_user("someone")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "do not match" in page.locator(".error").inner_text()


def test_the_api_docs_page_draws_with_no_other_origin(page, live_server, login, make_user):
    """Swagger UI's scripts and styles come from the app: with every other origin refused, the docs still draw."""
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_this_server)
    login(page, make_user().username)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=15_000)
    assert not outside
