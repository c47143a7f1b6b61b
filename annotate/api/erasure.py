"""API: erase a face's images on request (faces are biometric data); leads only, recorded in the audit log."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.services.erasure import MAX_REASON, item_erase


class EraseInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_REASON,
                                   help_text="Why (e.g. the person's request); kept in the audit log.")


class ErasedExportOutput(serializers.Serializer):
    export = serializers.IntegerField()
    version = serializers.IntegerField()
    version_number = serializers.IntegerField()
    format = serializers.CharField()
    file_removed = serializers.CharField(allow_null=True, help_text="The built file taken out of storage, if there was one.")
    rebuild_job = serializers.IntegerField(allow_null=True, help_text="The export job that builds it again without the face.")


class EraseOutput(serializers.Serializer):
    item = serializers.IntegerField()
    erased_at = serializers.DateTimeField()
    erased_by = serializers.CharField()
    already_erased = serializers.BooleanField(help_text="It was erased before; this call removed only what had appeared since.")
    files_removed = serializers.ListField(child=serializers.CharField(), help_text="Storage names of every file deleted.")
    exports = ErasedExportOutput(many=True, help_text="Every export of a dataset version holding the face.")
    uploads_removed = serializers.ListField(child=serializers.CharField(), help_text="Leftover import uploads holding the face.")
    partial_files_removed = serializers.IntegerField()
    leases_closed = serializers.IntegerField()
    answers_kept = serializers.IntegerField()


class ItemEraseApi(APIView):
    @extend_schema(request=EraseInput, responses={200: EraseOutput},
                   summary="Erase a face's images everywhere: storage, caches and built exports (leads); its answers stay")
    def post(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = EraseInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = item_erase(project=project, item_id=item_id, actor=request.user, reason=data.validated_data["reason"])
        response = Response(EraseOutput(report.as_dict()).data)
        # Face images are cached privately by browsers for a day: this lead's browser drops its copies now
        # (other browsers' copies expire with their max-age; the server answers 410 from now on).
        response["Clear-Site-Data"] = '"cache"'
        return response


urlpatterns = [
    path("projects/<int:project_id>/items/<int:item_id>/erase/", ItemEraseApi.as_view(), name="api-item-erase"),
]
