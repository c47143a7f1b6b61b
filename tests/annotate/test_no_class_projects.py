"""Projects that ask no expression class (labels [], #18): valence-arousal and/or action units only. The settings
rules, answers on both submit paths and the API, a quality run through the database, and their versions and exports
(faces in by their VA/AU consensus; the formats laid out by class refused)."""
import json
import uuid
from collections import Counter
from xml.etree import ElementTree

import pyarrow.parquet as pq
import pytest

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import (
    Annotation, DatasetVersionItem, DimensionCheck, Export, Item, LabelSource, Project, QualityAnnotatorResult,
    QualityItemResult,
)
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import assignments_lease
from annotate.services.projects import project_update
from annotate.services.exports import CLASS_FORMATS
from annotate.services.versions import NO_DIMENSION_CONSENSUS as NO_CONSENSUS, version_freeze
from tests.annotate.quality_support import answer
from tests.annotate.test_exports_dimensions import build  # noqa: F401  (builds an export's zip in-process)
from tests.annotate.test_quality_dimensions import analyse  # noqa: F401  (the fixture that runs a quality job)

pytestmark = pytest.mark.django_db

DISFA = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]


@pytest.mark.parametrize("body, code", [
    ({"labels": []}, "nothing_asked"),
    ({"labels": [], "action_units": [], "valence_arousal": False}, "nothing_asked"),
])
def test_no_class_needs_another_dimension(api_client, make_user, body, code):
    api_client.force_authenticate(make_user(is_staff=True))
    response = api_client.post("/api/projects/", {"name": "Faces", **body}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content
    assert not Project.objects.exists()


def test_an_au_only_project_is_created_and_keeps_a_dimension(api_client, make_user):
    lead = make_user(is_staff=True)
    api_client.force_authenticate(lead)
    response = api_client.post("/api/projects/", {"name": "DISFA", "labels": [], "flags": [], "action_units": DISFA},
                               format="json")
    assert response.status_code == 201, response.content
    assert response.json()["labels"] == [] and response.json()["action_units"] == DISFA
    pk = response.json()["id"]
    emptied = api_client.patch(f"/api/projects/{pk}/", {"action_units": []}, format="json")
    assert emptied.status_code == 400 and emptied.json()["error"]["code"] == "nothing_asked"
    assert api_client.patch(f"/api/projects/{pk}/", {"valence_arousal": True}, format="json").status_code == 200
    preview = api_client.post(f"/api/projects/{pk}/settings/preview", {"valence_arousal": False, "action_units": []},
                              format="json")
    assert preview.status_code == 400 and preview.json()["error"]["code"] == "nothing_asked"


def test_labels_in_use_cannot_all_be_removed(make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0, action_units=[12])
    item = make_items(project, 1)[0]
    answer(item, alice, "happiness", action_units={"12": 1})
    with pytest.raises(Conflict) as info:
        project_update(project=project, actor=lead, labels=[])
    assert info.value.code == "label_in_use" and "'happiness' cannot be removed" in info.value.message
    assert Project.objects.get(pk=project.pk).labels == project.labels


def _au_only(make_project, make_items, **options):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, labels=[], flags=["occluded"],
                                        action_units=[6, 12], **options)
    make_items(project, 2)
    membership = project.memberships.select_related("project", "user").get(user=alice)
    return project, alice, assignments_lease(membership=membership, count=2).assignments


@pytest.mark.parametrize("fields, code", [
    ({"label": "happiness", "action_units": {"12": 1}}, "label_not_asked"),
    ({"label": ""}, "empty_answer"),
    ({"label": "", "action_units": {}}, "empty_answer"),
    ({"label": "", "flags": ["occluded"]}, "empty_answer"),
])
def test_bad_answers_on_an_au_only_project(make_project, make_items, path, fields, code):
    _, alice, (lease, _) = _au_only(make_project, make_items)
    with pytest.raises(ValidationFailed) as info:
        annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=uuid.uuid4(), **fields)
    assert info.value.code == code and info.value.status == 400
    assert not Annotation.objects.exists() and Item.objects.get(pk=lease.item_id).answer_count == 0


