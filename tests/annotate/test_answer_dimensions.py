"""Valence-arousal and action-unit answers (#18): the same inputs accepted and refused, with the same codes, by the
submit fast path, the general path and corrections; bad input stores nothing; repeats and undo as for labels."""
import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import Annotation, Assignment, AssignmentStatus, Item
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import assignments_lease

pytestmark = pytest.mark.django_db

AUS = [6, 12, 25]
# (project options, answer fields, code): every kind of bad input the issue names.
BAD = [
    ({}, {"valence": 1.5}, "invalid_valence_arousal"),
    ({}, {"arousal": -1.01}, "invalid_valence_arousal"),
    ({}, {"valence": float("nan")}, "invalid_valence_arousal"),
    ({}, {"arousal": float("inf")}, "invalid_valence_arousal"),
    ({}, {"valence": "0.5"}, "invalid_valence_arousal"),
    ({}, {"valence": True}, "invalid_valence_arousal"),
    ({"valence_arousal": False}, {"valence": 0.2}, "invalid_valence_arousal"),
    ({}, {"action_units": {"4": 1}}, "action_unit_not_asked"),
    ({}, {"action_units": {"12": 1, "27": 0}}, "action_unit_not_asked"),
    ({}, {"action_units": {"AU12": 1}}, "invalid_action_units"),
    ({}, {"action_units": {"012": 1}}, "invalid_action_units"),
    ({}, {"action_units": {"12.0": 1}}, "invalid_action_units"),
    ({}, {"action_units": [12]}, "invalid_action_units"),
    ({}, {"action_units": {"12": 3}}, "au_intensity_not_asked"),
    ({}, {"action_units": {"12": True}}, "invalid_au_value"),
    ({}, {"action_units": {"12": 0.5}}, "invalid_au_value"),
    ({}, {"action_units": {"12": "1"}}, "invalid_au_value"),
    ({}, {"action_units": {"12": -1}}, "invalid_au_value"),
    ({"au_intensity": True}, {"action_units": {"12": 6}}, "invalid_au_value"),
    ({"au_intensity": True}, {"action_units": {"12": float("nan")}}, "invalid_au_value"),
    ({"action_units": []}, {"action_units": {"12": 1}}, "action_units_not_asked"),
]


def project_with(make_project, make_items, **options):
    options = {"valence_arousal": True, "action_units": AUS, **options}
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, **options)
    make_items(project, 2)
    membership = project.memberships.select_related("project", "user").get(user=alice)
    return project, alice, assignments_lease(membership=membership, count=2).assignments


@pytest.mark.parametrize("options, fields, code", BAD)
def test_bad_answers_are_refused_with_a_code_on_both_paths_and_store_nothing(make_project, make_items, path, options,
                                                                            fields, code):
    project, alice, (lease, _) = project_with(make_project, make_items, **options)
    with pytest.raises(ValidationFailed) as info:
        annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(), label="happiness", **fields)
    assert info.value.code == code and info.value.status == 400
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.OPEN
    assert Item.objects.get(pk=lease.item_id).answer_count == 0


@pytest.mark.parametrize("options, fields, code", BAD)
def test_corrections_refuse_the_same_answers_and_keep_the_original(make_project, make_items, options, fields, code):
    project, alice, (lease, _) = project_with(make_project, make_items, **options)
    original, _ = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(), label="neutral")
    with pytest.raises(ValidationFailed) as info:
        annotation_correct(annotator=alice, replaces=original.client_id, client_id=uuid.uuid4(), label="happiness", **fields)
    assert info.value.code == code
    assert list(Annotation.objects.values_list("label", flat=True)) == ["neutral"]


@pytest.mark.parametrize("intensity, sent, stored", [
    (False, {"25": 0, "6": 1, "12": 1}, {"6": 1, "12": 1, "25": 0}),  # kept in AU order
    (False, {"12": 1.0}, {"12": 1}),  # a whole float is the whole number it says; missing AUs were not judged
    (True, {"6": 0, "12": 5, "25": 1}, {"6": 0, "12": 5, "25": 1}),
    (False, {}, None),  # an empty object says no more than no AUs
    (False, None, None),
])
def test_good_answers_are_stored_the_same_on_both_paths(make_project, make_items, path, intensity, sent, stored):
    project, alice, (lease, _) = project_with(make_project, make_items, au_intensity=intensity)
    with CaptureQueriesContext(connection) as queries:
        answer, created = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(),
                                            label="happiness", valence=0.75, arousal=-1, action_units=sent)
    sent_sql = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]  # the test's transaction
    assert any("WITH closed" in sql for sql in sent_sql) == path
    if path:  # no extra query for the AUs: the rules SELECT reads them, the one write stores them
        assert len(sent_sql) == 2, sent_sql
    row = Annotation.objects.get(pk=answer.pk)
    assert created and answer.action_units == row.action_units == stored
    assert (row.valence, row.arousal) == (0.75, -1.0)
    assert Item.objects.get(pk=lease.item_id).answer_count == 1


