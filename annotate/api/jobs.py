"""API: a project's background jobs (ML leads): list, start by kind, read one, cancel."""
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_job_as_lead, access_project_as_lead
from annotate.exceptions import ValidationFailed
from annotate.models import JobKind, JobStatus
from annotate.selectors.jobs import job_output, jobs_for_project
from annotate.selectors.run_numbers import quality_run_numbers
from annotate.services.jobs import job_cancel, job_start_once

MAX_PAGE = 100


class JobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id", allow_null=True)
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    status = serializers.CharField()
    stage = serializers.CharField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    progress = serializers.FloatField()
    attempts = serializers.IntegerField()
    queue = serializers.CharField()
    worker = serializers.CharField()
    params = serializers.JSONField()
    result = serializers.JSONField()
    error = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    cancel_requested_at = serializers.DateTimeField(allow_null=True)
    cancelled_by = serializers.CharField(source="cancelled_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    output = serializers.SerializerMethodField(help_text="What a succeeded job produced: {label, url}, else null.")

    def get_output(self, job) -> dict | None:
        return job_output(job=job, run_numbers=self.context.get("run_numbers"))


class JobPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = JobOutput(many=True)


class JobListQuery(serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=20)
    offset = serializers.IntegerField(min_value=0, default=0)


# Kinds a lead may start by name here; imports need an upload (POST .../imports/), health checks are internal.
API_KINDS = [JobKind.PRELABEL, JobKind.ANALYSE]
# Parameters that exist for tests and benchmarks, not for people.
INTERNAL_PARAMS = {"test_delay_seconds", "trigger"}


class JobStartInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[(k, JobKind(k).label) for k in API_KINDS])
    params = serializers.DictField(required=False, default=dict, help_text="The kind's options, e.g. {\"issue_threshold\": 0.4}.")

    def validate_params(self, params: dict) -> dict:
        internal = sorted(set(params) & INTERNAL_PARAMS)
        if internal:
            raise serializers.ValidationError(f"{', '.join(internal)} cannot be set here.")
        return params


class ProjectJobsApi(APIView):
    @extend_schema(parameters=[JobListQuery], responses=JobPageOutput, summary="The project's jobs, newest first (leads)")
    def get(self, request, project_id: int):
        access_project_as_lead(user=request.user, project_id=project_id)
        query = JobListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        jobs = jobs_for_project(project_id=project_id, kind=q.get("kind"), status=q.get("status"))
        page = list(jobs[q["offset"]:q["offset"] + q["limit"]])
        # Run numbers for every analyse job's output in one query, not two per row.
        numbers = quality_run_numbers(project_id=project_id) if any(job.kind == JobKind.ANALYSE for job in page) else None
        return Response(JobPageOutput({"count": jobs.count(), "limit": q["limit"], "offset": q["offset"], "results": page},
                                      context={"run_numbers": numbers}).data)

    @extend_schema(request=JobStartInput, responses={202: JobOutput}, summary="Start a job of a kind with its options (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = JobStartInput(data=request.data)
        if not data.is_valid():
            kind = request.data.get("kind") if hasattr(request.data, "get") else None
            if kind is not None and kind not in API_KINDS:
                raise ValidationFailed(
                    f"Jobs of kind {kind!r} cannot be started here; one of {', '.join(API_KINDS)}"
                    + (" (imports: POST /api/projects/<id>/imports/ with the file)." if kind == JobKind.IMPORT else "."),
                    code="unknown_job_kind",
                )
            raise serializers.ValidationError(data.errors)
        with transaction.atomic():
            job = job_start_once(kind=data.validated_data["kind"], project=project, params=data.validated_data["params"],
                                 created_by=request.user)
        job.refresh_from_db()  # with in-process tasks the job has already run
        return Response(JobOutput(job).data, status=202)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutput, summary="A background job's state, progress and result (leads)")
    def get(self, request, job_id: int):
        return Response(JobOutput(access_job_as_lead(user=request.user, job_id=job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={202: JobOutput},
                   summary="Cancel a queued job, or ask a running one to stop at its next step (leads)")
    def post(self, request, job_id: int):
        job = job_cancel(job=access_job_as_lead(user=request.user, job_id=job_id), cancelled_by=request.user)
        return Response(JobOutput(job).data, status=202)


urlpatterns = [
    path("jobs/<int:job_id>/", JobDetailApi.as_view(), name="api-job"),
    path("jobs/<int:job_id>/cancel/", JobCancelApi.as_view(), name="api-job-cancel"),
    path("projects/<int:project_id>/jobs/", ProjectJobsApi.as_view(), name="api-project-jobs"),
]
