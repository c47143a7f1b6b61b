"""Consistency rules: a project keeps a lead and two classes; a client id means one answer, replayed as first given."""
import threading
import uuid

import pytest
from django.db import connection, connections

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import Annotation, Role
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import assignments_lease
from annotate.services.projects import membership_remove, membership_set, project_create, project_update


@pytest.mark.django_db
def test_the_last_lead_can_be_neither_demoted_nor_removed(api_client, make_project, make_user):
    project, lead, (alice,) = make_project(annotators=1)
    with pytest.raises(ValidationFailed) as demoted:
        membership_set(project=project, user=lead, role=Role.ANNOTATOR)
    assert demoted.value.code == "last_lead"
    with pytest.raises(ValidationFailed) as removed:
        membership_remove(project=project, user_id=lead.pk)
    assert removed.value.code == "last_lead"
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/projects/{project.pk}/members/", {"username": lead.username, "role": "annotator"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "last_lead"
    membership_set(project=project, user=alice, role=Role.LEAD)  # with a second lead, the first may step down
    membership_set(project=project, user=lead, role=Role.ANNOTATOR)
    membership_remove(project=project, user_id=lead.pk)
    assert list(project.memberships.values_list("user_id", "role")) == [(alice.pk, Role.LEAD)]


@pytest.mark.django_db
def test_a_project_keeps_two_classes_for_the_quality_engine(api_client, make_user, make_project):
    for labels in (["happiness"], ["happiness", "unknown", "not_a_face"]):
        with pytest.raises(ValidationFailed) as refused:
            project_create(name=f"x{len(labels)}", labels=labels)
        assert refused.value.code == "too_few_classes"
    project, _, _ = make_project()
    with pytest.raises(ValidationFailed) as edited:
        project_update(project=project, labels=["neutral", "unknown"])
    assert edited.value.code == "too_few_classes"
    assert project_update(project=project, labels=["neutral", "happiness", "unknown"]).labels == ["neutral", "happiness", "unknown"]
    api_client.force_authenticate(make_user(is_staff=True))
    response = api_client.post("/api/projects/", {"name": "One class", "labels": ["neutral"]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_few_classes"
    api_client.force_authenticate(project.memberships.get(role=Role.LEAD).user)
    edit = api_client.patch(f"/api/projects/{project.pk}/", {"labels": ["neutral", "not_a_face"]}, format="json")
    assert edit.status_code == 400 and edit.json()["error"]["code"] == "too_few_classes"
    edit = api_client.patch(f"/api/projects/{project.pk}/", {"labels": ["neutral", "fear"], "overlap_target": 2}, format="json")
    assert edit.status_code == 200 and (edit.json()["labels"], edit.json()["overlap_target"]) == (["neutral", "fear"], 2)


@pytest.mark.django_db
def test_a_client_id_reused_for_a_different_answer_is_a_conflict(api_client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    (lease,) = assignments_lease(membership=alice.memberships.get()).assignments
    client_id = str(uuid.uuid4())
    api_client.force_authenticate(alice)
    first = api_client.post("/api/annotations/", {"assignment": lease.pk, "client_id": client_id, "label": "anger"}, format="json")
    assert first.status_code == 201
    again = api_client.post("/api/annotations/", {"assignment": lease.pk, "client_id": client_id, "label": "anger", "seconds": 2.0},
                            format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = api_client.post("/api/annotations/", {"assignment": lease.pk, "client_id": client_id, "label": "fear"}, format="json")
    assert other.status_code == 409 and other.json()["error"]["code"] == "client_id_reused"
    undo_id = str(uuid.uuid4())
    body = {"replaces": client_id, "client_id": undo_id, "label": "fear"}
    assert api_client.post("/api/annotations/", body, format="json").status_code == 201
    assert api_client.post("/api/annotations/", body, format="json").status_code == 200
    changed = api_client.post("/api/annotations/", {**body, "label": "sadness"}, format="json")
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "client_id_reused"
    assert Annotation.objects.filter(annotator=alice).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_undo_all_answer_as_the_first(make_project, make_items):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's concurrent transactions")
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    (lease,) = assignments_lease(membership=alice.memberships.get()).assignments
    original, _ = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(), label="anger")
    undo_id, start, results, lock = uuid.uuid4(), threading.Barrier(16), [], threading.Lock()

    def replay():
        try:
            start.wait()
            answer, created = annotation_correct(annotator=alice, replaces=original.client_id, client_id=undo_id, label="fear")
            outcome = (answer.pk, created)
        except Conflict as error:
            outcome = ("conflict", error.code)
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    for _ in range(5):  # several rounds: the race is between the first check and the insert
        threads = [threading.Thread(target=replay) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    correction = Annotation.objects.get(client_id=undo_id)
    assert [r for r in results if r[0] == "conflict"] == []
    assert sorted(created for _, created in results).count(True) == 1
    assert {pk for pk, _ in results} == {correction.pk}
