"""Issue 17, point 9: a user makes, sees once, copies and revokes their API tokens on /account/tokens/."""
import pytest

from annotate.models import ApiToken
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_make_a_token_see_its_key_once_use_it_and_revoke_it(page, login, live_server, make_user):
    user = make_user()
    login(page, user.username)
    page.goto(f"{live_server.url}/")
    page.click("text=API tokens")
    page.wait_for_selector("#tokens-empty:not([hidden])")
    page.fill("input[name=name]", "nightly export")
    page.fill("input[name=expires_in_days]", "30")
    page.click("button:has-text('Make token')")
    page.wait_for_selector("#token-new:not([hidden])")
    key = page.text_content("#token-key")
    page.wait_for_selector("#tokens tbody tr td.state.live")
    row = page.locator("#tokens tbody tr")
    assert row.count() == 1 and "nightly export" in row.first.text_content() and "live" in row.first.text_content()
    screenshot(page, "account-tokens")
    status = page.evaluate("""async (key) => (await fetch('/api/tokens/', {headers: {Authorization: 'Token ' + key},
                              credentials: 'omit'})).status""", key)
    assert status == 200
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#tokens button:has-text('Revoke')")
    page.wait_for_selector("#tokens td.state.revoked")
    assert ApiToken.objects.get(user=user).revoked_at is not None
    page.reload()
    assert page.text_content("#token-key") == ""  # the key is never shown again
