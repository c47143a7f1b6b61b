"""API: pre-labelling, quality runs and their item and annotator results (ML leads only)."""
from django.db import transaction
from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.exceptions import ValidationFailed
from annotate.api.jobs import JobOutput
from annotate.models import JobKind
from annotate.selectors.quality import (
    ITEM_SORTS, quality_annotator_result_count, quality_annotator_results_json, quality_item_results, quality_run_get, quality_runs_for_project,
)
from annotate.services.jobs import job_start_once

MAX_PAGE = 500


class QualityRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    job = serializers.IntegerField(source="job_id", allow_null=True)
    model_version = serializers.CharField(source="model_version.name", allow_null=True, default=None)
    probability_source = serializers.CharField()
    annotation_watermark = serializers.IntegerField()
    annotation_count = serializers.IntegerField()
    annotations_sha256 = serializers.CharField()
    prediction_count = serializers.IntegerField()
    params = serializers.JSONField()
    summary = serializers.JSONField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class QualityRunListOutput(QualityRunOutput):
    summary = None  # the list stays light; GET quality-runs/<id>/ has the summary


class ItemResultOutput(serializers.Serializer):
    item = serializers.IntegerField(source="item_id")
    image_url = serializers.SerializerMethodField()
    split = serializers.CharField(source="item.split")
    source = serializers.CharField(source="item.source")
    reference_label = serializers.CharField(source="item.reference_label")
    is_gold = serializers.BooleanField(source="item.is_gold")
    gold_label = serializers.CharField(source="item.gold_label")
    num_answers = serializers.IntegerField()
    votes = serializers.JSONField()
    consensus_label = serializers.CharField()
    consensus_quality = serializers.FloatField(allow_null=True)
    label_quality = serializers.FloatField(allow_null=True)
    label_issue = serializers.BooleanField()
    active_learning_score = serializers.FloatField(allow_null=True)
    model_label = serializers.CharField()
    model_confidence = serializers.FloatField(allow_null=True)

    def get_image_url(self, result) -> str | None:
        return None if result.item.erased_at else reverse("api-item-image", args=[result.item_id])  # erased: no image


class ItemResultPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = ItemResultOutput(many=True)


class AnnotatorResultOutput(serializers.Serializer):
    annotator = serializers.IntegerField(source="annotator_id")
    username = serializers.CharField(source="annotator.username")
    num_answers = serializers.IntegerField()
    quality = serializers.FloatField(allow_null=True, help_text="crowdlab_quality * (1 - bias); the ranking.")
    crowdlab_quality = serializers.FloatField(allow_null=True)
    bias = serializers.FloatField(allow_null=True)
    bias_from = serializers.CharField()
    bias_to = serializers.CharField()
    agreement = serializers.FloatField(allow_null=True)
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_answers = serializers.IntegerField()
    worst_class = serializers.CharField()
    confusion = serializers.JSONField()
    evidence = serializers.DictField(
        child=serializers.IntegerField(), allow_null=True,
        help_text="What stands behind quality: {shared_items (co-annotated faces), model_items, model_agree}; null for runs "
                  "from before it was recorded. Quality is null without a co-annotated face.")


class ItemResultQuery(serializers.Serializer):
    label = serializers.CharField(required=False)
    label_issue = serializers.BooleanField(required=False, allow_null=True, default=None)
    split = serializers.CharField(required=False)
    annotator = serializers.IntegerField(required=False)
    confused = serializers.CharField(required=False, help_text="consensus,answer e.g. sadness,neutral")
    sort = serializers.ChoiceField(choices=list(ITEM_SORTS), default="consensus_quality")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=50)
    offset = serializers.IntegerField(min_value=0, default=0)


class QualityRunStartInput(serializers.Serializer):
    issue_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)


def _run_for_lead(request, run_id: int):
    run = quality_run_get(run_id=run_id)
    access_project_as_lead(user=request.user, project_id=run.project_id)
    return run


