"""The browser tests' fixtures live in tests/browser/fixtures.py, registered once by tests/conftest.py."""
from tests.browser.fixtures import SCREENSHOTS, screenshot  # noqa: F401  (tests import screenshot from here)
