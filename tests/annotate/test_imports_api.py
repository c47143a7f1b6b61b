"""Import over the API (leads only, a job with the report) and through the import_faces command."""
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotate.models import Item, Job
from tests.annotate.imports_support import SAMPLE, fer_rows, make_zip, photo, DETECTABLE_ROWS, write_fer2013


def upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


@pytest.mark.django_db
def test_a_lead_uploads_a_csv_and_the_job_holds_the_report(make_project, api_client, tmp_path, django_capture_on_commit_callbacks):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    path = write_fer2013(tmp_path / "fer2013.csv", fer_rows(12) + [["7", "1 2 3", "Training"]])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path)}, format="multipart")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "import" and body["url"] == f"/api/jobs/{body['id']}/"
    job = Job.objects.get(pk=body["id"])
    assert job.status == "succeeded" and job.created_by == lead and job.project == project
    assert job.result["imported"] == 12 and job.result["skipped_count"] == 1
    assert job.result["skipped"][0]["reason"].startswith("row 12 (line 14)")
    assert job.progress_done == job.progress_total == 13
    assert Item.objects.filter(project=project).count() == 12
    assert not (Path(settings.MEDIA_ROOT) / job.params["upload"]).exists()  # the upload is removed once imported
    assert job.params["upload"].startswith("uploads/")


@pytest.mark.django_db
def test_upload_options_reach_the_import(make_project, api_client, tmp_path, django_capture_on_commit_callbacks):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    archive = make_zip(tmp_path / "faces.zip", {"happy/a.jpg": photo(DETECTABLE_ROWS[0])})
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/imports/",
                                   {"file": upload(archive), "format": "images", "cropped": "true"}, format="multipart")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.params["cropped"] is True and job.result["imported"] == 1


@pytest.mark.django_db
def test_annotators_may_not_import_and_outsiders_do_not_see_the_project(make_project, make_user, api_client, tmp_path):
    project, _, annotators = make_project(annotators=1)
    path = write_fer2013(tmp_path / "fer.csv", fer_rows(1))
    api_client.force_authenticate(annotators[0])
    response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path)}, format="multipart")
    assert response.status_code == 403 and response.json()["error"]["code"] == "lead_only"
    api_client.force_authenticate(make_user())
    response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path)}, format="multipart")
    assert response.status_code == 404
    api_client.force_authenticate(None)
    assert api_client.post(f"/api/projects/{project.pk}/imports/", {}, format="multipart").status_code == 401
    assert not Job.objects.exists() and not Item.objects.exists()


@pytest.mark.django_db
def test_an_unreadable_upload_fails_the_job_with_its_reason(make_project, api_client, tmp_path, django_capture_on_commit_callbacks):
    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    path = write_fer2013(tmp_path / "x.csv", [["a", "b"]], header=("foo", "bar"))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path)}, format="multipart")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and "cannot tell the format" in job.error
    assert job.result["ok"] is False and job.result["error"] == job.error
    bad = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path), "format": "xml"}, format="multipart")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


def test_a_real_worker_runs_the_uploaded_import(celery_worker, make_project, api_client, tmp_path):
    import time

    project, lead, _ = make_project()
    api_client.force_authenticate(lead)
    path = write_fer2013(tmp_path / "fer.csv", fer_rows(5))
    response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload(path)}, format="multipart")
    assert response.json()["status"] == "queued"
    deadline = time.monotonic() + 60
    job = Job.objects.get(pk=response.json()["id"])
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.result["imported"] == 5 and Item.objects.filter(project=project).count() == 5


@pytest.mark.django_db
def test_the_command_prints_the_report_and_fails_when_nothing_imports(make_project, tmp_path, capsys):
    project, _, _ = make_project()
    call_command("import_faces", str(SAMPLE / "fer2013_sample.csv"), project=project.slug)
    call_command("import_faces", str(SAMPLE / "fer2013new_sample.csv"), project=project.slug, format="ferplus")
    out = capsys.readouterr().out
    assert "imported          300" in out and "items updated     300" in out
    bad = write_fer2013(tmp_path / "bad.csv", [["0", "1 2 3", "Training"]])
    with pytest.raises(CommandError, match="nothing could be imported"):
        call_command("import_faces", str(bad), project=project.slug)
    out = capsys.readouterr().out
    assert "row 0 (line 2): pixels has 3 values, expected 2304" in out
    with pytest.raises(CommandError, match="No project"):
        call_command("import_faces", str(bad), project="no-such-project")
