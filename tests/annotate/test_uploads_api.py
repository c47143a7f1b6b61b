"""The upload page's API: gold and split options at import, the audit of who imported what, the report read
page by page later, and excluding a near duplicate through a review."""
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from annotate.models import AuditEvent, Item, Job, Review
from tests.annotate.imports_support import fer_rows, make_zip, sample_face, write_fer2013

pytestmark = pytest.mark.django_db


def upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def post_import(client, project, path, capture, **options):
    with capture(execute=True):
        response = client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path), **options}, format="multipart")
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["id"])


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def near_duplicate_zip(path):
    """Two real faces and a copy of the first with every pixel moved by up to 6 grey levels (dHash distance <= 4)."""
    face = sample_face(6)
    edited = np.clip(face.astype(int) + np.random.default_rng(1).integers(-6, 7, face.shape), 0, 255).astype(np.uint8)
    return make_zip(path, {"happy/a.png": png(face), "sad/b.png": png(sample_face(12)), "happy/a-edited.png": png(edited),
                           "notes.txt": b"not an image"})


def test_gold_from_reference_labels_and_a_default_split(make_project, api_client, tmp_path, django_capture_on_commit_callbacks):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    rows = fer_rows(6)
    rows[0][0] = ""  # no label: no reference label, so not gold
    rows[1][2] = ""  # no Usage: the default split applies
    path = write_fer2013(tmp_path / "fer2013.csv", rows)
    job = post_import(api_client, project, path, django_capture_on_commit_callbacks, gold_from_reference="true", split="Pilot")
    assert job.status == "succeeded" and job.result["gold"] == 5 and job.params["gold_from_reference"] is True
    items = {i.source_row: i for i in Item.objects.filter(project=project)}
    assert not items[0].is_gold and items[0].gold_label == ""
    assert all(items[r].is_gold and items[r].gold_label == items[r].reference_label != "" for r in range(1, 6))
    assert items[1].split == "Pilot" and items[2].split == rows[2][2] != "Pilot"  # the Usage column wins

    event = AuditEvent.objects.get(project=project, action="import.started")
    assert event.actor == lead and event.target == f"job:{job.pk}"
    assert event.details["file"] == "fer2013.csv" and event.details["size"] == path.stat().st_size
    assert event.details["options"] == {"format": "auto", "labels_as_answers": False, "votes_as_answers": False, "cropped": False,
                                        "split": "Pilot", "gold_from_reference": True}


def test_conflicting_or_bad_options_are_refused_before_anything_is_stored(make_project, api_client, tmp_path):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    path = write_fer2013(tmp_path / "fer2013.csv", fer_rows(2))
    url = f"/api/projects/{project.pk}/imports/"
    conflict = api_client.post(url, {"file": upload(path), "labels_as_answers": "true", "gold_from_reference": "true"}, format="multipart")
    assert conflict.status_code == 400 and conflict.json()["error"]["code"] == "options_conflict"
    bad_split = api_client.post(url, {"file": upload(path), "split": "../etc"}, format="multipart")
    assert bad_split.status_code == 400 and bad_split.json()["error"]["code"] == "invalid_split"
    empty = api_client.post(url, {"file": SimpleUploadedFile("empty.csv", b"")}, format="multipart")
    assert empty.status_code == 400
    assert not Job.objects.exists() and not AuditEvent.objects.filter(action="import.started").exists()


