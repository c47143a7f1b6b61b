"""API: a dataset version's exports (ML leads): request one per format, list them with progress and links; downloads."""
from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, JsonResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_version_as_lead
from annotate.api.jobs import JobOutput
from annotate.downloads import RangeNotSatisfiable, byte_range, export_download_link, export_download_token_read
from annotate.exceptions import error_body
from annotate.models import Export, ExportFormat
from annotate.selectors.erasure import erasure_note, version_erased_count
from annotate.selectors.exports import exports_for_version
from annotate.services.exports import export_file_name, export_is_finished, export_request

CHUNK = 256 * 1024


class ExportRequestInput(serializers.Serializer):
    format = serializers.CharField(max_length=32, help_text=f"One of {', '.join(ExportFormat.values)}.")


class ExportOutput(serializers.Serializer):
    format = serializers.CharField()
    format_label = serializers.CharField()
    id = serializers.IntegerField(allow_null=True, help_text="The export; null while the format was never requested.")
    status = serializers.CharField(help_text="not_requested, queued, running, ready, failed or cancelled.")
    job = JobOutput(allow_null=True)
    file_name = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.CharField(allow_null=True, help_text="A signed link (no session needed) while it lasts.")
    download_expires_at = serializers.DateTimeField(allow_null=True)
    erased_items = serializers.IntegerField(allow_null=True, help_text="Erased faces of the version when the file was last "
                                            "built or stripped: their images are not in it (null: never requested).")


class ExportListOutput(serializers.Serializer):
    version = serializers.IntegerField()
    erased_faces = serializers.IntegerField(help_text="Faces of the version erased on request (images removed everywhere).")
    erased_note = serializers.CharField(help_text="The data card's section on them (empty when there are none).")
    results = ExportOutput(many=True)


def _export_view(request, export: Export | None, format: str) -> dict:
    """One format's row: the export, its job's state and progress, and a fresh link once it is ready."""
    out = {"format": format, "format_label": ExportFormat(format).label, "id": None, "status": "not_requested", "job": None,
           "file_name": None, "size": None, "sha256": None, "finished_at": None, "download_url": None, "download_expires_at": None,
           "erased_items": None}
    if export is None:
        return out
    job = export.job
    out.update(id=export.pk, job=job, status=job.status if job is not None else "not_requested", erased_items=export.erased_items)
    if export_is_finished(export=export):
        link, expires = export_download_link(export_id=export.pk, sha256=export.sha256)
        out.update(status="ready", file_name=export_file_name(export=export), size=export.size, sha256=export.sha256,
                   finished_at=export.finished_at, download_url=request.build_absolute_uri(link), download_expires_at=expires)
    return out


class VersionExportsApi(APIView):
    @extend_schema(responses=ExportListOutput, summary="Each format's export of a version, with progress and download links (leads)")
    def get(self, request, version_id: int):
        version = access_version_as_lead(user=request.user, version_id=version_id)
        exports = exports_for_version(version=version)
        results = [_export_view(request, exports.get(format), format) for format in ExportFormat.values]
        erased = version_erased_count(version_id=version.pk)
        return Response(ExportListOutput({"version": version.pk, "erased_faces": erased, "erased_note": erasure_note(erased=erased),
                                          "results": results}).data)

    @extend_schema(request=ExportRequestInput, responses={202: ExportOutput},
                   summary="Build a version's export in a format (leads); a running or finished one is returned as is")
    def post(self, request, version_id: int):
        version = access_version_as_lead(user=request.user, version_id=version_id)
        data = ExportRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            export = export_request(version=version, format=data.validated_data["format"], created_by=request.user)
        export = Export.objects.select_related("job", "job__created_by", "job__cancelled_by", "version__project").get(pk=export.pk)
        return Response(ExportOutput(_export_view(request, export, export.format)).data, status=202)


class _Slice:
    """A file object's bytes first..last, read in chunks (FileResponse streams it and closes the file)."""

    def __init__(self, handle, *, first: int, last: int):
        self.handle, self.left = handle, last - first + 1
        handle.seek(first)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.handle.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def _error(status: int, code: str, message: str, **headers) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@require_http_methods(["GET", "HEAD"])
def export_download(request, token: str):
    """A finished export behind a signed link, whole or one byte range (resumable), streamed from storage."""
    try:
        export_id, sha256 = export_download_token_read(token=token)
    except signing.SignatureExpired:
        return _error(410, "link_expired", "This download link has expired; ask the version's page or API for a new one.")
    except (signing.BadSignature, ValueError, TypeError):
        return _error(403, "bad_link", "This download link is not valid.")
    export = Export.objects.select_related("version__project").filter(pk=export_id, sha256=sha256).exclude(file="").first()
    if export is None or not default_storage.exists(export.file):
        return _error(404, "export_gone", "This export is no longer stored.")
    size, etag = export.size, f'"{export.sha256}"'
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the file changed since the client's partial copy: send it whole
    try:
        span = byte_range(wanted, size=size)
    except RangeNotSatisfiable as exc:
        return _error(416, "range_not_satisfiable", f"{exc}.", Content_Range=f"bytes */{size}", Accept_Ranges="bytes")
    first, last = span or (0, size - 1)
    handle = default_storage.open(export.file, "rb")
    response = FileResponse(_Slice(handle, first=first, last=last), status=206 if span else 200,
                            content_type="application/zip", as_attachment=True, filename=export_file_name(export=export))
    response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    if span:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    patch_cache_control(response, private=True, max_age=3600)
    return response


urlpatterns = [
    path("versions/<int:version_id>/exports/", VersionExportsApi.as_view(), name="api-version-exports"),
    path("downloads/<str:token>", export_download, name="export-download"),
]
