"""Projects API and item images: members see their projects, nobody else does."""
import pytest

from annotate.models import Role

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


def test_non_members_get_404_and_anonymous_401_or_403(api_client, make_project, make_user):
    project, _, _ = make_project()
    assert api_client.get(f"/api/projects/{project.pk}/").status_code in (401, 403)
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
    project, _, (alice,) = make_project(annotators=1)
    (item,) = make_items(project, 1)
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
    assert client.get("/api/docs/").status_code == 200


def test_health_check(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_signed_face_links_serve_the_crop_and_refuse_forged_or_expired_tokens(client, make_project, make_items, monkeypatch):
    from annotate import signing as face_links

    project, _, _ = make_project(annotators=1)
    a, b = make_items(project, 2)
    link = face_links.item_image_link(item_id=a.pk)
    response = client.get(link)  # no session: the signature is the credential, as with presigned object-store links
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == a.crop.open("rb").read()
    token = link.rsplit("/", 1)[1]
    forged = token.replace(str(a.pk), str(b.pk), 1)
    assert client.get(f"/api/faces/{forged}").json()["error"]["code"] == "bad_link"
    monkeypatch.setattr(face_links, "LINK_MAX_AGE", -1)
    assert client.get(link).status_code == 404