def test_past_imports_are_listed_and_their_report_read_page_by_page(make_project, api_client, tmp_path, django_capture_on_commit_callbacks):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    bad = [["0", "1 2 3", "Training"]] * 7 + [["9", fer_rows(1)[0][1], "Training"]]
    first = post_import(api_client, project, write_fer2013(tmp_path / "fer.csv", fer_rows(4) + bad), django_capture_on_commit_callbacks)
    second = post_import(api_client, project, near_duplicate_zip(tmp_path / "faces.zip"), django_capture_on_commit_callbacks,
                         cropped="true", gold_from_reference="true")

    listed = api_client.get(f"/api/projects/{project.pk}/imports/").json()
    assert listed["count"] == 2 and [r["id"] for r in listed["results"]] == [second.pk, first.pk]
    assert listed["results"][1]["counts"] == {"seen": 12, "imported": 4, "updated": 0, "answers": 0, "gold": 0, "skipped": 8,
                                              "duplicates": 0, "near_duplicates": 0}
    assert listed["results"][1]["filename"] == "fer.csv" and listed["results"][1]["created_by"] == lead.username
    assert "skipped" not in listed["results"][0]  # the list carries counts, never the report's lists

    detail = api_client.get(f"/api/projects/{project.pk}/imports/{first.pk}/").json()
    assert detail["format"] == "fer2013" and detail["skip_reasons"] == [{"code": "bad_pixels", "count": 7}, {"code": "bad_emotion", "count": 1}]
    page = api_client.get(f"/api/projects/{project.pk}/imports/{first.pk}/entries/", {"list": "skipped", "limit": 3, "offset": 6}).json()
    assert page["count"] == page["total"] == 8 and len(page["results"]) == 2
    assert page["results"][1]["code"] == "bad_emotion" and page["results"][1]["reason"].startswith("row 11 (line 13)")
    only = api_client.get(f"/api/projects/{project.pk}/imports/{first.pk}/entries/", {"list": "skipped", "code": "bad_emotion"}).json()
    assert only["count"] == 1 and only["total"] == 8

    summary = api_client.get(f"/api/projects/{project.pk}/imports/{second.pk}/").json()
    assert summary["counts"]["imported"] == 3 and summary["counts"]["gold"] == 3 and summary["counts"]["near_duplicates"] == 1
    assert summary["options"]["cropped"] is True and summary["counts"]["skipped"] == 1
    near = api_client.get(f"/api/projects/{project.pk}/imports/{second.pk}/entries/", {"list": "near_duplicates"}).json()
    (entry,) = near["results"]
    assert entry["where"] == "file 'happy/a-edited.png'" and entry["distance"] <= 4
    assert entry["face"]["image"] == f"/api/items/{entry['item']}/image" and entry["face"]["excluded"] is False
    assert entry["similar_face"]["gold_label"] == "happiness" and entry["similar_face"]["id"] == entry["similar_item"]
    assert api_client.get(entry["face"]["image"]).status_code == 200

    bad_list = api_client.get(f"/api/projects/{project.pk}/imports/{second.pk}/entries/", {"list": "everything"})
    assert bad_list.status_code == 400


def test_excluding_a_near_duplicate_records_one_review_and_an_audit_event(
    make_project, make_user, api_client, tmp_path, django_capture_on_commit_callbacks,
):
    project, lead, annotators = make_project(annotators=1)
    api_client.force_authenticate(lead)
    job = post_import(api_client, project, near_duplicate_zip(tmp_path / "faces.zip"), django_capture_on_commit_callbacks, cropped="true")
    entry = job.result["near_duplicates"][0]
    url = f"/api/projects/{project.pk}/imports/{job.pk}/near-duplicates/{entry['item']}/exclude/"

    response = api_client.post(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["excluded"] is True and body["already"] is False
    review = Review.objects.get(pk=body["review"])
    assert review.action == "exclude" and review.reviewer == lead and review.item_id == entry["item"]
    assert f"near duplicate of item {entry['similar_item']}" in review.note
    assert Item.objects.get(pk=entry["item"]).excluded and not Item.objects.get(pk=entry["similar_item"]).excluded
    event = AuditEvent.objects.get(action="item.excluded_as_near_duplicate")
    assert event.actor == lead and event.target == f"item:{entry['item']}"
    assert event.details["similar_item"] == entry["similar_item"] and event.details["review"] == review.pk

    again = api_client.post(url).json()
    assert again == {"item": entry["item"], "excluded": True, "review": None, "already": True}
    assert Review.objects.count() == 1 and AuditEvent.objects.filter(action="item.excluded_as_near_duplicate").count() == 1
    row = api_client.get(f"/api/projects/{project.pk}/imports/{job.pk}/entries/", {"list": "near_duplicates"}).json()["results"][0]
    assert row["face"]["excluded"] is True

    not_reported = f"/api/projects/{project.pk}/imports/{job.pk}/near-duplicates/{entry['similar_item']}/exclude/"
    assert api_client.post(not_reported).status_code == 404
    api_client.force_authenticate(annotators[0])
    assert api_client.post(url).status_code == 403
    assert api_client.get(f"/api/projects/{project.pk}/imports/{job.pk}/").status_code == 403
    other, other_lead, _ = make_project()
    api_client.force_authenticate(other_lead)
    assert api_client.get(f"/api/projects/{other.pk}/imports/{job.pk}/").status_code == 404  # not this project's import
    assert api_client.get(f"/api/projects/{project.pk}/imports/").status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(f"/api/projects/{project.pk}/imports/").status_code == 401


def test_the_command_takes_the_same_options(make_project, tmp_path, capsys):
    project, _, _ = make_project()
    rows = fer_rows(3)
    rows[0][2] = ""
    path = write_fer2013(tmp_path / "fer.csv", rows)
    call_command("import_faces", str(path), project=project.slug, gold_from_reference=True, split="Holdout")
    assert "marked gold       3" in capsys.readouterr().out
    assert Item.objects.filter(project=project, is_gold=True).count() == 3
    assert Item.objects.get(project=project, source_row=0).split == "Holdout"
    event = AuditEvent.objects.get(action="import.started")
    assert event.actor is None and event.details["options"]["gold_from_reference"] is True and event.details["size"] == path.stat().st_size
    with pytest.raises(CommandError, match="choose one of the two options"):
        call_command("import_faces", str(path), project=project.slug, gold_from_reference=True, labels_as_answers=True)
