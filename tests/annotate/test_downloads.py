"""The exports API and signed downloads: leads only, each format's state, whole files, byte ranges, expired and forged links."""
import hashlib
import time

import pytest
from django.core import signing
from django.core.files.storage import default_storage

from annotate.downloads import LINK_MAX_AGE, RangeNotSatisfiable, byte_range
from annotate.models import Export, ExportFormat, Job, Role
from annotate.services.projects import membership_set
from tests.annotate.exports_support import version_make


@pytest.fixture
def version(make_project):
    project, lead, (annotator,) = make_project(annotators=1)
    return version_make(project, faces_wanted=30), lead, annotator


@pytest.fixture
def finished(version, api_client, django_capture_on_commit_callbacks):
    """A finished jsonl export of the version, requested through the API by its lead: (export, download url, bytes)."""
    version, lead, _ = version
    api_client.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/versions/{version.pk}/exports/", {"format": "jsonl"}, format="json")
    assert response.status_code == 202, response.content
    body = api_client.get(f"/api/versions/{version.pk}/exports/").json()
    row = next(r for r in body["results"] if r["format"] == "jsonl")
    export = Export.objects.get(pk=row["id"])
    api_client.force_authenticate(None)
    return export, row["download_url"], default_storage.open(export.file).read()


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- the API ---------------------------------------------------------------------------------------------

def test_a_lead_requests_an_export_and_sees_every_format_with_its_job(version, api_client, django_capture_on_commit_callbacks):
    version, lead, _ = version
    api_client.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(f"/api/versions/{version.pk}/exports/", {"format": "parquet"}, format="json")
        again = api_client.post(f"/api/versions/{version.pk}/exports/", {"format": "parquet"}, format="json")
    assert response.status_code == again.status_code == 202
    body = response.json()
    assert body["format"] == "parquet" and body["status"] == "queued" and body["download_url"] is None
    assert body["job"]["kind"] == "export" and body["job"]["created_by"] == lead.username
    assert again.json()["id"] == body["id"] and again.json()["job"]["id"] == body["job"]["id"]  # the running one
    listed = api_client.get(f"/api/versions/{version.pk}/exports/").json()
    assert listed["version"] == version.pk and [r["format"] for r in listed["results"]] == list(ExportFormat.values)
    states = {r["format"]: r["status"] for r in listed["results"]}
    assert states.pop("parquet") == "queued" and set(states.values()) == {"not_requested"}


def test_a_finished_export_lists_its_size_hash_and_a_signed_link(finished):
    export, url, data = finished
    assert url.startswith("http://testserver/api/downloads/")
    assert export.size == len(data) and export.sha256 == hashlib.sha256(data).hexdigest()


def test_an_unknown_format_is_a_400_in_the_api_error_shape_and_changes_nothing(version, api_client):
    version, lead, _ = version
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/versions/{version.pk}/exports/", {"format": "xlsx"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_format"
    assert "fer2013-csv" in response.json()["error"]["message"]
    assert api_client.post(f"/api/versions/{version.pk}/exports/", {}, format="json").status_code == 400
    assert not Export.objects.exists() and not Job.objects.exists()


def test_only_the_versions_leads_see_or_request_its_exports(version, make_project, make_user, api_client):
    version, lead, annotator = version
    other_project, other_lead, _ = make_project(annotators=0)
    for user, status in ((annotator, 403), (other_lead, 404), (make_user(), 404)):
        api_client.force_authenticate(user)
        assert api_client.get(f"/api/versions/{version.pk}/exports/").status_code == status
        assert api_client.post(f"/api/versions/{version.pk}/exports/", {"format": "jsonl"}, format="json").status_code == status
    api_client.force_authenticate(None)
    assert api_client.get(f"/api/versions/{version.pk}/exports/").status_code == 401
    api_client.force_authenticate(other_lead)
    assert api_client.get("/api/versions/999999/exports/").status_code == 404
    membership_set(project=version.project, user=other_lead, role=Role.LEAD)  # made a lead of this project: now allowed
    assert api_client.get(f"/api/versions/{version.pk}/exports/").status_code == 200
    assert not Export.objects.exists()


