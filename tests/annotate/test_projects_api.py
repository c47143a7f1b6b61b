"""Projects API and item images: members see their projects, nobody else does."""
import uuid

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Annotation, Role

pytestmark = pytest.mark.django_db


def test_members_see_their_projects_with_role_and_progress(api_client, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1)
    make_project()  # someone else's
    make_items(project, 4)
    api_client.force_authenticate(alice)
    body = api_client.get("/api/projects/").json()
    assert [(e["project"]["id"], e["role"]) for e in body] == [(project.pk, "annotator")]
    assert body[0]["progress"] == {"items": 4, "items_done": 0, "answers": 0, "progress": 0.0}
    assert body[0]["project"]["labels"][:2] == ["neutral", "happiness"]


def test_non_members_get_404_and_anonymous_401(api_client, make_project, make_user):
    project, _, _ = make_project()
    assert api_client.get(f"/api/projects/{project.pk}/").status_code == 401
    api_client.force_authenticate(make_user())
    response = api_client.get(f"/api/projects/{project.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_only_leads_add_members(api_client, make_project, make_user):
    project, lead, (alice,) = make_project(annotators=1)
    newcomer = make_user("newcomer")
    api_client.force_authenticate(alice)
    assert api_client.post(f"/api/projects/{project.pk}/members/", {"username": "newcomer"}).status_code == 403
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/projects/{project.pk}/members/", {"username": "newcomer", "role": "lead"})
    assert response.status_code == 200
    assert newcomer.memberships.get().role == Role.LEAD


def test_staff_create_projects_with_the_ferplus_schema(api_client, make_user):
    api_client.force_authenticate(make_user(is_staff=True))
    response = api_client.post("/api/projects/", {"name": "Faces 2026", "overlap_target": 5}, format="json")
    assert response.status_code == 201
    assert response.json()["labels"][-2:] == ["unknown", "not_a_face"]
    api_client.force_authenticate(make_user())
    assert api_client.post("/api/projects/", {"name": "x"}, format="json").status_code == 403


def test_item_images_only_for_members(api_client, make_project, make_items, make_user):
    from annotate.services.assignments import assignments_lease

    project, _, (alice,) = make_project(annotators=1)
    (item,) = make_items(project, 1)
    assignments_lease(membership=alice.memberships.get())  # an annotator sees the crops of faces leased to them
    api_client.force_authenticate(alice)
    response = api_client.get(f"/api/items/{item.pk}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    api_client.force_authenticate(make_user())
    assert api_client.get(f"/api/items/{item.pk}/image").status_code == 404


def test_schema_and_docs_render(client, make_user):
    client.force_login(make_user())
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "cdn" not in page.lower() and "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page



def test_health_check_reports_each_dependency(client, settings):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["cache"] in ("ok", "local")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there: the broker is down
    settings.CACHES = {"default": {"BACKEND": "server.cache.PooledRedisCache", "LOCATION": "redis://127.0.0.1:1/1"}}
    response = client.get("/healthz")
    assert response.status_code == 200  # labelling only needs the database
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "down", "cache": "down"}


def test_sign_in_and_labelling_work_with_redis_down(client, settings, make_project, make_items):
    """Sessions are cached_db: with the cache unreachable they are read from and written to the database."""
    settings.CACHES = {"default": {"BACKEND": "server.cache.PooledRedisCache", "LOCATION": "redis://127.0.0.1:1/1"}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    project, lead, (annotator,) = make_project(annotators=1)
    make_items(project, 3)
    response = client.post("/accounts/login/", {"username": annotator.username, "password": "pw-ferlab-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(f"/projects/{project.pk}/label/").status_code == 200
    lease = client.post(f"/api/projects/{project.pk}/next/", {}, content_type="application/json")
    assert lease.status_code == 200 and lease.json()["assignments"], lease.content
    assignment = lease.json()["assignments"][0]["assignment"]
    answer = {"assignment": assignment, "client_id": str(uuid.uuid4()), "label": "happiness"}
    assert client.post("/api/annotations/", answer, content_type="application/json").status_code in (200, 201)
    assert Annotation.objects.filter(annotator=annotator, label="happiness").count() == 1
    client.post("/accounts/logout/")
    assert client.get(f"/projects/{project.pk}/label/").status_code == 302  # signed out, on the database alone


def test_signed_face_links_serve_the_crop_and_refuse_forged_or_expired_tokens(client, make_project, make_items, monkeypatch):
    from annotate import signing as face_links

    project, _, (alice,) = make_project(annotators=1)
    holder = project.memberships.get(user=alice)
    a, b = make_items(project, 2)
    link = face_links.item_image_link(item_id=a.pk, crop=a.crop.name, holder=holder)
    response = client.get(link)  # no session: the signature is the credential, as with presigned object-store links
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == a.crop.open("rb").read()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(link).status_code == 200
    assert len(queries) == 1  # the token names the crop: one primary-key lookup that the holder is still a member
    token = link.rsplit("/", 1)[1]
    payload, rest = token.split(":", 1)
    other = face_links.item_image_link(item_id=b.pk, crop=b.crop.name, holder=holder).rsplit("/", 1)[1]
    forged = other.split(":", 1)[0] + ":" + rest  # b's payload under a's signature
    assert client.get(f"/api/faces/{forged}").json()["error"]["code"] == "bad_link"
    foreign = signing.TimestampSigner(salt=face_links.SALT, key="not-our-key").sign_object([b.pk, "../../settings.py"])
    assert client.get(f"/api/faces/{foreign}").json()["error"]["code"] == "bad_link"
    gone = face_links.item_image_link(item_id=b.pk, crop="items/crop/missing.png", holder=holder)
    assert client.get(gone).json()["error"]["code"] == "not_found"
    hostile = face_links.item_image_link(item_id=b.pk, crop="../../etc/passwd", holder=holder)  # only reachable with our key
    assert client.get(hostile).status_code == 404
    monkeypatch.setattr(face_links, "LINK_MAX_AGE", -1)
    assert client.get(link).status_code == 404
