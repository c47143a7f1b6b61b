"""Browser fixtures: Debian's Chromium driven by Playwright, against pytest-django's live server.

Defined once, in the root tests/conftest.py's namespace, so the browser tests and the fault tests share one
session-scoped Chromium (Playwright's sync API runs one instance per thread)."""
import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

# Playwright's sync API keeps an event loop on the main thread; the ORM calls in these tests are
# still plain synchronous calls, so Django's async-safety guard does not apply to them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("FERLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _wait_for_function(self, expression: str, *, arg=None, timeout: float | None = None, **_):
    """Page.wait_for_function under the app's CSP: Playwright's own polls with `new Function`, which a
    script-src without 'unsafe-eval' refuses; page.evaluate runs outside the page's CSP, so poll with it."""
    deadline = time.monotonic() + (timeout or 10_000) / 1000
    while not (self.evaluate(expression, arg) if arg is not None else self.evaluate(expression)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        time.sleep(0.05)


Page.wait_for_function = _wait_for_function


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def login(live_server):
    """login(page, username, password='pw-ferlab-123') signs in through the real form."""

    def sign_in(page, username: str, password: str = "pw-ferlab-123"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return sign_in


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
