"""Dataset versions: the label policy, splits that keep near duplicates together, the hash, immutability, diff, API."""
import uuid

import pytest
from django.core.management import call_command
from django.db.models import Max

from annotate.exceptions import ValidationFailed
from annotate.models import Annotation, DatasetVersion, Item, LabelSource, QualityItemResult, Review
from annotate.services.reviews import review_create
from annotate.selectors.version_diff import version_diff
from annotate.services.versions import version_freeze, version_preview
from tests.annotate.audit_seed import seed_audit


def _watermark(run):
    run.annotation_watermark = Annotation.objects.aggregate(w=Max("id"))["w"] or 0
    run.save(update_fields=["annotation_watermark"])
    return run


@pytest.fixture
def seeded(make_project, make_items):
    """A project of 40 faces, three answers each and a quality run over them; half the faces PublicTest."""
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 40)
    Item.objects.filter(pk__in=[i.pk for i in items[:20]]).update(split="Training")
    Item.objects.filter(pk__in=[i.pk for i in items[20:]]).update(split="PublicTest")
    run = _watermark(seed_audit(project, people, items, seed=3))
    return project, lead, people, items, run


def test_a_freeze_takes_reviews_then_consensus_and_records_its_inputs(seeded):
    project, lead, people, items, run = seeded
    review_create(item=items[0], reviewer=lead, action="relabel", label="contempt")
    review_create(item=items[1], reviewer=lead, action="exclude")
    version, created = version_freeze(project=project, created_by=lead, name="first")
    assert created and version.number == 1 and version.quality_run == run
    assert version.annotation_watermark == run.annotation_watermark
    assert version.review_watermark == Review.objects.aggregate(w=Max("id"))["w"]
    entries = {e.item_id: e for e in version.entries.all()}
    assert items[1].pk not in entries and version.stats["left_out"]["excluded by a lead"] == 1
    first = entries[items[0].pk]
    assert first.label == "contempt" and first.label_source == LabelSource.REVIEW and first.soft_label["contempt"] == 1.0
    result = QualityItemResult.objects.get(run=run, item=items[5])
    fifth = entries[items[5].pk]
    assert fifth.label == result.consensus_label and fifth.label_source == LabelSource.CONSENSUS
    assert fifth.votes == result.votes and fifth.num_answers == result.num_answers and fifth.quality == result.consensus_quality
    assert abs(sum(fifth.soft_label.values()) - 1) < 1e-5 and set(fifth.soft_label) == set(project.labels[:8])
    assert fifth.split == "Training" and entries[items[30].pk].split == "PublicTest"
    assert version.item_count == len(entries) == 39 - version.stats["left_out_total"] + 1
    assert len(version.sha256) == 64 and version.data_card


def test_a_version_never_changes_and_equal_inputs_give_the_equal_version(seeded):
    project, lead, people, items, run = seeded
    version, _ = version_freeze(project=project)
    rows = list(version.entries.order_by("item_id").values())
    again, created = version_freeze(project=project)
    assert not created and again.pk == version.pk and again.sha256 == version.sha256
    answered = set(Annotation.objects.filter(item=items[3]).values_list("annotator_id", flat=True))
    newcomer = next(p for p in people if p.pk not in answered)
    Annotation.objects.create(project=project, item=items[3], annotator=newcomer, label="fear", client_id=uuid.uuid4())
    review_create(item=items[4], reviewer=lead, action="relabel", label="disgust")
    version.refresh_from_db()
    assert list(version.entries.order_by("item_id").values()) == rows and again.sha256 == version.sha256
    second, created = version_freeze(project=project)
    assert created and second.number == 2 and second.sha256 != version.sha256
    assert second.entries.get(item=items[4]).label == "disgust" and version.entries.get(item=items[4]).label != "disgust"
    assert version_preview(project=project)["differs_from_previous"]["number"] == 2


@pytest.mark.parametrize("policy, reason", [
    ({"min_answers": 4}, "fewer than 4 answers"),
    ({"min_consensus_quality": 0.99}, "consensus quality below 0.99"),
    ({"exclude_unreviewed_issues": True}, "unreviewed label issue"),
])
def test_each_policy_option_leaves_out_faces_and_says_why(seeded, policy, reason):
    project, lead, people, items, run = seeded
    preview = version_preview(project=project, policy=policy)
    assert preview["left_out"][reason] > 0
    assert preview["faces"] + preview["left_out_total"] == 40
    assert not DatasetVersion.objects.exists()  # a preview writes nothing