def test_a_repeat_must_match_the_action_units_too(make_project, make_items, path):
    project, alice, (lease, _) = project_with(make_project, make_items)
    client_id = uuid.uuid4()
    first, _ = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=client_id, label="happiness",
                                 action_units={"12": 1, "6": 1})
    again, created = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=client_id, label="happiness",
                                       action_units={"6": 1, "12": 1})
    assert not created and again.pk == first.pk
    with pytest.raises(Conflict) as info:
        annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=client_id, label="happiness",
                          action_units={"6": 1, "12": 0})
    assert info.value.code == "client_id_reused"
    assert Annotation.objects.count() == 1


def test_undo_corrects_the_whole_answer_and_keeps_the_old_one(make_project, make_items):
    project, alice, (lease, _) = project_with(make_project, make_items, au_intensity=True)
    original, _ = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(), label="happiness",
                                    valence=0.8, arousal=0.2, action_units={"6": 2, "12": 4, "25": 0})
    fix_id = uuid.uuid4()
    fix, created = annotation_correct(annotator=alice, replaces=original.client_id, client_id=fix_id, label="surprise",
                                      valence=0.1, arousal=0.9, action_units={"25": 3})
    assert created and fix.replaces_id == original.pk and fix.action_units == {"25": 3}
    again, created = annotation_correct(annotator=alice, replaces=original.client_id, client_id=fix_id,
                                        label="surprise", valence=0.1, arousal=0.9, action_units={"25": 3})
    assert not created and again.pk == fix.pk
    kept = Annotation.objects.get(pk=original.pk)
    assert kept.action_units == {"6": 2, "12": 4, "25": 0} and kept.valence == 0.8
    assert Item.objects.get(pk=lease.item_id).answer_count == 1


# ----- over HTTP: the codes reach the client in the error shape, and the answer is returned with its AUs -----

def _post(client, body, *, raw: str | None = None):
    if raw is not None:
        return client.post("/api/annotations/", raw, content_type="application/json")
    return client.post("/api/annotations/", {"client_id": str(uuid.uuid4()), **body}, format="json")


def _json_able(fields) -> bool:
    try:
        json.dumps(fields, allow_nan=False)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("options, fields, code", [case for case in BAD if _json_able(case[1])])
def test_the_api_answers_bad_input_with_400_and_its_code(api_client, make_project, make_items, path, options, fields,
                                                         code):
    project, alice, (lease, _) = project_with(make_project, make_items, **options)
    api_client.force_authenticate(alice)
    response = _post(api_client, {"assignment": lease.pk, "label": "happiness", **fields})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_the_api_refuses_nan_and_infinity_literals(api_client, make_project, make_items, literal):
    project, alice, (lease, _) = project_with(make_project, make_items, au_intensity=True)
    api_client.force_authenticate(alice)
    for body in (f'"valence": {literal}', f'"action_units": {{"12": {literal}}}'):
        raw = f'{{"client_id": "{uuid.uuid4()}", "assignment": {lease.pk}, "label": "anger", {body}}}'
        response = _post(api_client, None, raw=raw)
        assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"
    assert not Annotation.objects.exists()


def test_the_api_stores_and_returns_the_whole_answer(api_client, make_project, make_items, path):
    project, alice, (lease, other) = project_with(make_project, make_items)
    api_client.force_authenticate(alice)
    sent = {"assignment": lease.pk, "label": "happiness", "valence": 0.6, "arousal": 0.3,
            "action_units": {"12": 1, "6": 1, "25": 0}}
    response = _post(api_client, sent)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["action_units"] == {"6": 1, "12": 1, "25": 0} and body["valence"] == 0.6
    assert api_client.get(f"/api/annotations/{body['id']}/").json() == body
    fix = _post(api_client, {"replaces": body["client_id"], "label": "happiness", "action_units": {"12": 1}})
    assert fix.status_code == 201 and fix.json()["action_units"] == {"12": 1}
    listed = api_client.get(f"/api/annotations/?project={project.pk}").json()["results"]
    assert [a["action_units"] for a in listed] == [{"12": 1}, {"6": 1, "12": 1, "25": 0}]
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "action_units" in json.dumps(json.loads(schema)["components"]["schemas"]["AnnotationSubmitInput"])
