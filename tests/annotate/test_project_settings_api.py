"""Creating and editing projects over the API: the service's rules, the settings preview's figures on a seeded
project (nothing saved), the refusal to drop a label that answers use, and the audit log of every change."""
import uuid

import pytest

from annotate.models import Annotation, AuditEvent, Item, Project, Review

pytestmark = pytest.mark.django_db


def answer(item, people, labels):
    """Give `item` one answer per person (label by label), keeping its answer count as the services do."""
    Annotation.objects.bulk_create([
        Annotation(project=item.project, item=item, annotator=p, label=label, client_id=uuid.uuid4(),
                   flags=["occluded"] if label == "fear" else [])
        for p, label in zip(people, labels)
    ])
    Item.objects.filter(pk=item.pk).update(answer_count=len(labels))


@pytest.fixture
def seeded(make_project, make_items, make_user):
    """k = 3; five faces with 3, 3, 2, 1 and 0 answers; 'contempt' used by one answer; one open review on 'fear'."""
    project, lead, people = make_project(annotators=3, overlap_target=3, gold_rate=0.05)
    a, b, c, d, e = make_items(project, 5)
    answer(a, people, ["happiness", "happiness", "contempt"])
    answer(b, people, ["fear", "surprise", "fear"])
    answer(c, people[:2], ["neutral", "neutral"])
    answer(d, people[:1], ["sadness"])
    Review.objects.create(item=b, reviewer=lead, action="relabel", label="fear")
    return project, lead, people


def test_staff_create_a_project_with_every_setting_and_the_log_records_it(api_client, make_user):
    staff = make_user("maria", is_staff=True)
    api_client.force_authenticate(staff)
    body = {"name": "Ekman 2026", "labels": ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral", "unknown"],
            "flags": ["occluded"], "overlap_target": 5, "gold_rate": 0.1, "show_model_hints": True, "valence_arousal": True,
            "instructions": "Label what you see.\n<b>not bold</b>"}
    response = api_client.post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["instructions"] == body["instructions"] and created["overlap_target"] == 5 and created["slug"] == "ekman-2026"
    project = Project.objects.get(pk=created["id"])
    assert project.memberships.get().user == staff and project.memberships.get().role == "lead"
    event = AuditEvent.objects.get(project=project)
    assert (event.action, event.actor, event.target) == ("project.created", staff, f"project:{project.pk}")
    assert event.details["settings"]["gold_rate"] == 0.1 and event.details["settings"]["labels"] == body["labels"]
    log = api_client.get(f"/api/projects/{project.pk}/audit-log/").json()
    assert log["events"][0]["actor"] == "maria"
    assert log["events"][0]["sentence"] == "created the project 'Ekman 2026' with k = 5, gold rate 10% and 8 labels"


