"""API: upload a file to import into a project (leads only); the import runs as a background job."""
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.services.imports import FORMATS, import_job_create


class ImportCreateInput(serializers.Serializer):
    file = serializers.FileField(help_text="fer2013.csv, fer2013new.csv (FER+ votes), a zip of images, or one image.")
    format = serializers.ChoiceField(choices=FORMATS, default="auto")
    labels_as_answers = serializers.BooleanField(default=False, help_text="fer2013: labels become answers of `fer2013-original`.")
    votes_as_answers = serializers.BooleanField(default=False, help_text="FER+: votes become answers of ten crowd accounts.")
    cropped = serializers.BooleanField(default=False, help_text="Images are face crops already: no face detection.")


class ImportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    params = serializers.JSONField()
    url = serializers.SerializerMethodField()

    def get_url(self, job) -> str:
        return f"/api/jobs/{job.pk}/"


class ImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

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


urlpatterns = [
    path("projects/<int:project_id>/imports/", ImportCreateApi.as_view(), name="api-project-imports"),
]
