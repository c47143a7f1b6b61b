"""Annotators' evidence and gold accuracy, run numbers and reused runs, and one job per double click (issue 16: 4, 6b-6d)."""
import pytest

from annotate.models import Item, Job, JobKind, JobStatus, QualityRun
from annotate.selectors.audit_annotators import THIN_EVIDENCE_FACES
from tests.annotate.quality_support import answer, confident, model_version_make, predictions_make

LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


@pytest.fixture
def start_run(api_client, django_capture_on_commit_callbacks):
    """start_run(project, lead) -> the finished analyse job's JSON (the task runs in-process on commit)."""

    def start(project, lead) -> dict:
        api_client.force_authenticate(lead)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(f"/api/projects/{project.pk}/quality-runs/", {}, format="json")
        assert response.status_code == 202, response.content
        job = api_client.get(f"/api/jobs/{response.json()['id']}/").json()
        assert job["status"] == JobStatus.SUCCEEDED, job
        return job

    return start


def _rows(api_client, project) -> dict:
    body = api_client.get(f"/api/projects/{project.pk}/annotators/").json()
    return body, {row["user_id"]: row for row in body["results"]}


def test_an_annotator_alone_pressing_keys_in_turn_is_shown_as_not_enough_evidence(make_project, make_items, api_client, start_run):
    """The reported case: the only annotator of 16 faces answers in key rotation; the model disagrees on every face.
    Before: quality 1.000 and agreement 100% (each consensus was their own answer)."""
    project, lead, (alone,) = make_project(annotators=1)
    items = make_items(project, 16, split="PublicTest")
    predictions_make(model_version_make(), items, [confident((i + 3) % 8) for i in range(16)])
    for i, item in enumerate(items):
        answer(item, alone, LABELS[i % 8])
    start_run(project, lead)
    body, rows = _rows(api_client, project)
    row = rows[alone.pk]
    assert row["quality"] is None and row["agreement"] is None and row["crowdlab_quality"] is None
    assert row["evidence"] == "none" and row["shared_items"] == 0 and row["scored_answers"] == 16
    assert (row["model_items"], row["model_agree"], row["model_agreement"]) == (16, 0, 0.0)
    assert row["gold_answers"] == 0 and row["gold_accuracy"] is None
    assert body["thin_evidence_faces"] == THIN_EVIDENCE_FACES and body["run_number"] == 1
    run_id = QualityRun.objects.get(project=project).pk
    (scored,) = api_client.get(f"/api/quality-runs/{run_id}/annotators/").json()
    assert scored["quality"] is None and scored["evidence"] == {"shared_items": 0, "model_items": 16, "model_agree": 0}


def test_each_row_carries_its_evidence_and_gold_accuracy_with_counts(make_project, make_items, api_client, start_run):
    """Three annotators share 24 faces (enough evidence); a fourth shares 2 of their 10 (thin); gold on 4 faces."""
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 32, split="PublicTest")
    truth = [i % 4 for i in range(32)]
    predictions_make(model_version_make(), items, [confident(t) for t in truth])
    for item, t in zip(items[:4], truth):
        Item.objects.filter(pk=item.pk).update(is_gold=True, gold_label=LABELS[t])
    for i, item in enumerate(items[:24]):
        for person in people[:3]:
            answer(item, person, LABELS[truth[i]])
    answer(items[1], people[0], "fear", replaces=items[1].annotations.get(annotator=people[0]))  # one wrong gold answer
    for i, item in enumerate([items[22], items[23]] + items[24:]):
        answer(item, people[3], LABELS[truth[items.index(item)]])
    start_run(project, lead)
    _, rows = _rows(api_client, project)
    first, fourth = rows[people[0].pk], rows[people[3].pk]
    assert first["evidence"] == "enough" and first["shared_items"] == 24 and first["quality"] is not None
    assert (first["gold_answers"], first["gold_correct"]) == (4, 3) and first["gold_accuracy"] == pytest.approx(0.75)
    assert (first["model_items"], first["model_agree"]) == (24, 23)
    assert rows[people[1].pk]["gold_correct"] == 4 and rows[people[1].pk]["gold_accuracy"] == 1.0
    assert fourth["evidence"] == "thin" and fourth["shared_items"] == 2 and fourth["scored_answers"] == 10
    assert fourth["gold_answers"] == 0 and fourth["gold_accuracy"] is None
    assert (fourth["model_items"], fourth["model_agree"], fourth["model_agreement"]) == (10, 10, 1.0)


