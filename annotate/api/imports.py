"""API: upload a file to import into a project (leads only); the import runs as a background job whose report
is read here page by page, and whose near duplicates a lead can exclude."""
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_import_in_project, access_project_as_lead
from annotate.exceptions import NotFound
from annotate.selectors.imports import (
    COUNTS, REPORT_LISTS, import_report_counts, import_report_entries, import_skip_reasons, imports_for_project, near_duplicate_entry,
)
from annotate.services.import_reviews import near_duplicate_exclude
from annotate.services.imports import FORMATS, import_job_create

MAX_PAGE = 200


class ImportCreateInput(serializers.Serializer):
    file = serializers.FileField(help_text="fer2013.csv, fer2013new.csv (FER+ votes), a zip of images, or one image.")
    format = serializers.ChoiceField(choices=FORMATS, default="auto")
    labels_as_answers = serializers.BooleanField(default=False, help_text="fer2013: labels become answers of `fer2013-original`.")
    votes_as_answers = serializers.BooleanField(default=False, help_text="FER+: votes become answers of ten crowd accounts.")
    cropped = serializers.BooleanField(default=False, help_text="Images are face crops already: no face detection.")
    split = serializers.CharField(default="", allow_blank=True, max_length=32,
                                  help_text="Split of the faces whose file names none (the Usage column and train/ test/ folders win).")
    gold_from_reference = serializers.BooleanField(
        default=False, help_text="Every new face with a reference label (csv label, class folder) becomes gold with that label.")


class ImportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    params = serializers.JSONField()
    url = serializers.SerializerMethodField()

    def get_url(self, job) -> str:
        return f"/api/jobs/{job.pk}/"


OPTION_NAMES = ("format", "labels_as_answers", "votes_as_answers", "cropped", "split", "gold_from_reference")


class ImportSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    stage = serializers.CharField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    filename = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField(help_text="Bytes uploaded (null for imports started before sizes were kept).")
    options = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    error = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    cancelled_by = serializers.CharField(source="cancelled_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    job_url = serializers.SerializerMethodField()

    def get_filename(self, job) -> str:
        return job.params.get("filename", "")

    def get_size(self, job) -> int | None:
        return job.params.get("size")

    def get_options(self, job) -> dict:
        return {name: job.params.get(name, "" if name == "split" else "auto" if name == "format" else False) for name in OPTION_NAMES}

    def get_counts(self, job) -> dict:
        if hasattr(job, "count_imported"):  # annotated by imports_for_project
            return {name: getattr(job, f"count_{name}") for name in COUNTS}
        return import_report_counts(job=job)

    def get_job_url(self, job) -> str:
        return f"/api/jobs/{job.pk}/"


class ImportDetailOutput(ImportSummaryOutput):
    format = serializers.SerializerMethodField(help_text="The format the import read (auto resolved).")
    seconds = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    skip_reasons = serializers.SerializerMethodField()
    cleanup = serializers.SerializerMethodField(help_text="A cancelled import: what its cleanup removed and kept, else null.")

    def get_format(self, job) -> str:
        return (job.result or {}).get("format") or job.params.get("format", "auto")

    def get_seconds(self, job) -> float | None:
        return (job.result or {}).get("seconds")

    def get_notes(self, job) -> list[str]:
        return (job.result or {}).get("notes", [])

    def get_skip_reasons(self, job) -> list[dict]:
        return import_skip_reasons(job=job)

    def get_cleanup(self, job) -> dict | None:
        return (job.result or {}).get("cleanup")


class ImportPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = ImportSummaryOutput(many=True)


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=20)
    offset = serializers.IntegerField(min_value=0, default=0)


class EntriesQuery(PageQuery):
    list = serializers.ChoiceField(choices=REPORT_LISTS)
    code = serializers.CharField(required=False, default="", allow_blank=True, max_length=64, help_text="skipped: one reason code")


class EntriesOutput(serializers.Serializer):
    list = serializers.CharField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    code = serializers.CharField()
    count = serializers.IntegerField(help_text="Entries listed (after the code filter).")
    listed = serializers.IntegerField(help_text="Entries the report kept for this list.")
    total = serializers.IntegerField(help_text="Entries the import counted (the report lists at most 5,000).")
    results = serializers.ListField(child=serializers.DictField())


class ExcludeOutput(serializers.Serializer):
    item = serializers.IntegerField()
    excluded = serializers.BooleanField()
    review = serializers.IntegerField(allow_null=True, help_text="The review recorded; null when the face was excluded already.")
    already = serializers.BooleanField()


class ImportsApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=[PageQuery], responses=ImportPageOutput, operation_id="projects_imports_list",
                   summary="The project's imports, newest first, with their counts (leads)")
    def get(self, request, project_id: int):
        access_project_as_lead(user=request.user, project_id=project_id)
        query = PageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        jobs = imports_for_project(project_id=project_id)
        page = list(jobs[q["offset"]:q["offset"] + q["limit"]])
        return Response(ImportPageOutput({"count": jobs.count(), "limit": q["limit"], "offset": q["offset"], "results": page}).data)

    @extend_schema(
        request={"multipart/form-data": ImportCreateInput},
        responses={202: ImportJobOutput},
        summary="Upload a file to import (leads); poll the returned job for progress and the report",
    )
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = ImportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            job = import_job_create(project=project, upload=data.validated_data.pop("file"), created_by=request.user, **data.validated_data)
        job.refresh_from_db()  # with in-process tasks the import has already run
        return Response(ImportJobOutput(job).data, status=202)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportDetailOutput, summary="One import: its options, state, counts, notes and skip reasons (leads)")
    def get(self, request, project_id: int, job_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(ImportDetailOutput(access_import_in_project(project=project, job_id=job_id)).data)


class ImportEntriesApi(APIView):
    @extend_schema(parameters=[EntriesQuery], responses=EntriesOutput,
                   summary="A page of an import's skipped, duplicate or near-duplicate list, with the faces' state (leads)")
    def get(self, request, project_id: int, job_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        job = access_import_in_project(project=project, job_id=job_id)
        query = EntriesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        return Response(EntriesOutput(import_report_entries(job=job, name=q["list"], offset=q["offset"], limit=q["limit"], code=q["code"])).data)


class NearDuplicateExcludeApi(APIView):
    @extend_schema(request=None, responses=ExcludeOutput,
                   summary="Exclude a face the import reported as a near duplicate (a review, audited) (leads)")
    def post(self, request, project_id: int, job_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        job = access_import_in_project(project=project, job_id=job_id)
        entry = near_duplicate_entry(job=job, item_id=item_id)
        if entry is None:
            raise NotFound("This import reported no such near duplicate.")
        review, item = near_duplicate_exclude(job=job, entry=entry, reviewer=request.user)
        return Response(ExcludeOutput({"item": item.pk, "excluded": item.excluded, "review": review.pk if review else None,
                                       "already": review is None}).data)


urlpatterns = [
    path("projects/<int:project_id>/imports/", ImportsApi.as_view(), name="api-project-imports"),
    path("projects/<int:project_id>/imports/<int:job_id>/", ImportDetailApi.as_view(), name="api-project-import"),
    path("projects/<int:project_id>/imports/<int:job_id>/entries/", ImportEntriesApi.as_view(), name="api-project-import-entries"),
    path("projects/<int:project_id>/imports/<int:job_id>/near-duplicates/<int:item_id>/exclude/",
         NearDuplicateExcludeApi.as_view(), name="api-project-import-exclude"),
]