def test_flags_labels_and_references(make_project, make_items):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 6, reference_label="happiness")
    seed_audit(project, people, items[:4], seed=1, noise={0: 0, 1: 0, 2: 0})
    run = _watermark(project.quality_runs.get())
    Annotation.objects.filter(item=items[0]).update(flags=["occluded"])
    Annotation.objects.filter(item=items[1]).update(label="unknown")
    QualityItemResult.objects.filter(run=run, item=items[1]).update(consensus_label="unknown")
    preview = version_preview(project=project, policy={"exclude_flags": ["occluded"]})
    assert preview["left_out"] == {"flagged occluded": 1, "final label unknown": 1, "no answers": 2}
    with_reference = version_preview(project=project, policy={"use_reference": True})
    assert with_reference["faces"] == 5 and with_reference["label_sources"] == {"consensus": 3, "reference": 2}
    assert with_reference["differs_from_reference"]["compared"] == 5


def test_keep_splits_moves_near_duplicates_into_one_split(seeded):
    project, lead, people, items, run = seeded
    run.summary = {**run.summary, "near_duplicates": [[items[0].pk, items[25].pk], [items[25].pk, items[26].pk]]}
    run.save(update_fields=["summary"])
    version, _ = version_freeze(project=project)
    group = {e.item_id: e for e in version.entries.filter(item__in=[items[0], items[25], items[26]])}
    assert len({e.split for e in group.values()}) == 1 and group[items[25].pk].split == "PublicTest"
    assert len({e.duplicate_group for e in group.values()}) == 1 and group[items[0].pk].duplicate_group is not None
    assert version.stats["near_duplicate_groups_moved"] == 1 and version.stats["near_duplicate_faces_moved"] == 1


def test_stratified_splits_are_seeded_per_class_and_keep_groups(seeded):
    project, lead, people, items, run = seeded
    run.summary = {**run.summary, "near_duplicates": [[items[0].pk, items[1].pk]]}
    run.save(update_fields=["summary"])
    policy = {"split": "stratified", "split_seed": 7, "split_fractions": [0.5, 0.25, 0.25]}
    a = version_preview(project=project, policy=policy)
    assert a == version_preview(project=project, policy=policy)
    assert set(a["per_split"]) <= {"train", "validation", "test"} and sum(a["per_split"]["train"].values()) >= a["faces"] * 0.4
    version, _ = version_freeze(project=project, policy=policy)
    pair = list(version.entries.filter(item__in=items[:2]).values_list("split", flat=True))
    assert len(pair) < 2 or pair[0] == pair[1]
    other = version_preview(project=project, policy={**policy, "split_seed": 8})
    assert other["sha256"] != a["sha256"]


def test_the_diff_names_label_changes_faces_and_split_moves(seeded):
    project, lead, people, items, run = seeded
    old, _ = version_freeze(project=project)
    before = old.entries.get(item=items[2]).label
    target = "fear" if before != "fear" else "anger"
    review_create(item=items[2], reviewer=lead, action="relabel", label=target)
    review_create(item=items[3], reviewer=lead, action="exclude")
    new, _ = version_freeze(project=project)
    diff = version_diff(old=old, new=new)
    assert diff["removed"] == 1 and diff["removed_items"] == [items[3].pk] and diff["added"] == 0
    assert {"from": before, "to": target, "count": 1, "items": [items[2].pk]} in diff["label_changes"]
    balance = {row["label"]: row["change"] for row in diff["class_balance"]}
    assert balance[target] >= 1 and sum(balance.values()) == -1


def test_baseline_versions_take_one_annotators_answers_or_the_imported_labels(seeded):
    project, lead, people, items, run = seeded
    review_create(item=items[0], reviewer=lead, action="relabel", label="contempt")  # a baseline ignores relabels
    review_create(item=items[1], reviewer=lead, action="exclude")  # ... but not what a lead excluded
    theirs = {a.item_id: a.label for a in Annotation.objects.filter(annotator=people[0], replaces__isnull=True)}
    version, _ = version_freeze(project=project, policy={"labels_from": f"annotator:{people[0].username}"})
    entries = {e.item_id: e for e in version.entries.all()}
    kept = {i: label for i, label in theirs.items() if i != items[1].pk and label not in ("unknown", "not_a_face")}
    assert {i: e.label for i, e in entries.items()} == kept
    assert {e.label_source for e in entries.values()} == {LabelSource.ANNOTATOR}
    assert version.stats["left_out"][f"not answered by {people[0].username}"] == 39 - len([i for i in theirs if i != items[1].pk])
    assert version.policy["labels_from"] == f"annotator:{people[0].username}"
    Item.objects.filter(pk__in=[i.pk for i in items[:10]]).update(reference_label="happiness")
    imported, _ = version_freeze(project=project, policy={"labels_from": "reference"})
    assert imported.item_count == 9 and set(imported.entries.values_list("label", flat=True)) == {"happiness"}
    assert imported.stats["left_out"]["no imported label"] == 30
    for bad in ("annotator:nobody", "majority"):
        with pytest.raises(ValidationFailed) as error:
            version_preview(project=project, policy={"labels_from": bad})
        assert error.value.code == "invalid_policy" and "labels_from" in error.value.details


