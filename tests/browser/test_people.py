"""The People tab in Chromium: an invitation link accepted by a new person in a second browser, a role change,
a removal through the confirm dialog, an account with a one-time password; screenshots of each page."""
import pytest
from django.contrib.auth import get_user_model

from annotate.models import AuditEvent, Membership, Role
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_ready(page):
    page.wait_for_selector("body[data-ready='1']")


def member_row(page, user):
    return page.locator(f"#members tr[data-user='{user.pk}']")


def test_invite_link_accepted_by_a_new_person_in_a_second_browser(browser, page, live_server, login, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 3)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/people/")
    wait_ready(page)
    assert page.locator("#members tbody tr").count() == 2
    assert "No invitations yet" in page.locator("#invitations").inner_text()
    page.select_option("#invite-form select[name=role]", "annotator")
    page.fill("#invite-form input[name=expires_in_days]", "3")
    page.fill("#invite-form input[name=max_uses]", "2")
    page.fill("#invite-form input[name=note]", "Tuesday batch")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("#invite-result:not([hidden])")
    link = page.locator("#invite-link").inner_text()
    assert link.startswith(f"{live_server.url}/invitations/")
    page.wait_for_selector("#invitations tbody tr[data-invitation]")
    assert "0 / 2" in page.locator("#invitations tbody").inner_text()
    screenshot(page, "people-invitation-made")

    stranger = browser.new_context(viewport={"width": 1280, "height": 860})
    other = stranger.new_page()
    other.set_default_timeout(10_000)
    try:
        other.goto(link)
        assert "Join " + project.name in other.locator("h1").inner_text()
        screenshot(other, "people-invitation-accept")
        other.fill("input[name=username]", "newcomer")
        other.fill("input[name=password]", "short")
        other.fill("input[name=password2]", "short")
        other.click("button[type=submit]")
        assert "too short" in other.locator("p.error").inner_text()
        assert other.locator("input[name=username]").input_value() == "newcomer"  # what they typed is kept
        other.fill("input[name=password]", "a-Long-pass-42")
        other.fill("input[name=password2]", "a-Long-pass-42")
        other.click("button[type=submit]")
        other.wait_for_url(f"{live_server.url}/projects/{project.pk}/label/")
    finally:
        stranger.close()
    newcomer = get_user_model().objects.get(username="newcomer")
    assert Membership.objects.get(project=project, user=newcomer).role == Role.ANNOTATOR

    page.reload()
    wait_ready(page)
    assert member_row(page, newcomer).count() == 1
    assert "1 / 2" in page.locator("#invitations tbody").inner_text()
    page.click("#invitations button[data-action=revoke]")
    page.wait_for_function("() => document.querySelector('#invitations tbody').innerText.includes('revoked')")
    assert AuditEvent.objects.filter(project=project, action="invitation.revoked").count() == 1


def test_lead_changes_a_role_and_removes_a_member_through_the_confirm_dialog(page, live_server, login, make_project, make_items):
    project, lead, (alice, bob) = make_project(annotators=2, gold_rate=0)
    make_items(project, 3)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/people/")
    wait_ready(page)
    member_row(page, alice).locator("select[data-action=role]").select_option("lead")
    page.wait_for_selector("#toasts .toast:has-text('is now an ML lead')")
    assert Membership.objects.get(project=project, user=alice).role == Role.LEAD
    # The last lead is guarded: demote alice back, then try the lead himself while he is the only one.
    member_row(page, alice).locator("select[data-action=role]").select_option("annotator")
    page.wait_for_selector("#toasts .toast:has-text('is now an annotator')")
    member_row(page, lead).locator("select[data-action=role]").select_option("annotator")
    page.wait_for_selector("#toasts .toast.bad:has-text('at least one ML lead')")
    assert member_row(page, lead).locator("select[data-action=role]").input_value() == "lead"

    member_row(page, bob).locator("button[data-action=remove]").click()
    page.wait_for_selector("#remove-dialog[open]")
    assert bob.username in page.locator("#remove-dialog").inner_text()
    screenshot(page, "people-remove-dialog")
    page.click("#remove-dialog button[value=cancel]")
    page.wait_for_selector("#remove-dialog:not([open])", state="attached")
    assert Membership.objects.filter(project=project, user=bob).exists()  # cancelled: nothing happened
    member_row(page, bob).locator("button[data-action=remove]").click()
    page.click("#remove-confirm")
    page.wait_for_selector(f"#toasts .toast:has-text('{bob.username} was removed')")
    page.wait_for_function(f"() => !document.querySelector(\"#members tr[data-user='{bob.pk}']\")")
    assert not Membership.objects.filter(project=project, user=bob).exists()
    actions = list(AuditEvent.objects.filter(project=project, action__startswith="member.").values_list("action", flat=True))
    assert sorted(actions).count("member.role_changed") == 2 and "member.removed" in actions
    assert page.locator("#members-page-info").inner_text() == "1–2 of 2"
    page.fill("#members-search input[name='q']", alice.username)
    page.wait_for_function("document.querySelectorAll('#members tbody tr').length === 1")
    assert member_row(page, alice).count() == 1
    page.fill("#members-search input[name='q']", "")
    page.wait_for_function("document.querySelectorAll('#members tbody tr').length === 2")
    screenshot(page, "people-tab")


def test_account_with_a_one_time_password_must_set_its_own(browser, page, live_server, login, make_project):
    project, lead, _ = make_project(annotators=0)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/people/")
    wait_ready(page)
    page.fill("#account-form input[name=username]", "frank")
    page.click("#account-form button[type=submit]")
    page.wait_for_selector("#account-result:not([hidden])")
    password = page.locator("#account-password").inner_text()
    assert len(password) == 19
    page.wait_for_selector("#members tr:has-text('frank'):has-text('has not set a password yet')")
    screenshot(page, "people-account-made")

    own = browser.new_context(viewport={"width": 1280, "height": 860})
    frank = own.new_page()
    frank.set_default_timeout(10_000)
    try:
        frank.goto(f"{live_server.url}/accounts/login/")
        frank.fill("input[name=username]", "frank")
        frank.fill("input[name=password]", password)
        frank.click("button[type=submit]")
        frank.wait_for_url(f"{live_server.url}/accounts/password/set/**")
        screenshot(frank, "people-password-set")
        frank.goto(f"{live_server.url}/projects/{project.pk}/label/")
        assert "/accounts/password/set/" in frank.url  # no work before the password is theirs
        frank.fill("input[name=password]", "franks-Own-pass-7")
        frank.fill("input[name=password2]", "franks-Own-pass-7")
        frank.click("main button[type=submit]")
        frank.wait_for_load_state()
        assert frank.url == f"{live_server.url}/projects/{project.pk}/label/", (frank.url, frank.content()[:1500])
    finally:
        own.close()


def test_a_member_removed_while_labelling_is_told_so_at_once(browser, page, live_server, login, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 6)
    login(page, alice.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state='labelling']")
    from annotate.services.members import membership_remove

    membership_remove(project=project, user_id=alice.pk, actor=lead)
    page.keyboard.press("1")  # an answer to the face on screen: refused, and the page says why
    page.wait_for_selector("#label-app[data-state='empty']")
    assert page.locator("#empty-title").inner_text() == "You are no longer a member of this project"
    assert "answers you gave are kept" in page.locator("#empty-text").inner_text()
    assert page.locator("#session-count").inner_text() == "0"  # the refused answer is not counted
    screenshot(page, "people-removed-while-labelling")