def test_an_au_answer_is_stored_with_no_label_on_both_paths(make_project, make_items, path):
    _, alice, (lease, _) = _au_only(make_project, make_items)
    client_id = uuid.uuid4()
    stored, created = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=client_id, label="",
                                        action_units={"12": 1})
    again, repeated = annotation_submit(annotator=alice, assignment_id=lease.pk, client_id=client_id, label="",
                                        action_units={"12": 1})
    assert created and not repeated and again.pk == stored.pk
    row = Annotation.objects.get()
    assert (row.label, row.action_units) == ("", {"12": 1})
    with pytest.raises(ValidationFailed) as info:
        annotation_correct(annotator=alice, replaces=client_id, client_id=uuid.uuid4(), label="")
    assert info.value.code == "empty_answer"
    fix, _ = annotation_correct(annotator=alice, replaces=client_id, client_id=uuid.uuid4(), label="",
                                action_units={"6": 1, "12": 0})
    assert fix.replaces_id == row.pk and fix.label == ""


def test_the_api_takes_an_answer_without_label(api_client, make_project, make_items, path):
    project, alice, (lease, other) = _au_only(make_project, make_items, valence_arousal=True)
    api_client.force_authenticate(alice)
    response = api_client.post("/api/annotations/", {"client_id": str(uuid.uuid4()), "assignment": lease.pk,
                                                     "valence": -0.5}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["label"] == "" and response.json()["valence"] == -0.5
    refused = api_client.post("/api/annotations/", {"client_id": str(uuid.uuid4()), "assignment": other.pk,
                                                    "label": ""}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "empty_answer"


def au_only_crowd(make_project, make_items):
    """12 faces, 4 annotators: AU12 present on even faces, annotator 2 never marking it; AU6 present on every fourth
    face, and on each odd face split two against two the same way (annotators 0 and 2 against 1 and 3): disputed."""
    project, lead, people = make_project(annotators=4, gold_rate=0, labels=[], flags=[], action_units=[6, 12])
    items = make_items(project, 12)
    for face, item in enumerate(items):
        for p, person in enumerate(people):
            au12 = int(face % 2 == 0 and p != 2)
            au6 = int(p % 2 == 0) if face % 2 else int(face % 4 == 0)
            answer(item, person, "", action_units={"6": au6, "12": au12})
    return project, lead, people, items


def test_a_quality_run_on_an_au_only_project(make_project, make_items, analyse):
    project, _, people, items = au_only_crowd(make_project, make_items)
    run = analyse(project)
    summary = run.summary
    assert run.model_version is None and run.probability_source == "none"  # no class: no model read
    assert summary["labels"] == [] and summary["krippendorff_alpha"] is None and summary["answers"] == 48
    dims = summary["dimensions"]
    assert "expression class" in dims["cross_checks"]
    assert set(dims["checks"]) == {"au_disputed"} and "valence" not in dims
    assert dims["action_units"]["per_au"]["12"]["faces"] == 12
    rows = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    assert len(rows) == 12 and all(r.consensus_label == "" and r.votes == {} for r in rows.values())
    assert rows[items[0].pk].action_units["12"] > 0.5 > rows[items[3].pk].action_units["12"]
    assert rows[items[0].pk].num_answers == 4
    disputed = [i for i, r in rows.items() if r.checks & DimensionCheck.AU_DISPUTED]
    assert sorted(disputed) == [item.pk for item in items[1::2]] and "AU6" in rows[items[1].pk].check_reasons[0]
    assert all(rows[i].active_learning_score > 0 for i in disputed)
    assert Item.objects.get(pk=disputed[0]).priority == pytest.approx(rows[disputed[0]].active_learning_score)
    figures = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run)}
    assert figures[people[2].pk].dimensions["action_units"]["12"]["sensitivity"] < 0.5
    assert figures[people[0].pk].dimensions["action_units"]["12"]["sensitivity"] > 0.9
    assert analyse(project).pk == run.pk  # same inputs, same run


def test_a_run_without_answers_leaves_every_face_out(make_project, make_items, analyse):
    project, lead, _ = make_project(annotators=1, gold_rate=0, labels=[], valence_arousal=True)
    make_items(project, 3)
    run = analyse(project)
    assert run.summary["answers"] == 0 and QualityItemResult.objects.filter(run=run).count() == 3
    with pytest.raises(ValidationFailed) as info:
        version_freeze(project=project, created_by=lead)
    assert info.value.code == "empty_version" and info.value.details == {NO_CONSENSUS: 3}


