"""API: a project's model registry and training jobs (ML leads): train, score, compare, promote, roll back, download."""
import io
import zipfile

from django.db import transaction
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_membership_as_lead, access_model_version_as_lead, access_project_as_lead
from annotate.api.jobs import JobOutput
from annotate.selectors.registry import registry_compare, registry_overview, registry_version
from annotate.services.model_cards import model_card
from annotate.services.model_versions import model_version_local_path
from annotate.services.registry import (
    evaluation_set_choose, model_version_promote, model_version_roll_back, registry_evaluate_start,
)
from annotate.services.training import training_options, training_start


class TrainingInput(serializers.Serializer):
    dataset_version = serializers.IntegerField()
    targets = serializers.CharField(required=False, help_text="soft (vote distributions) or hard (final labels)")
    start = serializers.CharField(required=False, help_text="scratch, or finetune (the project's active model)")
    epochs = serializers.JSONField(required=False)
    lr = serializers.JSONField(required=False)
    batch_size = serializers.JSONField(required=False)
    weight_decay = serializers.JSONField(required=False)
    label_smoothing = serializers.JSONField(required=False)
    dropout = serializers.JSONField(required=False)
    augment = serializers.JSONField(required=False)
    seed = serializers.JSONField(required=False)
    device = serializers.CharField(required=False, help_text="auto (a GPU where the worker has one), cpu or cuda")


class EvaluationSetInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["split", "gold"])
    split = serializers.CharField(required=False, allow_null=True, max_length=32)


def _registry_data(project) -> dict:
    data = registry_overview(project=project)
    data["trainings"] = JobOutput(data["trainings"], many=True).data
    return data


class TrainingOptionsApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The training form's defaults, limits and choices (leads)")
    def get(self, request, project_id: int):
        access_project_as_lead(user=request.user, project_id=project_id)
        return Response(training_options())


class TrainingsApi(APIView):
    @extend_schema(request=TrainingInput, responses={202: JobOutput},
                   summary="Train a model version on a dataset version (leads); a `train` job on the ml queue")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = TrainingInput(data=request.data)
        data.is_valid(raise_exception=True)
        options = {k: v for k, v in data.validated_data.items() if k != "dataset_version"}
        job = training_start(project=project, version_id=data.validated_data["dataset_version"], options=options,
                             created_by=request.user)
        job.refresh_from_db()
        return Response(JobOutput(job).data, status=202)


class RegistryApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Every model version with its figures on the evaluation set (leads)")
    def get(self, request, project_id: int):
        return Response(_registry_data(access_project_as_lead(user=request.user, project_id=project_id)))


class EvaluationSetApi(APIView):
    @extend_schema(request=EvaluationSetInput, responses=OpenApiTypes.OBJECT,
                   summary="Choose the faces every model version is scored on, and score them (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = EvaluationSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = evaluation_set_choose(project=project, kind=data.validated_data["kind"], split=data.validated_data.get("split"),
                                    by=request.user)
        job.refresh_from_db()
        project.refresh_from_db()
        return Response({"evaluation_set": registry_overview(project=project)["evaluation_set"], "job": JobOutput(job).data})


class EvaluateApi(APIView):
    @extend_schema(request=None, responses={202: JobOutput},
                   summary="Take the evaluation set's truth now and score every version on it (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        with transaction.atomic():
            job = registry_evaluate_start(project=project, created_by=request.user)
        job.refresh_from_db()
        return Response(JobOutput(job).data, status=202)


class PromoteApi(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Make a version the project's pre-labeller; starts pre-labelling, then a quality run (leads)")
    def post(self, request, project_id: int, model_version_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        version = registry_version(project=project, model_version_id=model_version_id)
        job = model_version_promote(project=project, model_version=version, by=request.user)
        return Response({"active": version.pk, "prelabel_job": job.pk})


class RollBackApi(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Return to the version active before the latest promotion (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        job = model_version_roll_back(project=project, by=request.user)
        job.refresh_from_db()
        return Response({"active": job.params["model_version"], "prelabel_job": job.pk})


class CompareQuery(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()


class CompareApi(APIView):
    @extend_schema(parameters=[CompareQuery], responses=OpenApiTypes.OBJECT,
                   summary="Two versions on the same evaluation set: per-class recall and the faces they disagree on (leads)")
    def get(self, request, project_id: int):
        membership = access_membership_as_lead(user=request.user, project_id=project_id)
        query = CompareQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(registry_compare(project=membership.project, a_id=query.validated_data["a"],
                                         b_id=query.validated_data["b"], holder=membership))


class ModelDownloadApi(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY},
                   summary="A model version's checkpoint with its model card, as a zip (leads of its project)")
    def get(self, request, model_version_id: int):
        version, project = access_model_version_as_lead(user=request.user, model_version_id=model_version_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.write(model_version_local_path(model_version=version), "checkpoint.pt")
            archive.writestr("MODEL_CARD.md", model_card(model_version=version, project=project))
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{version.name}.zip"'
        return response


urlpatterns = [
    path("projects/<int:project_id>/trainings/", TrainingsApi.as_view(), name="api-project-trainings"),
    path("projects/<int:project_id>/trainings/options/", TrainingOptionsApi.as_view(), name="api-project-training-options"),
    path("projects/<int:project_id>/models/", RegistryApi.as_view(), name="api-project-models"),
    path("projects/<int:project_id>/models/evaluation-set/", EvaluationSetApi.as_view(), name="api-project-evaluation-set"),
    path("projects/<int:project_id>/models/evaluate/", EvaluateApi.as_view(), name="api-project-models-evaluate"),
    path("projects/<int:project_id>/models/rollback/", RollBackApi.as_view(), name="api-project-models-rollback"),
    path("projects/<int:project_id>/models/compare/", CompareApi.as_view(), name="api-project-models-compare"),
    path("projects/<int:project_id>/models/<int:model_version_id>/promote/", PromoteApi.as_view(), name="api-project-model-promote"),
    path("model-versions/<int:model_version_id>/download/", ModelDownloadApi.as_view(), name="api-model-version-download"),
]