# --- downloads -------------------------------------------------------------------------------------------

def test_a_download_streams_the_whole_file_with_its_headers(finished, client):
    export, url, data = finished
    response = client.get(url)
    assert response.status_code == 200 and _body(response) == data
    assert response["Content-Length"] == str(len(data)) and response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "application/zip" and response["ETag"] == f'"{export.sha256}"'
    assert f'filename="{export.version.project.slug}-v1-jsonl.zip"' in response["Content-Disposition"]
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(data))


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-10", 10, 10),
    ("bytes=5-999999999", 5, None),
])
def test_a_range_request_answers_206_with_those_bytes(finished, client, header, first, last):
    export, url, data = finished
    response = client.get(url, HTTP_RANGE=header)
    want = data[first:] if last is None else data[first:last + 1]
    assert response.status_code == 206 and _body(response) == want
    start = first % len(data)
    assert response["Content-Range"] == f"bytes {start}-{start + len(want) - 1}/{len(data)}"
    assert response["Content-Length"] == str(len(want))


def test_an_interrupted_download_resumes_where_it_stopped(finished, client):
    export, url, data = finished
    half = len(data) // 2
    first = _body(client.get(url, HTTP_RANGE=f"bytes=0-{half - 1}"))
    rest = client.get(url, HTTP_RANGE=f"bytes={half}-", HTTP_IF_RANGE=f'"{export.sha256}"')
    assert rest.status_code == 206 and first + _body(rest) == data
    changed = client.get(url, HTTP_RANGE=f"bytes={half}-", HTTP_IF_RANGE='"another-file"')
    assert changed.status_code == 200 and _body(changed) == data  # not the same file: start again


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=abc", "bytes=50-10", "bytes=-0", "bytes=-"])
def test_an_unsatisfiable_range_is_a_416_with_the_files_size(finished, client, header):
    export, url, data = finished
    response = client.get(url, HTTP_RANGE=header)
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(data)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


def test_other_units_and_several_ranges_get_the_whole_file(finished, client):
    export, url, data = finished
    for header in ("items=0-5", "bytes=0-5,10-20"):
        response = client.get(url, HTTP_RANGE=header)
        assert response.status_code == 200 and _body(response) == data


def test_an_expired_link_is_410_and_a_forged_one_403(finished, client, monkeypatch):
    export, url, data = finished
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() + LINK_MAX_AGE + 60)
    expired = client.get(url)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "link_expired"
    monkeypatch.setattr(signing.time, "time", real)
    token = url.rsplit("/", 1)[1]
    value, stamp, signature = token.rsplit(":", 2)
    for forged in (f"{value}:{stamp}:{signature[:-2]}xx", f"{signing.TimestampSigner(salt='x').sign_object([export.pk, export.sha256])}",
                   "not-a-token"):
        response = client.get(f"/api/downloads/{forged}")
        assert response.status_code == 403 and response.json()["error"]["code"] == "bad_link"
    other = signing.TimestampSigner(salt="ferlab.export-download").sign_object([export.pk, "0" * 64])
    assert client.get(f"/api/downloads/{other}").status_code == 404  # a signed link to a file that is not this one


def test_a_link_to_an_export_no_longer_stored_is_404(finished, client):
    export, url, data = finished
    default_storage.delete(export.file)
    response = client.get(url)
    assert response.status_code == 404 and response.json()["error"]["code"] == "export_gone"


@pytest.mark.parametrize("header, size, expected", [
    (None, 10, None), ("", 10, None), ("bytes=0-0", 10, (0, 0)), ("bytes=9-", 10, (9, 9)), ("bytes=-20", 10, (0, 9)),
    ("bytes=2-50", 10, (2, 9)), ("BYTES=1-2", 10, (1, 2)), ("pages=1-2", 10, None), ("bytes=1-2,4-5", 10, None),
])
def test_byte_range_reads_one_range_or_none(header, size, expected):
    assert byte_range(header, size=size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=3-2", "bytes=x-1", "bytes=-0", "bytes=", "bytes=1-2-3"])
def test_byte_range_refuses_what_no_file_of_ten_bytes_can_give(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, size=10)