@pytest.mark.parametrize("policy", [{"min_consensus_quality": 0.5}, {"use_reference": True}, {"labels_from": "reference"},
                                    {"exclude_labels": ["unknown"]}])
def test_class_options_of_the_policy_are_refused(make_project, make_items, analyse, policy):
    project, lead, _, _ = au_only_crowd(make_project, make_items)
    analyse(project)
    with pytest.raises(ValidationFailed) as info:
        version_freeze(project=project, policy=policy, created_by=lead)
    assert info.value.code == "invalid_policy"
    assert info.value.details == {next(iter(policy)): "not for a project without an expression class"}


def test_versions_and_exports_of_an_au_only_project(make_project, make_items, analyse, build, api_client, tmp_path):
    project, lead, people, items = au_only_crowd(make_project, make_items)
    unanswered = make_items(project, 1)[0]
    analyse(project)
    version, created = version_freeze(project=project, policy={"split": "stratified", "split_seed": 3}, created_by=lead)
    assert created and version.stats["left_out"] == {NO_CONSENSUS: 1} and version.item_count == 12
    entries = {e.item_id: e for e in DatasetVersionItem.objects.filter(version=version)}
    assert unanswered.pk not in entries and set(entries) == {item.pk for item in items}
    assert all((e.label, e.label_source, e.soft_label, e.votes) == ("", LabelSource.CONSENSUS, {}, {}) for e in entries.values())
    assert sorted(Counter(e.split for e in entries.values()).values()) == [1, 1, 10]  # 0.8 / 0.1 / 0.1 of one stratum
    assert "no expression class" in version.data_card and "| split | faces |" in version.data_card
    assert "Leave out faces whose final label is" not in version.data_card  # the class options do not apply
    au12 = {pk: e.dimensions["action_units"]["12"] for pk, e in entries.items()}

    lines = [json.loads(line) for line in build(version, "jsonl").read("data.jsonl").decode().splitlines()]
    assert {line["id"]: line["au_probability"]["AU12"] for line in lines} == au12
    assert all(len(line["answers"]) == 4 and line["label"] == "" for line in lines)
    first = next(line for line in lines if line["id"] == items[0].pk)
    assert [a["au_present"]["AU12"] for a in first["answers"]] == [1, 1, 0, 1]  # annotator 2 never marks AU12

    zf = build(version, "parquet")
    zf.extractall(tmp_path)
    table = pq.read_table(sorted(tmp_path.glob("data/*.parquet")))
    assert not {"label", "soft_label", "votes"} & set(table.column_names) and table.num_rows == 12
    rows = {r["item_id"]: r for r in table.to_pylist()}
    assert {pk: r["au_probability"]["AU12"] for pk, r in rows.items()} == pytest.approx(au12)
    assert [a["au_present"]["AU12"] for a in rows[items[0].pk]["answers"]] == [1, 1, 0, 1]
    assert "class_label" not in zf.read("README.md").decode()

    zf = build(version, "label-studio")
    config = ElementTree.fromstring(zf.read("label_config.xml"))
    assert [c.get("name") for c in config.iter("Choices")] == ["AU6", "AU12"]
    tasks = {t["data"]["ferlab_id"]: t for t in json.loads(zf.read("tasks.json"))}
    assert len(tasks) == 12 and tasks[items[0].pk]["data"]["au_probability"]["AU12"] == au12[items[0].pk]
    results = [r["result"] for r in tasks[items[0].pk]["annotations"]]
    assert len(results) == 4 and all({x["from_name"] for x in r} == {"AU6", "AU12"} for r in results)

    api_client.force_authenticate(lead)
    for format in ("imagefolder", "fer2013-csv", "ferplus-csv"):
        response = api_client.post(f"/api/versions/{version.pk}/exports/", {"format": format}, format="json")
        assert response.status_code == 409 and response.json()["error"]["code"] == "format_needs_class", response.content
    assert not Export.objects.filter(version=version, format__in=CLASS_FORMATS).exists()

    # Its frozen faces carry no class: the project cannot gain one afterwards (they would read as empty labels).
    with pytest.raises(Conflict) as refused:
        project_update(project=project, labels=["neutral", "happiness"], actor=lead)
    assert refused.value.code == "label_in_use" and "frozen version" in str(refused.value)
    project.refresh_from_db()
    assert project.labels == []