def test_runs_are_numbered_per_project_everywhere_and_a_reused_run_says_so(make_project, make_items, api_client, start_run):
    projects, model = [], model_version_make()
    for _ in range(2):
        project, lead, people = make_project(annotators=2)
        items = make_items(project, 6, split="PublicTest")
        predictions_make(model, items, [confident(i % 3) for i in range(6)])
        for i, item in enumerate(items):
            for person in people:
                answer(item, person, LABELS[i % 3])
        projects.append((project, lead, people, items))
    (a, lead_a, people_a, items_a), (b, lead_b, _, _) = projects
    start_run(a, lead_a)
    start_run(b, lead_b)  # a run id between project a's two runs
    answer(items_a[0], lead_a, "fear")
    second = start_run(a, lead_a)
    again = start_run(a, lead_a)  # nothing changed: the service hands back run #2

    assert second["output"]["label"] == "run #2" and second["result"]["reused"] is False
    assert again["result"] == {"quality_run": second["result"]["quality_run"], "reused": True}
    assert again["output"]["label"] == "reused run #2's result (nothing changed since)"
    api_client.force_authenticate(lead_a)
    overview = api_client.get(f"/api/projects/{a.pk}/overview/").json()
    assert overview["latest_run"]["number"] == 2 and overview["latest_run"]["run"] == second["result"]["quality_run"]
    assert [r["number"] for r in overview["agreement_trend"]] == [1, 2]
    assert overview["last_analysis"]["job"] == again["id"] and overview["last_analysis"]["reused"] is True
    assert overview["last_analysis"]["number"] == 2
    assert api_client.get(f"/api/projects/{a.pk}/agreement/").json()["run_number"] == 2
    assert api_client.get(f"/api/projects/{a.pk}/annotators/").json()["run_number"] == 2
    version = api_client.post(f"/api/projects/{a.pk}/versions/", {"name": "v"}, format="json").json()
    assert version["quality_run_number"] == 2 and "quality run #2" in version["data_card"].lower()
    api_client.force_authenticate(lead_b)
    assert api_client.get(f"/api/projects/{b.pk}/overview/").json()["latest_run"]["number"] == 1
    assert QualityRun.objects.filter(project=a).count() == 2


@pytest.mark.parametrize("path, body", [("quality-runs/", {}), ("prelabel/", None), ("jobs/", {"kind": "analyse"})])
def test_a_second_identical_start_while_the_first_is_queued_is_refused(make_project, api_client, path, body):
    project, lead, _ = make_project(annotators=1)
    api_client.force_authenticate(lead)
    url = f"/api/projects/{project.pk}/{path}"
    first = api_client.post(url, body, format="json")  # no on-commit run here: the job stays queued
    assert first.status_code == 202, first.content
    second = api_client.post(url, body, format="json")
    assert second.status_code == 409, second.content
    error = second.json()["error"]
    assert error["code"] == "job_in_progress" and error["details"] == {"job": first.json()["id"], "status": "queued"}
    assert f"job #{first.json()['id']}" in error["message"]
    assert Job.objects.filter(project=project).count() == 1
    Job.objects.filter(pk=first.json()["id"]).update(status=JobStatus.SUCCEEDED)
    assert api_client.post(url, body, format="json").status_code == 202  # once it is over, a new one may start


def test_other_options_are_another_job_and_other_projects_are_not_blocked(make_project, api_client):
    project, lead, _ = make_project(annotators=1)
    other, other_lead, _ = make_project(annotators=1)
    api_client.force_authenticate(lead)
    assert api_client.post(f"/api/projects/{project.pk}/quality-runs/", {}, format="json").status_code == 202
    assert api_client.post(f"/api/projects/{project.pk}/quality-runs/", {"issue_threshold": 0.3}, format="json").status_code == 202
    assert api_client.post(f"/api/projects/{project.pk}/prelabel/", None, format="json").status_code == 202
    api_client.force_authenticate(other_lead)
    assert api_client.post(f"/api/projects/{other.pk}/quality-runs/", {}, format="json").status_code == 202
    assert Job.objects.filter(kind=JobKind.ANALYSE).count() == 3


def test_the_jobs_list_names_runs_in_a_fixed_number_of_queries(make_project, api_client, django_assert_max_num_queries):
    project, lead, _ = make_project(annotators=1)
    runs = [QualityRun.objects.create(project=project, summary={}) for _ in range(3)]
    for i in range(8):
        Job.objects.create(kind=JobKind.ANALYSE, project=project, status=JobStatus.SUCCEEDED, queue="ml",
                           result={"quality_run": runs[i % 3].pk, "reused": i >= 3})
    api_client.force_authenticate(lead)
    with django_assert_max_num_queries(6):
        page = api_client.get(f"/api/projects/{project.pk}/jobs/").json()
    labels = [job["output"]["label"] for job in page["results"]]  # newest first
    assert labels[-3:] == ["run #3", "run #2", "run #1"]
    assert labels[0] == "reused run #2's result (nothing changed since)"


def test_a_member_without_answers_in_the_run_is_not_scored_and_before_any_run_there_is_none(make_project, make_items, api_client, start_run):
    project, lead, (alone, idle) = make_project(annotators=2)
    api_client.force_authenticate(lead)
    _, rows = _rows(api_client, project)
    assert rows[idle.pk]["evidence"] == "no_run" and rows[idle.pk]["quality"] is None
    items = make_items(project, 4, split="PublicTest")
    predictions_make(model_version_make(), items, [confident(i) for i in range(4)])
    for i, item in enumerate(items):
        answer(item, alone, LABELS[i])
    start_run(project, lead)
    _, rows = _rows(api_client, project)
    assert rows[idle.pk]["evidence"] == "not_scored" and rows[idle.pk]["shared_items"] is None
    assert rows[alone.pk]["evidence"] == "none" and rows[alone.pk]["model_agreement"] == 1.0
