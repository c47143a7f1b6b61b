"""Issue 17, point 9: API tokens are listed and revoked by their owner, may expire, and die with a password change
or a deactivation, whichever path makes it."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from annotate.models import ApiToken, AuditEvent
from annotate.services.tokens import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """clock(t): from now on, Django's timezone.now() answers t."""
    def set_to(moment):
        monkeypatch.setattr(timezone, "now", lambda: moment)
    return set_to


def as_token(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api_client


def refused(response, message: str):
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token", response.content
    assert message in response.json()["error"]["message"]


def test_owner_makes_lists_and_revokes_tokens_and_the_key_is_shown_once(api_client, make_user):
    user = make_user()
    api_client.force_authenticate(user)
    made = api_client.post("/api/tokens/", {"name": "import script", "expires_in_days": 30}, format="json")
    assert made.status_code == 201 and made.json()["key"].startswith(made.json()["key_prefix"])
    key = made.json()["key"]
    assert not ApiToken.objects.filter(key_hash=key).exists()  # only the hash is stored
    listed = api_client.get("/api/tokens/").json()
    assert [(t["name"], t["state"]) for t in listed] == [("import script", "live")] and "key" not in listed[0]
    assert abs((timezone.now() + timedelta(days=30)).timestamp()
               - timezone.datetime.fromisoformat(listed[0]["expires_at"]).timestamp()) < 60
    api_client.force_authenticate(None)
    assert as_token(api_client, key).get("/api/tokens/").status_code == 200
    assert api_client.delete(f"/api/tokens/{made.json()['id']}/").json()["state"] == "revoked"
    refused(api_client.get("/api/tokens/"), "revoked")
    assert list(AuditEvent.objects.filter(actor=user).values_list("action", flat=True).order_by("id")) == \
        ["token.created", "token.revoked"]


def test_another_users_token_is_neither_listed_nor_revocable(api_client, make_user):
    owner, other = make_user(), make_user()
    token, key = api_token_create(user=owner, name="mine")
    api_client.force_authenticate(other)
    assert api_client.get("/api/tokens/").json() == []
    assert api_client.delete(f"/api/tokens/{token.pk}/").status_code == 404
    api_client.force_authenticate(None)
    assert as_token(api_client, key).get("/api/tokens/").status_code == 200


def test_an_expired_token_is_refused(api_client, make_user, clock):
    _, key = api_token_create(user=make_user(), name="short", expires_in_days=1)
    assert as_token(api_client, key).get("/api/tokens/").status_code == 200
    clock(timezone.now() + timedelta(days=1, seconds=1))
    refused(api_client.get("/api/tokens/"), "expired")


@pytest.mark.parametrize("change", ["set_password", "changepassword_command", "admin_form"])
def test_a_password_change_by_any_path_revokes_the_tokens(api_client, client, make_user, change, monkeypatch):
    user = make_user()
    tokens = [api_token_create(user=user, name=f"t{i}") for i in range(2)]
    if change == "set_password":
        user.set_password("a-new-password-42")
        user.save()
    elif change == "changepassword_command":
        monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-password-42")
        call_command("changepassword", user.username)
    else:
        client.force_login(make_user(is_staff=True, is_superuser=True))
        response = client.post(f"/admin/auth/user/{user.pk}/password/",
                               {"password1": "a-new-password-42", "password2": "a-new-password-42", "usable_password": "true"})
        assert response.status_code == 302, response.content[:500]
    assert ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() == 0
    for _, key in tokens:
        refused(as_token(api_client, key).get("/api/tokens/"), "revoked")


def test_a_password_hash_changed_behind_the_models_back_still_voids_the_token(api_client, make_user):
    user = make_user()
    _, key = api_token_create(user=user, name="t")
    get_user_model().objects.filter(pk=user.pk).update(password="pbkdf2_sha256$1$x$y")  # no save(), no signal
    refused(as_token(api_client, key).get("/api/tokens/"), "password changed")
    assert ApiToken.objects.get(user=user).revoked_at is not None


def test_deactivation_revokes_the_tokens_and_reactivation_does_not_bring_them_back(api_client, make_user):
    user = make_user()
    _, key = api_token_create(user=user, name="t")
    user.is_active = False
    user.save()
    refused(as_token(api_client, key).get("/api/tokens/"), "revoked")
    user.is_active = True
    user.save()
    refused(api_client.get("/api/tokens/"), "revoked")


def test_signing_in_does_not_touch_the_tokens(client, make_user):
    user = make_user()
    api_token_create(user=user, name="t")
    assert client.post("/accounts/login/", {"username": user.username, "password": "pw-ferlab-123"}).status_code == 302
    assert ApiToken.objects.get(user=user).revoked_at is None


def test_last_used_is_written_at_most_once_a_minute(api_client, make_user, clock):
    token, key = api_token_create(user=make_user(), name="t")
    as_token(api_client, key)
    start = timezone.now()
    clock(start)
    api_client.get("/api/tokens/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == start
    clock(start + timedelta(seconds=59))
    api_client.get("/api/tokens/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == start
    clock(start + timedelta(seconds=61))
    api_client.get("/api/tokens/")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == start + timedelta(seconds=61)


@pytest.mark.parametrize("body, code", [({"name": ""}, "invalid"), ({"name": "x", "expires_in_days": 0}, "invalid"),
                                        ({"name": "x", "expires_in_days": 99999}, "invalid")])
def test_bad_token_requests_get_the_json_error(api_client, make_user, body, code):
    api_client.force_authenticate(make_user())
    response = api_client.post("/api/tokens/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_the_command_prints_a_working_key(api_client, make_user, capsys):
    user = make_user()
    call_command("api_token", user=user.username, name="cli", expires_days=7)
    key = capsys.readouterr().out.strip()
    assert as_token(api_client, key).get("/api/tokens/").json()[0]["name"] == "cli"
