"""The quality API: leads start jobs and read runs (filter, sort, page); annotators get 403."""
import pytest

from annotate.models import Item, JobKind, JobStatus, QualityRun
from tests.annotate.quality_support import answer, confident, model_version_make, predictions_make

LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


@pytest.fixture
def project_with_run(make_project, make_items, api_client, django_capture_on_commit_callbacks):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 10, split="PublicTest")
    Item.objects.filter(pk__in=[i.pk for i in items[5:]]).update(split="Training2")
    predictions_make(model_version_make(), items, [confident(i % 3) for i in range(10)])
    for i, item in enumerate(items):
        answer(item, people[0], LABELS[i % 3])
        answer(item, people[1], LABELS[i % 3])
        answer(item, people[2], "sadness" if i < 4 else LABELS[i % 3])
    api_client.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/quality-runs/", {}, format="json")
    assert response.status_code == 202, response.content
    job = api_client.get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == JobStatus.SUCCEEDED and job["kind"] == JobKind.ANALYSE, job
    return project, lead, people, items, QualityRun.objects.get(pk=job["result"]["quality_run"])


def test_leads_list_and_read_runs(project_with_run, api_client):
    project, lead, people, items, run = project_with_run
    runs = api_client.get(f"/api/projects/{project.pk}/quality-runs/").json()
    assert [r["id"] for r in runs] == [run.pk] and "summary" not in runs[0]
    detail = api_client.get(f"/api/quality-runs/{run.pk}/").json()
    assert detail["summary"]["fleiss_kappa"] is not None and detail["probability_source"] == "held-out-model"
    assert detail["annotation_count"] == 30 and detail["model_version"].startswith("test-")
    annotators = api_client.get(f"/api/quality-runs/{run.pk}/annotators/").json()
    assert annotators[0]["annotator"] == people[2].pk  # the one who said sadness four times is last in quality
    assert len(annotators[0]["confusion"]) == len(project.labels)
    jobs = api_client.get(f"/api/projects/{project.pk}/jobs/?kind=analyse").json()
    assert jobs["count"] == 1 and jobs["results"][0]["progress"] == 1.0


def test_item_results_filter_sort_and_page(project_with_run, api_client):
    project, lead, people, items, run = project_with_run
    url = f"/api/quality-runs/{run.pk}/items/"
    page = api_client.get(url, {"limit": 3}).json()
    assert page["count"] == 10 and len(page["results"]) == 3 and page["limit"] == 3
    qualities = [r["consensus_quality"] for r in api_client.get(url).json()["results"]]
    assert qualities == sorted(qualities)
    scores = [r["active_learning_score"] for r in api_client.get(url, {"sort": "-active_learning_score"}).json()["results"]]
    assert scores == sorted(scores, reverse=True)
    second = api_client.get(url, {"limit": 3, "offset": 3}).json()["results"]
    assert not {r["item"] for r in second} & {r["item"] for r in page["results"]}
    assert {r["consensus_label"] for r in api_client.get(url, {"label": "happiness"}).json()["results"]} == {"happiness"}
    confused = api_client.get(url, {"confused": "neutral,sadness"}).json()["results"]
    assert {r["item"] for r in confused} == {items[0].pk, items[3].pk}
    assert {r["item"] for r in api_client.get(url, {"split": "Training2"}).json()["results"]} == {i.pk for i in items[5:]}
    assert api_client.get(url, {"annotator": people[0].pk}).json()["count"] == 10
    assert api_client.get(url, {"annotator": lead.pk}).json()["count"] == 0
    issues = api_client.get(url, {"label_issue": "false"}).json()
    assert all(not r["label_issue"] for r in issues["results"])
    assert api_client.get(url, {"sort": "bogus"}).status_code == 400
    assert api_client.get(url, {"confused": "neutral"}).json()["error"]["code"] == "invalid_confused"
    first = page["results"][0]
    assert first["image_url"] == f"/api/items/{first['item']}/image"


def test_annotators_and_strangers_are_refused(project_with_run, api_client, make_user):
    project, lead, people, items, run = project_with_run
    job_id = run.job_id
    api_client.force_authenticate(people[0])
    for url in (f"/api/quality-runs/{run.pk}/", f"/api/quality-runs/{run.pk}/items/", f"/api/quality-runs/{run.pk}/annotators/",
                f"/api/projects/{project.pk}/quality-runs/", f"/api/projects/{project.pk}/jobs/", f"/api/jobs/{job_id}/"):
        assert api_client.get(url).status_code == 403, url
    for url in (f"/api/projects/{project.pk}/quality-runs/", f"/api/projects/{project.pk}/prelabel/"):
        assert api_client.post(url, {}, format="json").status_code == 403, url
    api_client.force_authenticate(make_user())
    assert api_client.get(f"/api/quality-runs/{run.pk}/").status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(f"/api/quality-runs/{run.pk}/").status_code == 401


def test_the_web_process_loads_neither_torch_nor_cleanlab():
    import subprocess
    import sys

    code = ("import django, sys; django.setup(); import server.urls, annotate.tasks, annotate.api.quality, annotate.api.jobs, "
            "annotate.services.jobs, annotate.services.job_kinds; "
            "print(sorted(m for m in ('torch', 'cleanlab', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "server.settings.test"})
    assert out.stdout.strip() == "[]", out.stderr
