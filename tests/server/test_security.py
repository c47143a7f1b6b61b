"""Issue 17, points 5, 8 and 11: sign-in throttling, security headers and caching, and the API's error contract."""
import pytest

from annotate.services.tokens import api_token_create

PASSWORD = "pw-ferlab-123"
LOCKED = "Too many failed sign-in attempts"


def sign_in(client, url, username, password, ip="10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# 5. Sign-in throttling -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, staff", [("/accounts/login/", False), ("/admin/login/", True)])
def test_ten_wrong_passwords_lock_the_account_and_the_right_one_then_fails(client, make_user, url, staff):
    user = make_user(is_staff=staff)
    for _ in range(9):
        assert sign_in(client, url, user.username, "wrong").status_code == 200
    assert sign_in(client, url, user.username, "wrong").status_code == 429  # the tenth failure locks
    response = sign_in(client, url, user.username, PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not signed_in(client)
    # The lock is on the account: another address is refused too, within the cool-off.
    assert sign_in(client, url, user.username, PASSWORD, ip="10.0.0.2").status_code == 429
    assert not signed_in(client)


def test_ten_failures_from_one_address_lock_that_address_for_every_account(client, make_user):
    user = make_user()
    for n in range(10):
        sign_in(client, "/accounts/login/", f"guess-{n}", "wrong", ip="10.0.0.9")
    assert sign_in(client, "/accounts/login/", user.username, PASSWORD, ip="10.0.0.9").status_code == 429
    assert sign_in(client, "/accounts/login/", user.username, PASSWORD, ip="10.0.0.10").status_code == 302
    assert signed_in(client)


def test_the_lockout_reads_the_same_whether_or_not_the_account_exists(client, make_user):
    user = make_user()
    pages = []
    for n, username in enumerate((user.username, "nobody-by-this-name")):
        for _ in range(11):
            response = sign_in(client, "/accounts/login/", username, "wrong", ip=f"10.0.1.{n}")
        pages.append((response.status_code, response.content.decode().replace(username, "")))
    assert pages[0] == pages[1] and pages[0][0] == 429


def test_a_few_failures_then_the_right_password_signs_in_and_resets_the_count(client, make_user):
    from axes.models import AccessAttempt

    user = make_user()
    for _ in range(9):
        sign_in(client, "/accounts/login/", user.username, "wrong")
    assert sign_in(client, "/accounts/login/", user.username, PASSWORD).status_code == 302
    assert signed_in(client) and not AccessAttempt.objects.filter(username=user.username).exists()


def test_a_locked_out_account_signs_in_again_after_the_cool_off(client, make_user, settings):
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.utils import timezone

    user = make_user()
    for _ in range(10):
        sign_in(client, "/accounts/login/", user.username, "wrong")
    assert sign_in(client, "/accounts/login/", user.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in(client, "/accounts/login/", user.username, PASSWORD).status_code == 302


def test_api_tokens_and_sessions_still_authenticate_while_an_account_is_locked_out(client, api_client, make_project):
    project, lead, _ = make_project(annotators=0)
    for _ in range(10):
        sign_in(client, "/accounts/login/", lead.username, "wrong")
    _, key = api_token_create(user=lead, name="script")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get(f"/api/projects/{project.pk}/").status_code == 200
    client.force_login(lead)
    assert client.get(f"/api/projects/{project.pk}/").status_code == 200


# 8. Headers and caching ------------------------------------------------------------------------------------

def test_pages_and_api_answers_carry_a_strict_csp_and_are_not_cached(client, make_project):
    project, lead, _ = make_project(annotators=0)
    login_page = client.get("/accounts/login/")
    csp = login_page["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    client.force_login(lead)
    for url in ("/", f"/projects/{project.pk}/", f"/projects/{project.pk}/label/", f"/api/projects/{project.pk}/", "/api/projects/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == csp, url
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"], url


def test_api_errors_and_anonymous_api_answers_are_not_cached(api_client):
    for url in ("/api/projects/", "/api/jobs/abc/"):
        response = api_client.get(url)
        assert response["Cache-Control"] == "private, no-store", url
        assert "default-src 'self'" in response["Content-Security-Policy"], url


def test_stored_images_keep_their_private_cache(api_client, make_project, make_items):
    project, lead, _ = make_project(annotators=0)
    item = make_items(project, 1)[0]
    api_client.force_authenticate(lead)
    response = api_client.get(f"/api/items/{item.pk}/image")
    assert response.status_code == 200
    assert "private" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]


def test_no_template_uses_inline_scripts_styles_or_handlers():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "frontend"
    for path in (root / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", text), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), path
    for path in (root / "static" / "js").rglob("*.js"):
        assert 'setAttribute("style"' not in path.read_text(), path


def test_the_docs_page_renders_under_its_csp_with_inline_styles_only(client, make_user):
    client.force_login(make_user())
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html and "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    csp = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self';" in csp
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# 11. The API contract --------------------------------------------------------------------------------------

@pytest.mark.parametrize("credentials", [{}, {"HTTP_AUTHORIZATION": "Token not-a-real-token"}, {"HTTP_AUTHORIZATION": "Bearer x"}])
def test_anonymous_or_badly_authenticated_api_calls_are_401_with_www_authenticate(api_client, make_project, credentials):
    project, _, _ = make_project(annotators=0)
    api_client.credentials(**credentials)
    for method, url in (("get", "/api/projects/"), ("get", f"/api/projects/{project.pk}/"), ("post", f"/api/projects/{project.pk}/next/")):
        response = getattr(api_client, method)(url)
        assert response.status_code == 401, (url, credentials)
        assert response["WWW-Authenticate"] == "Token", url
        assert set(response.json()["error"]) >= {"code", "message"}


def test_non_integer_ids_and_unknown_api_paths_get_the_json_404(api_client, make_user):
    api_client.force_authenticate(make_user())
    for url in ("/api/jobs/abc/", "/api/projects/1x/", "/api/items/abc/image", "/api/nothing-here/"):
        response = api_client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/json", url
        assert response.json()["error"]["code"] == "not_found", url
    assert api_client.get("/api/projects").status_code == 301  # APPEND_SLASH still redirects


def test_the_schema_and_docs_need_a_signed_in_user(client, make_user):
    schema = client.get("/api/schema/")
    assert schema.status_code == 401 and schema["WWW-Authenticate"] == "Token"
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    client.force_login(make_user())
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