@pytest.mark.parametrize("change, code", [
    ({"labels": ["happiness", "unknown", "not_a_face"]}, "too_few_classes"),
    ({"labels": ["happiness", "happiness", "anger"]}, "invalid_labels"),
    ({"labels": []}, "nothing_asked"),  # no expression class is fine only with valence-arousal or action units
    ({"overlap_target": 0}, "invalid_overlap_target"),
    ({"overlap_target": 51}, "invalid_overlap_target"),
    ({"gold_rate": 0.6}, "invalid_gold_rate"),
    ({"gold_rate": -0.1}, "invalid_gold_rate"),
    ({"flags": ["occluded", "occluded"]}, "invalid_flags"),
    ({"name": "   "}, "invalid"),  # the serializer refuses a blank name
])
def test_bad_settings_get_the_services_message_and_create_nothing(api_client, make_user, change, code):
    api_client.force_authenticate(make_user(is_staff=True))
    response = api_client.post("/api/projects/", {"name": "Faces", **change}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content
    assert response.json()["error"]["message"]
    assert not Project.objects.exists() and not AuditEvent.objects.exists()


def test_a_taken_slug_is_refused_and_only_staff_create(api_client, make_user):
    api_client.force_authenticate(make_user(is_staff=True))
    assert api_client.post("/api/projects/", {"name": "Faces"}, format="json").status_code == 201
    again = api_client.post("/api/projects/", {"name": "faces!"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "duplicate_slug"
    api_client.force_authenticate(make_user())
    refused = api_client.post("/api/projects/", {"name": "Mine"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "staff_only"
    api_client.force_authenticate(None)
    assert api_client.post("/api/projects/", {"name": "Mine"}, format="json").status_code == 401
    assert Project.objects.count() == 1


def test_preview_of_a_lower_k_counts_faces_over_it_and_saves_nothing(api_client, seeded):
    project, lead, _ = seeded
    api_client.force_authenticate(lead)
    preview = api_client.post(f"/api/projects/{project.pk}/settings/preview", {"overlap_target": 2}, format="json")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["changes"] == {"overlap_target": {"before": 3, "after": 2}} and not body["blocked"]
    (effect,) = body["effects"]
    assert effect["level"] == "warn"
    assert effect["figures"] == {"faces_over": 2, "faces_completed": 1, "open_leases": 0}
    assert "2 faces already have more than 2 answers" in effect["message"] and "nothing is deleted" in effect["message"]
    assert Project.objects.get(pk=project.pk).overlap_target == 3
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


def test_preview_of_a_higher_k_counts_faces_that_get_work_again(api_client, seeded):
    project, lead, _ = seeded
    api_client.force_authenticate(lead)
    body = api_client.post(f"/api/projects/{project.pk}/settings/preview", {"overlap_target": 4}, format="json").json()
    # wanted before: 0 + 0 + 1 + 2 + 3 = 6; after: 1 + 1 + 2 + 3 + 4 = 11
    assert body["effects"][0]["figures"] == {"faces_reopened": 2, "answers_wanted_more": 5}
    assert body["effects"][0]["message"] == ("k goes up from 3 to 4: 2 faces that had all their answers get work again; "
                                             "5 more answers wanted in all.")


def test_a_label_in_use_cannot_be_removed_or_renamed_and_an_unused_one_can(api_client, seeded):
    project, lead, _ = seeded
    api_client.force_authenticate(lead)
    labels = list(project.labels)
    renamed = [("scorn" if x == "contempt" else x) for x in labels]
    preview = api_client.post(f"/api/projects/{project.pk}/settings/preview", {"labels": renamed}, format="json").json()
    assert preview["blocked"]
    blocked = [e for e in preview["effects"] if e["level"] == "blocked"]
    assert [e["figures"]["label"] for e in blocked] == ["contempt"]
    assert blocked[0]["figures"]["answers"] == 1 and blocked[0]["figures"]["renamed_to"] == "scorn"
    assert "cannot be renamed to 'scorn': it is used by 1 answer." in blocked[0]["message"]
    saved = api_client.patch(f"/api/projects/{project.pk}/", {"labels": renamed}, format="json")
    assert saved.status_code == 409 and saved.json()["error"]["code"] == "label_in_use"
    without_fear = [x for x in labels if x != "fear"]  # two answers and a review use it
    refused = api_client.patch(f"/api/projects/{project.pk}/", {"labels": without_fear}, format="json")
    assert refused.status_code == 409 and "2 answers, 1 review" in refused.json()["error"]["message"]
    assert Project.objects.get(pk=project.pk).labels == labels  # nothing changed
    unused = [x for x in labels if x != "disgust"] + ["pride"]
    preview = api_client.post(f"/api/projects/{project.pk}/settings/preview", {"labels": unused}, format="json").json()
    assert not preview["blocked"]
    assert {e["level"] for e in preview["effects"]} == {"info", "warn"}  # removed, added, and keys that move
    keys = next(e for e in preview["effects"] if e["level"] == "warn")["figures"]["keys"]
    assert keys["fear"] == ["7", "6"]
    assert api_client.patch(f"/api/projects/{project.pk}/", {"labels": unused}, format="json").status_code == 200
    assert Project.objects.get(pk=project.pk).labels == unused


def test_a_settings_change_is_logged_with_before_and_after_per_field(api_client, seeded):
    project, lead, _ = seeded
    api_client.force_authenticate(lead)
    change = {"overlap_target": 2, "gold_rate": 0.2, "show_model_hints": True, "instructions": "Look at the eyes.",
              "flags": ["non_frontal", "low_quality"]}
    response = api_client.patch(f"/api/projects/{project.pk}/", change, format="json")
    assert response.status_code == 200 and response.json()["instructions"] == "Look at the eyes."
    event = AuditEvent.objects.get(action="project.settings_changed")
    assert event.actor == lead
    assert event.details["changes"]["overlap_target"] == {"before": 3, "after": 2}
    assert event.details["changes"]["instructions"] == {"before": "", "after": "Look at the eyes."}
    assert set(event.details["changes"]) == {"overlap_target", "gold_rate", "show_model_hints", "instructions", "flags"}
    assert any("2 faces already have more than 2 answers" in e["message"] for e in event.details["effects"])
    assert any("the 2 answers that carry it keep it" in e["message"] for e in event.details["effects"])  # 'occluded' dropped
    # saving the same values again changes and logs nothing
    assert api_client.patch(f"/api/projects/{project.pk}/", change, format="json").status_code == 200
    assert AuditEvent.objects.filter(action="project.settings_changed").count() == 1
    entry = api_client.get(f"/api/projects/{project.pk}/audit-log/").json()["events"][0]
    assert entry["sentence"] == ("changed the instructions; flags: removed occluded; changed k (answers per face) from 3 "
                                 "to 2; changed gold rate from 5% to 20%; turned model hints on")
    assert "instructions after: Look at the eyes." in entry["lines"]


def test_only_leads_preview_edit_and_read_the_log(api_client, seeded, make_user):
    project, lead, (alice, *_) = seeded
    urls = [("post", f"/api/projects/{project.pk}/settings/preview"), ("patch", f"/api/projects/{project.pk}/"),
            ("get", f"/api/projects/{project.pk}/audit-log/")]
    for who, status in ((alice, 403), (make_user(), 404), (None, 401)):
        api_client.force_authenticate(who)
        for method, url in urls:
            response = getattr(api_client, method)(url, {"overlap_target": 1} if method != "get" else None, format="json")
            assert response.status_code == status, (who, method, url, response.content)
    assert Project.objects.get(pk=project.pk).overlap_target == 3


def test_the_log_pages_by_key_filters_by_prefix_and_reads_other_helpers_events_generically(api_client, seeded):
    from annotate.services.audit_log import audit_record

    project, lead, (alice, *_) = seeded
    for k in (4, 5, 6):
        api_client.force_authenticate(lead)
        assert api_client.patch(f"/api/projects/{project.pk}/", {"overlap_target": k}, format="json").status_code == 200
    audit_record(project=project, actor=lead, action="member.role_changed", target=f"user:{alice.pk}",
                 details={"role": {"before": "annotator", "after": "lead"}})
    audit_record(project=project, actor=None, action="item.erased", target="item:345", details={"files": 2})
    audit_record(project=project, actor=lead, action="member.removed", target="user:999999", details={"username": "gone"})
    odd = api_client.get(f"/api/projects/{project.pk}/audit-log/", {"limit": 2}).json()["events"]
    assert [(e["actor"], e["sentence"], e["lines"]) for e in odd] == [
        (lead.username, "member removed: gone", ["username: gone"]), ("system", "item erased: face #345", ["files: 2"])]
    first = api_client.get(f"/api/projects/{project.pk}/audit-log/", {"limit": 2, "before": odd[1]["id"]}).json()
    assert [e["action"] for e in first["events"]] == ["member.role_changed", "project.settings_changed"]
    generic = first["events"][0]
    assert generic["sentence"] == f"member role changed: {alice.username}" and generic["lines"] == ["role: annotator → lead"]
    rest = api_client.get(f"/api/projects/{project.pk}/audit-log/", {"limit": 2, "before": first["next_before"]}).json()
    assert [e["sentence"] for e in rest["events"]] == ["changed k (answers per face) from 4 to 5",
                                                       "changed k (answers per face) from 3 to 4"]
    project_only = api_client.get(f"/api/projects/{project.pk}/audit-log/", {"action": "project"}).json()
    assert [e["action"] for e in project_only["events"]] == ["project.settings_changed"] * 3 + ["project.created"]
    assert project_only["next_before"] is None
    bad = api_client.get(f"/api/projects/{project.pk}/audit-log/", {"action": "x; drop"})
    assert bad.status_code == 400


def test_the_pages_follow_the_same_rules(client, seeded, make_user):
    project, lead, (alice, *_) = seeded
    pages = [f"/projects/{project.pk}/settings/", f"/projects/{project.pk}/audit-log/"]
    for who, status in ((lead, 200), (alice, 403), (make_user(), 404)):
        client.force_login(who)
        assert [client.get(url).status_code for url in pages] == [status, status], who
    client.force_login(alice)
    assert client.get("/projects/new/").status_code == 403
    assert b"New project" not in client.get("/").content
    client.force_login(make_user(is_staff=True))
    assert client.get("/projects/new/").status_code == 200
    assert b'href="/projects/new/"' in client.get("/").content
    client.logout()
    assert client.get("/projects/new/").status_code == 302  # to sign in


def test_preview_of_gold_hints_and_valence_arousal_says_what_they_do(api_client, seeded, make_items):
    project, lead, _ = seeded
    api_client.force_authenticate(lead)
    url = f"/api/projects/{project.pk}/settings/preview"
    change = {"gold_rate": 0.2, "show_model_hints": True, "valence_arousal": True}
    effects = {e["field"]: e for e in api_client.post(url, change, format="json").json()["effects"]}
    assert effects["gold_rate"]["level"] == "warn" and "no gold faces yet" in effects["gold_rate"]["message"]
    assert effects["show_model_hints"]["figures"] == {"faces_predicted": 0, "faces": 5}
    assert "the 9 answers given so far have none" in effects["valence_arousal"]["message"]
    make_items(project, 2, is_gold=True, gold_label="happiness")
    gold = api_client.post(url, {"gold_rate": 0.2}, format="json").json()["effects"][0]
    assert gold["level"] == "info" and "has 2 gold faces" in gold["message"] and "was 5%" in gold["message"]
