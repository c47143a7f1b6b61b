"""API: preview a settings change before saving it, and read the project's audit log (leads)."""
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.api.projects import ProjectUpdateInput
from annotate.selectors.audit_log_entries import audit_log_page
from annotate.selectors.project_settings import project_settings_impact, project_settings_values
from annotate.services.projects import project_settings_validate


class EffectOutput(serializers.Serializer):
    field = serializers.CharField()
    level = serializers.ChoiceField(choices=["info", "warn", "blocked"])
    message = serializers.CharField()
    figures = serializers.DictField()


class PreviewOutput(serializers.Serializer):
    changes = serializers.DictField(help_text="{field: {before, after}} for each value that differs")
    effects = EffectOutput(many=True)
    blocked = serializers.BooleanField(help_text="Saving would be refused (a label in use removed or renamed)")


class SettingsPreviewApi(APIView):
    @extend_schema(request=ProjectUpdateInput, responses=PreviewOutput,
                   summary="What a settings change would do to work already done (leads); nothing is saved")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = ProjectUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        proposed = project_settings_values(project=project)
        proposed.update({k: v for k, v in data.validated_data.items() if v is not None})
        project_settings_validate(values=proposed)
        return Response(PreviewOutput(project_settings_impact(project=project, proposed=proposed)).data)


class AuditLogQuery(serializers.Serializer):
    action = serializers.RegexField(r"^[a-z0-9_.]*$", max_length=64, required=False, allow_blank=True,
                                    help_text="An action (`member.removed`) or its prefix (`member`)")
    before = serializers.IntegerField(min_value=1, required=False, help_text="Continue after this event id")
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)


class AuditEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    target = serializers.CharField()
    target_name = serializers.CharField()
    sentence = serializers.CharField()
    lines = serializers.ListField(child=serializers.CharField())
    details = serializers.JSONField()


class AuditLogOutput(serializers.Serializer):
    events = AuditEntryOutput(many=True)
    next_before = serializers.IntegerField(allow_null=True)


class AuditLogApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("action", str), OpenApiParameter("before", int), OpenApiParameter("limit", int)],
        responses=AuditLogOutput, summary="The project's audit log, newest first (leads)",
    )
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = AuditLogQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = audit_log_page(project=project, action=query.validated_data.get("action") or None,
                              before_id=query.validated_data.get("before"), limit=query.validated_data["limit"])
        return Response(AuditLogOutput(page).data)


urlpatterns = [
    path("projects/<int:project_id>/settings/preview", SettingsPreviewApi.as_view(), name="api-project-settings-preview"),
    path("projects/<int:project_id>/audit-log/", AuditLogApi.as_view(), name="api-project-audit-log"),
]
