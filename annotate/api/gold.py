"""API: a lead marks a face as gold with its known answer (PUT), or takes it back (DELETE)."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_item_in_project, access_project_as_lead
from annotate.services.gold import item_gold_remove, item_gold_set


class GoldSetInput(serializers.Serializer):
    label = serializers.CharField(max_length=32, help_text="The face's known answer, one of the project's labels.")


class GoldOutput(serializers.Serializer):
    item = serializers.IntegerField()
    is_gold = serializers.BooleanField()
    gold_label = serializers.CharField(allow_blank=True)
    changed = serializers.BooleanField(help_text="False when the face was already in that state (nothing recorded).")


def _gold(item, changed: bool) -> dict:
    return GoldOutput({"item": item.pk, "is_gold": item.is_gold, "gold_label": item.gold_label, "changed": changed}).data


class ItemGoldApi(APIView):
    @extend_schema(request=GoldSetInput, responses=GoldOutput, summary="Mark a face as gold with its label (leads)")
    def put(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        item = access_item_in_project(project=project, item_id=item_id)
        data = GoldSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        item, changed = item_gold_set(item=item, actor=request.user, label=data.validated_data["label"])
        return Response(_gold(item, changed))

    @extend_schema(request=None, responses=GoldOutput, summary="Take a face out of the gold set (leads)")
    def delete(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        item = access_item_in_project(project=project, item_id=item_id)
        item, changed = item_gold_remove(item=item, actor=request.user)
        return Response(_gold(item, changed))


urlpatterns = [
    path("projects/<int:project_id>/items/<int:item_id>/gold/", ItemGoldApi.as_view(), name="api-item-gold"),
]
