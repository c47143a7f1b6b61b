"""A project's valence-arousal and action-unit schema over the API (#18): created with it, previewed and changed
with the same rules, and refused (409 with counts, nothing changed) where a change would orphan answers given."""
import uuid

import pytest

from annotate.models import Annotation, AuditEvent, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(api_client, make_user):
    user = make_user("maria", is_staff=True)
    api_client.force_authenticate(user)
    return user


def test_a_project_is_created_with_action_units_and_the_log_names_them(api_client, staff):
    body = {"name": "DISFA faces", "valence_arousal": True, "action_units": [26, 1, 12, 6], "au_intensity": True}
    response = api_client.post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["action_units"], created["au_intensity"], created["valence_arousal"]) == ([1, 6, 12, 26], True, True)
    project = Project.objects.get(pk=created["id"])
    assert project.action_units == [1, 6, 12, 26] and project.au_intensity
    lines = api_client.get(f"/api/projects/{project.pk}/audit-log/").json()["events"][0]["lines"]
    assert "action units: AU1, AU6, AU12, AU26" in lines and "AU intensity: on" in lines
    assert api_client.get(f"/api/projects/{project.pk}/").json()["project"]["action_units"] == [1, 6, 12, 26]


@pytest.mark.parametrize("change, code", [
    ({"action_units": [12, 12]}, "invalid_action_units"),
    ({"action_units": [3]}, "invalid_action_units"),  # not a FACS AU the catalogue holds
    ({"action_units": [12, 99]}, "invalid_action_units"),
    ({"action_units": ["lip"]}, "invalid"),
    ({"au_intensity": True}, "invalid_au_intensity"),  # intensity of no AU
])
def test_bad_action_unit_settings_are_refused_and_create_nothing(api_client, staff, change, code):
    response = api_client.post("/api/projects/", {"name": "Faces", **change}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content
    assert not Project.objects.exists() and not AuditEvent.objects.exists()


@pytest.fixture
def answered(make_project, make_items):
    """Intensity project asking AU 6, 12, 25: AU12 judged by two live answers (intensity C), AU25 only by a replaced
    answer, AU6 by none; one answer has valence-arousal."""
    project, lead, people = make_project(annotators=2, valence_arousal=True, action_units=[6, 12, 25], au_intensity=True)
    a, b = make_items(project, 2)
    first = Annotation.objects.create(project=project, item=a, annotator=people[0], label="happiness", client_id=uuid.uuid4(),
                                      action_units={"25": 1}, valence=0.5, arousal=0.1)
    Annotation.objects.create(project=project, item=a, annotator=people[0], label="happiness", client_id=uuid.uuid4(),
                              replaces=first, action_units={"12": 3})
    Annotation.objects.create(project=project, item=b, annotator=people[1], label="happiness", client_id=uuid.uuid4(),
                              action_units={"12": 3, "6": 0})
    return project, lead


def test_removing_an_au_that_answers_judge_is_refused_with_its_count(api_client, answered):
    project, lead = answered
    api_client.force_authenticate(lead)
    preview = api_client.post(f"/api/projects/{project.pk}/settings/preview", {"action_units": [25]}, format="json").json()
    assert preview["blocked"]
    effects = {e["figures"].get("action_unit"): e for e in preview["effects"]}
    assert effects[12]["level"] == "blocked" and effects[12]["figures"]["answers"] == 2
    assert "AU12 (lip corner puller) cannot be removed: 2 answers judge it." in effects[12]["message"]
    assert effects[6]["level"] == "blocked" and effects[6]["figures"]["answers"] == 1  # "absent" is a judgement too
    response = api_client.patch(f"/api/projects/{project.pk}/", {"action_units": [25]}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "action_unit_in_use"
    assert [e["figures"]["answers"] for e in response.json()["error"]["details"]["effects"]] == [1, 2]
    assert Project.objects.get(pk=project.pk).action_units == [6, 12, 25]
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()
    # AU25 is judged only by a replaced answer, so it may go; a new AU is asked from now on.
    response = api_client.patch(f"/api/projects/{project.pk}/", {"action_units": [12, 6, 4]}, format="json")
    assert response.status_code == 200, response.content
    assert Project.objects.get(pk=project.pk).action_units == [4, 6, 12]
    entry = api_client.get(f"/api/projects/{project.pk}/audit-log/").json()["events"][0]
    assert entry["sentence"] == "action units: added AU4 and removed AU25"
    assert any("AU4 (brow lowerer) from now on. The 2 faces answered so far were never asked about it." in line
               for line in entry["lines"])


def test_intensity_cannot_be_switched_off_while_answers_hold_intensities(api_client, answered):
    project, lead = answered
    api_client.force_authenticate(lead)
    response = api_client.patch(f"/api/projects/{project.pk}/", {"au_intensity": False}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "au_intensity_in_use"
    assert "2 answers give intensities B-E" in response.json()["error"]["message"]
    assert Project.objects.get(pk=project.pk).au_intensity


def test_intensity_cannot_be_switched_on_while_answers_mark_presence(api_client, make_project, make_items):
    project, lead, (alice,) = make_project(annotators=1, action_units=[12])
    (face,) = make_items(project, 1)
    api_client.force_authenticate(lead)
    url = f"/api/projects/{project.pk}/settings/preview"
    assert api_client.post(url, {"au_intensity": True}, format="json").json()["blocked"] is False
    Annotation.objects.create(project=project, item=face, annotator=alice, label="neutral", client_id=uuid.uuid4(),
                              action_units={"12": 0})
    assert api_client.post(url, {"au_intensity": True}, format="json").json()["blocked"] is False  # absent reads the same
    Annotation.objects.create(project=project, item=face, annotator=lead, label="happiness", client_id=uuid.uuid4(),
                              action_units={"12": 1})
    response = api_client.patch(f"/api/projects/{project.pk}/", {"au_intensity": True}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "au_intensity_in_use"
    assert "1 answer marks action units present without an intensity" in response.json()["error"]["message"]
    assert not Project.objects.get(pk=project.pk).au_intensity


def test_valence_arousal_can_be_turned_off_and_answers_keep_their_values(api_client, answered):
    project, lead = answered
    api_client.force_authenticate(lead)
    response = api_client.patch(f"/api/projects/{project.pk}/", {"valence_arousal": False}, format="json")
    assert response.status_code == 200 and response.json()["valence_arousal"] is False
    assert Annotation.objects.filter(valence=0.5, arousal=0.1).exists()
    entry = api_client.get(f"/api/projects/{project.pk}/audit-log/").json()["events"][0]
    assert entry["sentence"] == "turned valence-arousal off"
    assert "Valence and arousal are no longer asked; the 1 answer that have them keep their values." in entry["lines"]