def test_bad_policies_and_empty_versions_are_refused(seeded):
    project, lead, people, items, run = seeded
    with pytest.raises(ValidationFailed) as error:
        version_freeze(project=project, policy={"min_answers": 99})
    assert error.value.code == "empty_version" and "fewer than 99 answers" in error.value.message
    for policy in ({"colour": "blue"}, {"exclude_labels": ["sunburn"]}, {"split": "random"},
                   {"split": "stratified", "split_fractions": [0.5, 0.5, 0.5]}):
        with pytest.raises(ValidationFailed) as error:
            version_preview(project=project, policy=policy)
        assert error.value.code == "invalid_policy"
    assert not DatasetVersion.objects.exists()


def test_the_versions_api_for_leads(seeded, api_client, make_project):
    project, lead, people, items, run = seeded
    api_client.force_authenticate(lead)
    base = f"/api/projects/{project.pk}/versions/"
    preview = api_client.post(base + "preview/", {"policy": {"min_answers": 2}}, format="json")
    assert preview.status_code == 200 and preview.json()["faces"] > 0
    created = api_client.post(base, {"name": "v-one", "policy": {"min_answers": 2}}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "v-one" and body["policy"]["min_answers"] == 2 and body["created_by"] == lead.username
    assert api_client.post(base, {"name": "again", "policy": {"min_answers": 2}}, format="json").status_code == 200
    assert [v["id"] for v in api_client.get(base).json()] == [body["id"]]
    assert api_client.get(f"/api/versions/{body['id']}/").json()["data_card"]
    first_diff = api_client.get(f"/api/versions/{body['id']}/diff/")
    assert first_diff.status_code == 400 and first_diff.json()["error"]["code"] == "no_previous"
    bad = api_client.post(base, {"policy": {"min_answers": 99}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "empty_version"
    assert api_client.post(base, {"policy": {"split": "random"}}, format="json").status_code == 400
    other, other_lead, _ = make_project(annotators=0)
    api_client.force_authenticate(other_lead)
    assert api_client.get(f"/api/versions/{body['id']}/").status_code == 404
    api_client.force_authenticate(people[0])
    assert api_client.get(f"/api/versions/{body['id']}/").status_code == 403
    assert api_client.get(base).status_code == 403


def test_freeze_version_command_prints_the_id_and_hash(seeded, capsys):
    project, lead, people, items, run = seeded
    call_command("freeze_version", "--project", project.slug, "--policy", '{"min_answers": 2}')
    out = capsys.readouterr().out
    version = DatasetVersion.objects.get()
    assert f"id {version.pk}" in out and f"sha256 {version.sha256}" in out


def test_version_pages_are_for_the_projects_leads_only(seeded, client, make_project):
    from annotate.models import Role
    from annotate.services.projects import membership_set

    project, lead, people, items, run = seeded
    version, _ = version_freeze(project=project)
    other, other_lead, _ = make_project(annotators=0)
    membership_set(project=other, user=lead, role=Role.LEAD)  # leads both: still no version 1 of `other` here
    client.force_login(lead)
    for path in ("versions/", f"versions/{version.pk}/", f"versions/{version.pk}/diff/"):
        assert client.get(f"/projects/{project.pk}/{path}").status_code == 200, path
    assert client.get(f"/projects/{other.pk}/versions/{version.pk}/").status_code == 404  # not the version's project
    client.force_login(people[0])
    assert client.get(f"/projects/{project.pk}/versions/{version.pk}/").status_code == 403
    client.force_login(other_lead)
    assert client.get(f"/projects/{project.pk}/versions/{version.pk}/").status_code == 404
