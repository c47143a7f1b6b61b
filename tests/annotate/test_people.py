"""People of a project (issue 16 point 2) and removal taking effect at once (issue 17 point 10), through the API."""
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.models import Annotation, Assignment, AssignmentStatus, AuditEvent, Invitation, Item, Membership, Role
from annotate.selectors.people import invitation_token_hash
from annotate.services.invitations import invitation_accept, invitation_create

pytestmark = pytest.mark.django_db


def lease(client, project, count=1):
    response = client.post(f"/api/projects/{project.pk}/next/", {"count": count}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def events(project, action):
    return list(AuditEvent.objects.filter(project=project, action=action).order_by("id"))


def test_removal_takes_effect_at_once_and_answers_stay(client, api_client, make_project, make_items):
    """Issue 17 point 10: a link obtained before removal stops, leases go back with the counts right, the
    labelling page and API refuse the removed member, and their answers stay and still count."""
    project, lead, (alice, bob) = make_project(annotators=2, gold_rate=0, overlap_target=1)
    items = make_items(project, 3)
    client.force_login(alice)
    first = lease(client, project)["assignments"][0]
    answered = client.post("/api/annotations/", {"assignment": first["assignment"], "client_id": str(uuid.uuid4()),
                                                 "label": "happiness"}, content_type="application/json")
    assert answered.status_code == 201
    held = lease(client, project, count=2)["assignments"]
    assert len(held) == 2
    links = [first["image"]] + [h["image"] for h in held]
    assert all(client.get(link).status_code == 200 for link in links)
    held_items = [h["item"] for h in held]
    assert list(Item.objects.filter(pk__in=held_items).values_list("lease_count", flat=True)) == [1, 1]

    api_client.force_authenticate(lead)
    removed = api_client.delete(f"/api/projects/{project.pk}/members/{alice.pk}/")
    assert removed.status_code == 200, removed.content
    assert removed.json() == {"username": alice.username, "role": "annotator", "released_leases": 2, "answers_kept": 1}

    for link in links:  # links handed out before the removal
        response = client.get(link)
        assert response.status_code == 403 and response.json()["error"]["code"] == "link_revoked"
    assert list(Item.objects.filter(pk__in=held_items).values_list("lease_count", flat=True)) == [0, 0]
    assert set(Assignment.objects.filter(annotator=alice, status=AssignmentStatus.OPEN)) == set()
    assert client.get(f"/projects/{project.pk}/label/").status_code == 404
    assert client.post(f"/api/projects/{project.pk}/next/", {}, content_type="application/json").status_code == 404
    late = client.post("/api/annotations/", {"assignment": held[0]["assignment"], "client_id": str(uuid.uuid4()),
                                             "label": "anger"}, content_type="application/json")
    assert late.status_code == 404
    # Another annotator gets the released faces at once (k = 1: they were full while leased).
    bob_client = client.__class__()
    bob_client.force_login(bob)
    got = {a["item"] for a in lease(bob_client, project, count=3)["assignments"]}
    assert set(held_items) <= got and first["item"] not in got
    # Her answer stays and still counts.
    assert Annotation.objects.filter(annotator=alice, project=project).count() == 1
    assert Item.objects.get(pk=first["item"]).answer_count == 1
    members = api_client.get(f"/api/projects/{project.pk}/members/").json()
    assert members["former_members_with_answers"] == 1
    assert alice.pk not in [r["member"]["user_id"] for r in members["results"]]
    (event,) = events(project, "member.removed")
    assert event.actor_id == lead.pk and event.target == f"user:{alice.pk}"
    assert event.details["released_leases"] == 2 and event.details["answers_kept"] == 1


def test_pause_releases_leases_stops_links_and_refuses_answers_until_resumed(client, api_client, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 2)
    client.force_login(alice)
    (held,) = lease(client, project)["assignments"]
    api_client.force_authenticate(lead)
    paused = api_client.patch(f"/api/projects/{project.pk}/members/{alice.pk}/", {"paused": True}, format="json")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert client.get(held["image"]).status_code == 403
    assert Item.objects.get(pk=held["item"]).lease_count == 0
    assert lease(client, project)["status"] == "paused"
    late = client.post("/api/annotations/", {"assignment": held["assignment"], "client_id": str(uuid.uuid4()),
                                             "label": "anger"}, content_type="application/json")
    assert late.status_code == 403 and late.json()["error"]["code"] == "paused"
    assert not Annotation.objects.filter(annotator=alice).exists()
    api_client.patch(f"/api/projects/{project.pk}/members/{alice.pk}/", {"paused": False}, format="json")
    again = lease(client, project)
    assert again["status"] == "ok" and client.get(again["assignments"][0]["image"]).status_code == 200
    (p,) = events(project, "member.paused")
    (r,) = events(project, "member.resumed")
    assert p.details["paused"] == {"before": False, "after": True} and p.details["released_leases"] == 1
    assert r.details["paused"] == {"before": True, "after": False}


def test_role_changes_are_audited_the_last_lead_is_guarded_and_demotion_ends_lead_links(api_client, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1)
    api_client.force_authenticate(lead)
    url = f"/api/projects/{project.pk}/members/"
    refused = api_client.patch(f"{url}{lead.pk}/", {"role": "annotator"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "last_lead"
    assert api_client.delete(f"{url}{lead.pk}/").json()["error"]["code"] == "last_lead"
    assert api_client.patch(f"{url}{alice.pk}/", {"role": "lead"}, format="json").json()["role"] == "lead"
    (event,) = events(project, "member.role_changed")
    assert event.details["role"] == {"before": "annotator", "after": "lead"} and event.actor_id == lead.pk
    # Alice, now a lead, demotes the first lead; a link made for him as a lead stops working.
    from annotate.signing import item_image_link

    (item,) = make_items(project, 1)
    link = item_image_link(item_id=item.pk, crop=item.crop.name, holder=Membership.objects.get(project=project, user=lead))
    assert api_client.get(link).status_code == 200
    api_client.force_authenticate(alice)
    assert api_client.patch(f"{url}{lead.pk}/", {"role": "annotator"}, format="json").status_code == 200
    assert api_client.get(link).status_code == 403
    assert [e.details["role"]["after"] for e in events(project, "member.role_changed")] == ["lead", "annotator"]


def test_the_image_link_check_is_one_query(client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 1)
    client.force_login(alice)
    (held,) = lease(client, project)["assignments"]
    anonymous = client.__class__()  # the link is the credential: no session needed
    with CaptureQueriesContext(connection) as queries:
        assert anonymous.get(held["image"]).status_code == 200
    assert len(queries) == 1


def test_only_leads_see_and_change_people(api_client, make_project, make_user):
    project, lead, (alice, bob) = make_project(annotators=2)
    stranger = make_user()
    base = f"/api/projects/{project.pk}/"
    calls = [("get", "members/", None), ("post", "members/", {"username": stranger.username}),
             ("patch", f"members/{bob.pk}/", {"paused": True}), ("delete", f"members/{bob.pk}/", None),
             ("post", "members/accounts/", {"username": "newbie"}), ("get", "invitations/", None),
             ("post", "invitations/", {"role": "annotator"})]
    for user, status in ((alice, 403), (stranger, 404)):
        api_client.force_authenticate(user)
        for method, path, body in calls:
            response = getattr(api_client, method)(base + path, body, format="json")
            assert response.status_code == status, (user.username, method, path, response.content)
    api_client.force_authenticate(None)
    assert api_client.get(base + "members/").status_code == 401
    assert Membership.objects.filter(project=project, user=bob, paused=False).exists()
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_members_list_shows_role_status_answers_and_leases(api_client, make_project, make_items):
    project, lead, (alice, bob) = make_project(annotators=2, gold_rate=0)
    make_items(project, 3)
    from annotate.services.assignments import assignments_lease

    assignments_lease(membership=Membership.objects.select_related("project").get(project=project, user=bob), count=2)
    api_client.force_authenticate(lead)
    api_client.patch(f"/api/projects/{project.pk}/members/{alice.pk}/", {"paused": True}, format="json")
    rows = api_client.get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert [r["member"]["username"] for r in rows][0] == lead.username  # leads first
    by_name = {r["member"]["username"]: r for r in rows}
    assert by_name[alice.username]["member"]["paused"] is True and by_name[bob.username]["open_leases"] == 2
    assert by_name[lead.username]["member"]["role"] == "lead" and by_name[bob.username]["answers"] == 0
    assert all(r["member"]["joined"] for r in rows)


def test_members_come_a_page_at_a_time_leads_first_and_by_name(api_client, make_project, make_items):
    """Pages join up into the whole list in its order; q finds names in any case; the counts cover every page."""
    project, lead, people = make_project(annotators=5, gold_rate=0)
    api_client.force_authenticate(lead)
    url = f"/api/projects/{project.pk}/members/"
    whole = api_client.get(url).json()
    assert (whole["count"], whole["members"], whole["leads"], whole["offset"], whole["limit"]) == (6, 6, 1, 0, 100)
    names = [r["member"]["username"] for r in whole["results"]]
    assert names[0] == lead.username and names[1:] == sorted(names[1:], key=str.lower)
    pages = [api_client.get(url, {"offset": o, "limit": 4}).json() for o in (0, 4)]
    assert [r for p in pages for r in p["results"]] == whole["results"] and [len(p["results"]) for p in pages] == [4, 2]
    found = api_client.get(url, {"q": people[3].username.upper()}).json()
    assert (found["count"], found["members"]) == (1, 6) and found["results"] == [r for r in whole["results"] if r["member"]["user_id"] == people[3].pk]
    assert api_client.get(url, {"limit": 0}).status_code == 400


def test_add_an_existing_account_is_audited(api_client, make_project, make_user):
    project, lead, _ = make_project(annotators=0)
    newcomer = make_user()
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/projects/{project.pk}/members/", {"username": newcomer.username}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "annotator"
    (event,) = events(project, "member.added")
    assert event.details == {"username": newcomer.username, "role": "annotator", "via": "lead"}
    assert api_client.post(f"/api/projects/{project.pk}/members/", {"username": "nobody-here"}, format="json").status_code == 404


# ----- invitations -----


def create_invitation(api_client, project, **body):
    response = api_client.post(f"/api/projects/{project.pk}/invitations/", {"role": "annotator", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def test_invitation_link_is_shown_once_stored_hashed_and_listed(api_client, make_project):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    made = create_invitation(api_client, project, role="lead", expires_in_days=3, max_uses=5, note="new leads")
    token = token_of(made["link"])
    assert made["link"].endswith(f"/invitations/{token}/") and made["state"] == "pending"
    stored = Invitation.objects.get(pk=made["id"])
    assert stored.token_hash == invitation_token_hash(token) and token not in stored.token_hash
    assert timedelta(days=2, hours=23) < stored.expires_at - timezone.now() <= timedelta(days=3)
    listed = api_client.get(f"/api/projects/{project.pk}/invitations/").json()
    assert [i["id"] for i in listed] == [made["id"]] and "link" not in listed[0]
    assert listed[0]["max_uses"] == 5 and listed[0]["uses"] == 0 and listed[0]["role"] == "lead"
    (event,) = events(project, "invitation.created")
    assert event.details["max_uses"] == 5 and event.details["role"] == "lead" and token not in str(event.details)
    for bad in ({"expires_in_days": 0}, {"expires_in_days": 31}, {"max_uses": 0}, {"role": "owner"}):
        response = api_client.post(f"/api/projects/{project.pk}/invitations/", bad, format="json")
        assert response.status_code == 400, bad
    assert Invitation.objects.count() == 1


def test_invitation_page_new_person_creates_account_and_joins_with_the_invitations_role(client, api_client, make_project):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    token = token_of(create_invitation(api_client, project, role="lead")["link"])
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200 and b"Create account and join" in page.content
    weak = client.post(f"/invitations/{token}/", {"username": "newlead", "password": "123", "password2": "123"})
    assert weak.status_code == 400 and b"too short" in weak.content and b'value="newlead"' in weak.content
    assert not get_user_model().objects.filter(username="newlead").exists()
    differ = client.post(f"/invitations/{token}/", {"username": "newlead", "password": "a-Long-pass-42", "password2": "x"})
    assert differ.status_code == 400 and b"differ" in differ.content
    joined = client.post(f"/invitations/{token}/", {"username": "newlead", "password": "a-Long-pass-42", "password2": "a-Long-pass-42"})
    assert joined.status_code == 302 and joined["Location"] == f"/projects/{project.pk}/"
    user = get_user_model().objects.get(username="newlead")
    assert Membership.objects.get(project=project, user=user).role == Role.LEAD
    assert client.get(f"/projects/{project.pk}/").status_code == 200  # signed in as the new lead
    invitation = Invitation.objects.get()
    assert invitation.uses == 1
    gone = client.__class__().get(f"/invitations/{token}/")  # max_uses 1: used up now
    assert gone.status_code == 410 and b"used as many times" in gone.content
    assert {e.action for e in AuditEvent.objects.filter(project=project)} >= {"account.created", "member.added", "invitation.accepted"}
    (accepted,) = events(project, "invitation.accepted")
    assert accepted.actor_id == user.pk and accepted.details["uses"] == {"before": 0, "after": 1}


def test_signed_in_user_joins_with_one_click_and_accepting_twice_is_harmless(client, api_client, make_project, make_user):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    token = token_of(create_invitation(api_client, project, max_uses=3)["link"])
    carol = make_user()
    client.force_login(carol)
    assert b"Join as" in client.get(f"/invitations/{token}/").content
    first = client.post(f"/invitations/{token}/")
    assert first.status_code == 302 and first["Location"] == f"/projects/{project.pk}/label/"
    again = client.post(f"/invitations/{token}/")
    assert again.status_code == 302
    assert b"a member of this project already" in client.get(f"/invitations/{token}/").content
    assert Invitation.objects.get().uses == 1 and Membership.objects.filter(project=project, user=carol).count() == 1
    assert len(events(project, "invitation.accepted")) == 1


def test_expired_revoked_unknown_links_get_a_clear_page_not_a_500(client, api_client, make_project, make_user):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    expired = token_of(create_invitation(api_client, project)["link"])
    Invitation.objects.filter(token_hash=invitation_token_hash(expired)).update(expires_at=timezone.now() - timedelta(seconds=1))
    made = create_invitation(api_client, project)
    revoked = api_client.delete(f"/api/projects/{project.pk}/invitations/{made['id']}/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert api_client.delete(f"/api/projects/{project.pk}/invitations/{made['id']}/").status_code == 200  # harmless again
    assert len(events(project, "invitation.revoked")) == 1
    dave = make_user()
    for token, status, words in ((expired, 410, b"has expired"), (token_of(made["link"]), 410, b"withdrawn"),
                                 ("no-such-token", 404, b"not valid")):
        for c in (client, ):
            page = c.get(f"/invitations/{token}/")
            assert page.status_code == status and words in page.content
            c.force_login(dave)
            assert c.post(f"/invitations/{token}/").status_code == status
            c.logout()
    assert not Membership.objects.filter(user=dave).exists()
    states = {i["state"] for i in api_client.get(f"/api/projects/{project.pk}/invitations/").json()}
    assert states == {"expired", "revoked"}
    other, other_lead, _ = make_project(annotators=0)
    assert api_client.delete(f"/api/projects/{project.pk}/invitations/999999/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_never_pass_max_uses(make_project, make_user):
    """Eight people open a two-use link at the same moment: exactly two join (row lock on the invitation)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested against PostgreSQL")
    project, lead, _ = make_project(annotators=0)
    _, token = invitation_create(project=project, actor=lead, max_uses=2)
    people = [make_user() for _ in range(8)]
    barrier = threading.Barrier(len(people))
    outcomes = []

    def accept(user):
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            invitation_accept(token=token, user=user)
            outcomes.append("joined")
        except Exception as error:  # noqa: BLE001 (the outcome is what the test counts)
            outcomes.append(getattr(error, "code", repr(error)))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=accept, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["invitation_used_up"] * 6 + ["joined"] * 2
    assert Invitation.objects.get().uses == 2
    assert Membership.objects.filter(project=project, role=Role.ANNOTATOR).count() == 2


# ----- accounts a lead creates -----


def test_lead_created_account_gets_a_one_time_password_and_must_set_its_own(client, api_client, make_project):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    made = api_client.post(f"/api/projects/{project.pk}/members/accounts/", {"username": "erin"}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    password = body["password"]
    assert body["username"] == "erin" and body["role"] == "annotator" and len(password) >= 16
    taken = api_client.post(f"/api/projects/{project.pk}/members/accounts/", {"username": "ERIN"}, format="json")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "username_taken"
    bad = api_client.post(f"/api/projects/{project.pk}/members/accounts/", {"username": "no spaces"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_username"
    rows = api_client.get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert [r["must_set_password"] for r in rows if r["member"]["username"] == "erin"] == [True]
    (created,) = events(project, "account.created")
    assert created.actor_id == lead.pk and password not in str(created.details)

    signed_in = client.post("/accounts/login/", {"username": "erin", "password": password})
    assert signed_in.status_code == 302 and signed_in["Location"].startswith("/accounts/password/set/")
    assert client.get("/").status_code == 302  # every page sends her to set a password first
    api = client.post(f"/api/projects/{project.pk}/next/", {}, content_type="application/json")
    assert api.status_code == 403 and api.json()["error"]["code"] == "password_change_required"
    same = client.post("/accounts/password/set/", {"password": password, "password2": password})
    assert same.status_code == 400 and b"new password" in same.content
    weak = client.post("/accounts/password/set/", {"password": "password", "password2": "password"})
    assert weak.status_code == 400 and b"too common" in weak.content
    done = client.post("/accounts/password/set/", {"password": "erin-own-Secret-9", "password2": "erin-own-Secret-9", "next": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200  # still signed in, free to work
    assert client.post(f"/api/projects/{project.pk}/next/", {}, content_type="application/json").status_code == 200
    fresh = client.__class__()
    assert fresh.post("/accounts/login/", {"username": "erin", "password": password}).status_code == 200  # OTP is gone
    assert fresh.post("/accounts/login/", {"username": "erin", "password": "erin-own-Secret-9"})["Location"] == "/"
    assert api_client.get(f"/api/projects/{project.pk}/members/").json()["results"][-1]["must_set_password"] is False


def test_people_endpoints_are_in_the_openapi_schema(client, make_user):
    client.force_login(make_user())
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/projects/{project_id}/members/"])
    assert {"patch", "delete"} <= set(paths["/api/projects/{project_id}/members/{user_id}/"])
    assert "post" in paths["/api/projects/{project_id}/members/accounts/"]
    assert {"get", "post"} <= set(paths["/api/projects/{project_id}/invitations/"])
    assert "delete" in paths["/api/projects/{project_id}/invitations/{invitation_id}/"]


def test_a_superusers_link_without_a_membership_holds_while_they_are_one(client, make_project, make_items, make_user):
    project, _, _ = make_project(annotators=0, gold_rate=0)
    make_items(project, 1)
    admin = make_user(is_superuser=True, is_staff=True)
    client.force_login(admin)
    (held,) = lease(client, project)["assignments"]
    assert client.get(held["image"]).status_code == 200
    get_user_model().objects.filter(pk=admin.pk).update(is_superuser=False)
    assert client.get(held["image"]).status_code == 403
