"""The work API as the labelling page uses it, with its access rules and its OpenAPI schema."""
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Annotation, Item, QualityAnnotatorResult, QualityRun

pytestmark = pytest.mark.django_db


def next_items(client, project, **body):
    response = client.post(f"/api/projects/{project.pk}/next/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def submit(client, **body):
    body.setdefault("client_id", str(uuid.uuid4()))
    return client.post("/api/annotations/", body, format="json")


def test_lease_submit_undo_skip_round_trip(api_client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    items = make_items(project, 3)
    project.memberships.filter(user=alice).update(message="Take your time on the blurry ones.")
    api_client.force_authenticate(alice)
    body = next_items(api_client, project, count=3)
    assert body["status"] == "ok" and body["message"] == "Take your time on the blurry ones."
    leases = body["assignments"]
    assert [x["item"] for x in leases] == [i.pk for i in items]
    assert leases[0]["image"].startswith("/api/faces/") and leases[0]["hint"] is None
    assert api_client.get(leases[0]["image"]).status_code == 200
    assert "is_gold" not in leases[0] and "gold" not in str(leases[0])

    first = submit(api_client, assignment=leases[0]["assignment"], label="happiness", flags=["occluded"], seconds=1.5)
    assert first.status_code == 201, first.content
    again = {"assignment": leases[0]["assignment"], "client_id": first.json()["client_id"], "label": "happiness",
             "flags": ["occluded"], "seconds": 1.5}
    repeat = api_client.post("/api/annotations/", again, format="json")
    assert repeat.status_code == 200 and repeat.json()["id"] == first.json()["id"]
    fix = submit(api_client, replaces=first.json()["client_id"], label="surprise")
    assert fix.status_code == 201 and fix.json()["replaces"] == first.json()["client_id"]
    skip = api_client.post(f"/api/assignments/{leases[1]['assignment']}/skip/")
    assert skip.status_code == 200 and skip.json()["status"] == "skipped"

    mine = api_client.get(f"/api/annotations/?project={project.pk}").json()
    assert [a["label"] for a in mine["results"]] == ["surprise", "happiness"]
    assert Item.objects.get(pk=items[0].pk).answer_count == 1
    # The third lease is still live and comes back if the page is reloaded without it.
    assert [x["assignment"] for x in next_items(api_client, project)["assignments"]] == [leases[2]["assignment"]]
    assert next_items(api_client, project, holding=[leases[2]["assignment"]])["status"] == "no_work"


def test_invalid_submits_get_the_error_shape(api_client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    api_client.force_authenticate(alice)
    (lease,) = next_items(api_client, project)["assignments"]
    response = submit(api_client, assignment=lease["assignment"], label="joy")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_label"
    response = submit(api_client, label="anger")
    assert response.status_code == 400
    response = api_client.post("/api/annotations/", {"assignment": lease["assignment"], "label": "anger"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_annotators_see_only_their_own_work_and_projects(api_client, make_project, make_items, make_user):
    project, lead, (alice, bob) = make_project(annotators=2)
    make_items(project, 2)
    api_client.force_authenticate(alice)
    (lease,) = next_items(api_client, project)["assignments"]
    answer = submit(api_client, assignment=lease["assignment"], label="anger").json()

    api_client.force_authenticate(bob)
    assert api_client.get(f"/api/annotations/{answer['id']}/").status_code == 404
    assert api_client.get(f"/api/annotations/?project={project.pk}").json()["results"] == []
    assert api_client.get(f"/api/assignments/?project={project.pk}").json()["results"] == []
    assert submit(api_client, assignment=lease["assignment"], label="fear").status_code == 404
    assert submit(api_client, replaces=answer["client_id"], label="fear").status_code == 404
    assert api_client.post(f"/api/assignments/{lease['assignment']}/skip/").status_code == 404
    assert api_client.get(f"/api/projects/{project.pk}/stats/annotators/{alice.pk}/").status_code == 403

    api_client.force_authenticate(make_user("outsider"))
    assert api_client.post(f"/api/projects/{project.pk}/next/", {}, format="json").status_code == 404
    assert api_client.get(f"/api/projects/{project.pk}/stats/me/").status_code == 404
    assert api_client.get(f"/api/annotations/?project={project.pk}").status_code == 404
    assert api_client.get(f"/api/assignments/?project={project.pk}").status_code == 404

    api_client.force_authenticate(None)
    assert api_client.post(f"/api/projects/{project.pk}/next/", {}, format="json").status_code == 401
    assert Annotation.objects.count() == 1


def test_paused_annotators_are_told_so(api_client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    project.memberships.filter(user=alice).update(paused=True, message="Please re-read the guidelines.")
    api_client.force_authenticate(alice)
    assert next_items(api_client, project) == {"status": "paused", "message": "Please re-read the guidelines.", "assignments": [], "withdrawn": []}


def test_model_hints_only_where_the_project_shows_them(api_client, make_project, make_items):
    from annotate.models import ModelVersion, Prediction

    project, _, (alice, bob) = make_project(annotators=2)
    (item,) = make_items(project, 1)
    version = ModelVersion.objects.create(name="cnn-1", checkpoint="x.pt", is_active=True)
    Prediction.objects.create(item=item, model_version=version, probs=[1.0], label="happiness", confidence=0.9)
    api_client.force_authenticate(alice)
    assert next_items(api_client, project)["assignments"][0]["hint"] is None
    project.show_model_hints = True
    project.save()
    api_client.force_authenticate(bob)
    assert next_items(api_client, project)["assignments"][0]["hint"] == {"label": "happiness", "confidence": 0.9}


def test_stats_for_the_annotator_and_their_lead(api_client, make_project, make_items, make_user):
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 3)
    api_client.force_authenticate(alice)
    leases = next_items(api_client, project, count=3)["assignments"]
    for lease, seconds in zip(leases, [1.0, 3.0, 8.0]):
        assert submit(api_client, assignment=lease["assignment"], label="neutral", seconds=seconds).status_code == 201
    mine = api_client.get(f"/api/projects/{project.pk}/stats/me/").json()
    assert (mine["answers"], mine["corrections"], mine["median_seconds"], mine["quality"]) == (3, 0, 3.0, None)

    run = QualityRun.objects.create(project=project)
    QualityAnnotatorResult.objects.create(run=run, annotator=alice, num_answers=3, quality=0.8, agreement=2 / 3, gold_accuracy=1.0, gold_answers=1)
    api_client.force_authenticate(lead)
    theirs = api_client.get(f"/api/projects/{project.pk}/stats/annotators/{alice.pk}/").json()
    assert theirs["answers"] == 3 and theirs["quality"]["agreement"] == pytest.approx(2 / 3)
    assert theirs["quality"]["gold_accuracy"] == 1.0 and theirs["quality"]["run"] == run.pk
    assert api_client.get(f"/api/projects/{project.pk}/stats/annotators/{make_user().pk}/").status_code == 404


def test_list_filters_are_validated(api_client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    api_client.force_authenticate(alice)
    for url, params in [("/api/annotations/", {"project": "one"}), ("/api/annotations/", {"project": "-1"}),
                        ("/api/assignments/", {}), ("/api/assignments/", {"project": project.pk, "status": "lost"})]:
        response = api_client.get(url, params)
        assert response.status_code == 400, (url, params)
        assert response.json()["error"]["code"] == "invalid" and response.json()["error"]["details"], (url, params)
    next_items(api_client, project)
    assert api_client.get("/api/assignments/", {"project": project.pk, "status": "open"}).json()["count"] == 1
    assert api_client.get("/api/assignments/", {"project": project.pk, "status": "skipped"}).json()["count"] == 0
    assert api_client.get("/api/annotations/", {"project": project.pk}).json()["count"] == 0


def test_next_and_submit_take_a_handful_of_queries(client, make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 5)
    client.force_login(alice)
    with CaptureQueriesContext(connection) as lease_queries:
        lease = client.post(f"/api/projects/{project.pk}/next/", {}, content_type="application/json").json()["assignments"][0]
    with CaptureQueriesContext(connection) as submit_queries:
        body = {"assignment": lease["assignment"], "label": "fear", "client_id": str(uuid.uuid4())}
        assert client.post("/api/annotations/", body, content_type="application/json").status_code == 201
    # Session, user, membership, resume, lock, re-count, insert (+ transaction bookkeeping).
    assert len(lease_queries) <= 9, [q["sql"] for q in lease_queries]
    assert len(submit_queries) <= 9, [q["sql"] for q in submit_queries]


def test_schema_documents_the_work_endpoints(client, make_user):
    client.force_login(make_user())
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for route in ["/api/projects/{project_id}/next/", "/api/annotations/", "/api/assignments/{assignment_id}/skip/",
                  "/api/projects/{project_id}/stats/me/", "/api/projects/{project_id}/stats/annotators/{user_id}/"]:
        assert route in text, route
    assert "AnnotationSubmitInput" in text and "LeaseOutput" in text
    parameters = {p["name"]: p for p in response.json()["paths"]["/api/assignments/"]["get"]["parameters"]}
    assert parameters["project"]["required"] and set(parameters["status"]["schema"]["enum"]) >= {"open", "skipped"}


def test_the_labelling_page_is_for_members_only(client, make_project, make_user):
    project, _, (alice,) = make_project(annotators=1, valence_arousal=True)
    assert client.get(f"/projects/{project.pk}/label/").status_code == 302  # to the sign-in page
    client.force_login(make_user())
    assert client.get(f"/projects/{project.pk}/label/").status_code == 404
    client.force_login(alice)
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert 'data-label="not_a_face" data-key="0"' in page and 'data-flag="occluded" data-key="o"' in page
    assert 'id="va-pad"' in page and 'id="label-config"' in page


def test_hand_built_hot_path_responses_match_their_serializers(api_client, make_project, make_items):
    from annotate.api.work import AnnotationOutput, LeasedItemOutput

    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 1)
    api_client.force_authenticate(alice)
    (lease,) = next_items(api_client, project)["assignments"]
    assert set(lease) == set(LeasedItemOutput().fields)
    body = submit(api_client, assignment=lease["assignment"], label="anger", flags=["occluded"], seconds=2.0).json()
    stored = Annotation.objects.get(pk=body["id"])
    assert body == AnnotationOutput(stored).data
    assert api_client.get(f"/api/annotations/{body['id']}/").json() == body


def test_the_labelling_page_keys_every_action_unit_apart_from_the_other_keys(client, make_project):
    from ml.action_units import AU_NAMES

    every = sorted(AU_NAMES)
    project, _, (alice,) = make_project(annotators=1, action_units=every, au_intensity=True,
                                        flags=["occluded", "non_frontal", "low_quality", "glasses", "beard"])
    client.force_login(alice)
    response = client.get(f"/projects/{project.pk}/label/")
    config = response.context["config"]
    taken = set("1234567890zsh?v") | {f["key"] for f in config["flags"]}
    keyed = [au["key"] for au in config["actionUnits"] if au["key"]]
    assert [au["number"] for au in config["actionUnits"]] == every and config["auIntensity"] is True
    assert len(set(keyed)) == len(keyed) and not set(keyed) & taken
    assert 15 <= len(keyed) < len(every)  # 21 AUs outnumber the free letters: the last ones are answered by click
    assert all(au["key"] == "" for au in config["actionUnits"][len(keyed):])
    page = response.content.decode()
    assert 'data-au="12" data-key=' in page and "pulls the lip corners up and back (the smile)" in page
    assert 'data-au="27" aria-pressed=' in page  # no key, so no data-key
