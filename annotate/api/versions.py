"""API: a project's dataset versions (ML leads): preview a policy, freeze, list, read one, diff two."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead, access_version_as_lead
from annotate.exceptions import ValidationFailed
from annotate.selectors.erasure import version_data_card, version_erased_count
from annotate.selectors.run_numbers import quality_run_number_of
from annotate.selectors.versions import version_previous, versions_for_project
from annotate.selectors.version_diff import version_diff
from annotate.services.versions import version_freeze, version_preview


class PolicyInput(serializers.Serializer):
    min_consensus_quality = serializers.FloatField(min_value=0, max_value=1, required=False)
    min_answers = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    exclude_unreviewed_issues = serializers.BooleanField(required=False)
    exclude_labels = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=50)
    exclude_lead_excluded = serializers.BooleanField(required=False)
    exclude_flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=50)
    use_reference = serializers.BooleanField(required=False)
    labels_from = serializers.CharField(required=False, max_length=200,
                                        help_text="curated (default); reference: every face keeps the label it was imported "
                                                  "with; annotator:<username>: every face takes that person's answer (baselines)")
    split = serializers.ChoiceField(choices=["keep", "stratified"], required=False)
    split_seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    split_fractions = serializers.ListField(child=serializers.FloatField(min_value=0, max_value=1), min_length=3, max_length=3,
                                            required=False, help_text="train, validation, test (stratified only)")


class FreezeInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    policy = PolicyInput(required=False, default=dict)


class PreviewInput(serializers.Serializer):
    policy = PolicyInput(required=False, default=dict)


class VersionListOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    number = serializers.IntegerField()
    name = serializers.CharField()
    item_count = serializers.IntegerField()
    sha256 = serializers.CharField()
    policy = serializers.JSONField()
    quality_run = serializers.IntegerField(source="quality_run_id", allow_null=True)
    quality_run_number = serializers.SerializerMethodField(help_text="The quality run's number in the project (run #N).")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()

    def get_quality_run_number(self, version) -> int | None:
        return quality_run_number_of(run_id=version.quality_run_id)


class VersionOutput(VersionListOutput):
    annotation_watermark = serializers.IntegerField()
    review_watermark = serializers.IntegerField()
    stats = serializers.JSONField()
    data_card = serializers.SerializerMethodField(help_text="The frozen card, with a section on faces erased since (if any).")
    erased_faces = serializers.SerializerMethodField(help_text="Faces erased on request: labels kept, images removed everywhere.")

    def get_data_card(self, version) -> str:
        return version_data_card(version=version)

    def get_erased_faces(self, version) -> int:
        return version_erased_count(version_id=version.pk)


class DiffQuery(serializers.Serializer):
    against = serializers.IntegerField(required=False, help_text="The older version's id (default: the one before).")


class ProjectVersionsApi(APIView):
    @extend_schema(responses=VersionListOutput(many=True), summary="The project's dataset versions, newest first (leads)")
    def get(self, request, project_id: int):
        access_project_as_lead(user=request.user, project_id=project_id)
        return Response(VersionListOutput(versions_for_project(project_id=project_id), many=True).data)

    @extend_schema(request=FreezeInput, responses={201: VersionOutput, 200: VersionOutput},
                   summary="Freeze a version under a label policy; an identical one is returned as it is (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = FreezeInput(data=request.data)
        data.is_valid(raise_exception=True)
        version, created = version_freeze(project=project, policy=data.validated_data["policy"],
                                          name=data.validated_data["name"], created_by=request.user)
        return Response(VersionOutput(version).data, status=201 if created else 200)


class VersionPreviewApi(APIView):
    @extend_schema(request=PreviewInput, responses={200: dict}, summary="What freezing now would give (leads; writes nothing)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(version_preview(project=project, policy=data.validated_data["policy"]))


class VersionDetailApi(APIView):
    @extend_schema(responses=VersionOutput, summary="One dataset version with its counts and data card (leads)")
    def get(self, request, version_id: int):
        return Response(VersionOutput(access_version_as_lead(user=request.user, version_id=version_id)).data)


class VersionDiffApi(APIView):
    @extend_schema(parameters=[DiffQuery], responses={200: dict}, summary="What changed since another version (leads)")
    def get(self, request, version_id: int):
        new = access_version_as_lead(user=request.user, version_id=version_id)
        query = DiffQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "against" in query.validated_data:
            old = access_version_as_lead(user=request.user, version_id=query.validated_data["against"])
        else:
            old = version_previous(version=new)
            if old is None:
                raise ValidationFailed("This is the project's first version: there is nothing to compare it with.", code="no_previous")
        return Response(version_diff(old=old, new=new))


urlpatterns = [
    path("projects/<int:project_id>/versions/", ProjectVersionsApi.as_view(), name="api-project-versions"),
    path("projects/<int:project_id>/versions/preview/", VersionPreviewApi.as_view(), name="api-project-version-preview"),
    path("versions/<int:version_id>/", VersionDetailApi.as_view(), name="api-version"),
    path("versions/<int:version_id>/diff/", VersionDiffApi.as_view(), name="api-version-diff"),
]