class PrelabelApi(APIView):
    @extend_schema(request=None, responses={202: JobOutput}, summary="Score the project's items with the active model (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        with transaction.atomic():
            job = job_start_once(kind=JobKind.PRELABEL, project=project, created_by=request.user)
        job.refresh_from_db()
        return Response(JobOutput(job).data, status=202)


class QualityRunListApi(APIView):
    @extend_schema(responses=QualityRunListOutput(many=True), summary="The project's quality runs, newest first (leads)")
    def get(self, request, project_id: int):
        access_project_as_lead(user=request.user, project_id=project_id)
        return Response(QualityRunListOutput(quality_runs_for_project(project_id=project_id)[:100], many=True).data)

    @extend_schema(request=QualityRunStartInput, responses={202: JobOutput}, summary="Start a quality run (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = QualityRunStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            job = job_start_once(kind=JobKind.ANALYSE, project=project, created_by=request.user, params=dict(data.validated_data))
        job.refresh_from_db()
        return Response(JobOutput(job).data, status=202)


class QualityRunDetailApi(APIView):
    @extend_schema(responses=QualityRunOutput, summary="One quality run with its summary (leads)")
    def get(self, request, run_id: int):
        return Response(QualityRunOutput(_run_for_lead(request, run_id)).data)


class QualityRunItemsApi(APIView):
    @extend_schema(parameters=[ItemResultQuery], responses=ItemResultPageOutput, summary="A run's item results: filter, sort, page (leads)")
    def get(self, request, run_id: int):
        run = _run_for_lead(request, run_id)
        query = ItemResultQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        confused = None
        if q.get("confused"):
            parts = [p.strip() for p in q["confused"].split(",")]
            if len(parts) != 2 or not all(parts):
                raise ValidationFailed("confused takes two labels: consensus,answer.", code="invalid_confused")
            confused = (parts[0], parts[1])
        results = quality_item_results(
            run=run, label=q.get("label"), label_issue=q.get("label_issue"), split=q.get("split"),
            annotator_id=q.get("annotator"), confused=confused, sort=q["sort"],
        )
        page = list(results[q["offset"]:q["offset"] + q["limit"]])
        body = {"count": results.count(), "limit": q["limit"], "offset": q["offset"], "results": page}
        return Response(ItemResultPageOutput(body).data)


# Rows per page of a run's annotator results (a list body, paged by headers as GitHub's API pages its lists).
ANNOTATOR_RESULTS_MAX = 1000


class AnnotatorResultQuery(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0, help_text="Rows to skip")
    limit = serializers.IntegerField(min_value=1, max_value=ANNOTATOR_RESULTS_MAX, default=ANNOTATOR_RESULTS_MAX,
                                     help_text=f"Rows (1..{ANNOTATOR_RESULTS_MAX:,}, default {ANNOTATOR_RESULTS_MAX:,})")


class QualityRunAnnotatorsApi(APIView):
    @extend_schema(parameters=[AnnotatorResultQuery], responses=AnnotatorResultOutput(many=True),
                   summary="A run's annotator results, lowest quality first, a page at a time: X-Total-Count and a Link "
                           "header with rel=next say what follows (leads)")
    def get(self, request, run_id: int):
        run = _run_for_lead(request, run_id)
        query = AnnotatorResultQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        offset, limit = query.validated_data["offset"], query.validated_data["limit"]
        # The body is written whole by the database (each row carries its confusion matrix: 5.7 MB at 10,000
        # annotators, 280 ms), not rows encoded by the renderer; a page of a thousand is a tenth of that.
        response = HttpResponse(quality_annotator_results_json(run=run, offset=offset, limit=limit), content_type="application/json")
        total = quality_annotator_result_count(run=run)
        response["X-Total-Count"] = str(total)
        if offset + limit < total:
            url = request.build_absolute_uri(request.path)
            response["Link"] = f'<{url}?offset={offset + limit}&limit={limit}>; rel="next"'
        return response


urlpatterns = [
    path("projects/<int:project_id>/prelabel/", PrelabelApi.as_view(), name="api-project-prelabel"),
    path("projects/<int:project_id>/quality-runs/", QualityRunListApi.as_view(), name="api-quality-runs"),
    path("quality-runs/<int:run_id>/", QualityRunDetailApi.as_view(), name="api-quality-run"),
    path("quality-runs/<int:run_id>/items/", QualityRunItemsApi.as_view(), name="api-quality-run-items"),
    path("quality-runs/<int:run_id>/annotators/", QualityRunAnnotatorsApi.as_view(), name="api-quality-run-annotators"),
]
