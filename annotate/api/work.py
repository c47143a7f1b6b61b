"""API: an annotator's work: lease faces, submit / correct / skip, their own answers and stats."""
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_member_in_project, access_membership, access_project, access_project_as_lead
from annotate.exceptions import ValidationFailed
from annotate.models import AssignmentStatus
from annotate.selectors.erasure import leases_withdrawn
from annotate.selectors.stats import annotator_stats
from annotate.selectors.work import (
    annotation_get_for_annotator,
    annotation_list_for_annotator,
    assignment_list_for_annotator,
    lease_image_links,
    model_hints,
)
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import MAX_BATCH, assignment_skip, assignments_lease


class LeaseInput(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_BATCH, default=1)
    holding = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=200,
        help_text="Assignment ids the client already holds; other live leases of the caller are resumed first.",
    )
    resume = serializers.BooleanField(
        default=True, help_text="Hand back the caller's unexpired leases first (a page that holds them all can say false).",
    )


class HintOutput(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField()


class LeasedItemOutput(serializers.Serializer):
    assignment = serializers.IntegerField(source="pk")
    item = serializers.IntegerField(source="item_id")
    image = serializers.CharField()
    expires_at = serializers.DateTimeField()
    hint = HintOutput(allow_null=True)


class LeaseOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "paused", "no_work"])
    message = serializers.CharField(allow_blank=True)
    assignments = LeasedItemOutput(many=True)
    withdrawn = serializers.ListField(child=serializers.IntegerField(), help_text="Leases in `holding` whose face was "
                                      "erased since (a lead's erasure on request): drop them without showing them.")


class LeaseApi(APIView):
    @extend_schema(
        request=LeaseInput, responses=LeaseOutput, summary="Lease the next faces to label (annotator)",
        description="Returns up to `count` leases: the caller's unexpired leases not in `holding` first, then new ones. "
        "`status` is `paused` when a lead paused the caller and `no_work` when nothing is left for them.",
    )
    def post(self, request, project_id: int):
        membership = access_membership(user=request.user, project_id=project_id)
        data = LeaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = assignments_lease(membership=membership, **data.validated_data)
        hints = model_hints(project=membership.project, item_ids=[a.item_id for a in result.assignments])
        links = lease_image_links(result.assignments, holder=membership)
        message = membership.message if membership.pk else ""
        # Built by hand (shape: LeaseOutput, checked by a test): output serializers cost more than the lease itself.
        leases = [
            {"assignment": a.pk, "item": a.item_id, "image": links[a.item_id],
             "expires_at": a.expires_at.isoformat().replace("+00:00", "Z"), "hint": hints.get(a.item_id)}
            for a in result.assignments
        ]
        withdrawn = leases_withdrawn(annotator_id=membership.user_id, assignment_ids=data.validated_data["holding"])
        return Response({"status": result.status, "message": message, "assignments": leases, "withdrawn": withdrawn})


class AsSentField(serializers.Field):
    """A value handed to the service as sent: `annotation_submit` checks it, with the same code on every submit path
    (DRF's FloatField would read "0.5" and true as numbers)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.NUMBER)
class AnswerNumberField(AsSentField):
    """A number; a string, a bool or a non-finite value is refused by the service."""


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 5},
                      "example": {"6": 1, "12": 3, "25": 0}})
class ActionUnitsField(AsSentField):
    """{"<AU number>": value}, checked against the project's AUs by the service."""


class AnnotationSubmitInput(serializers.Serializer):
    assignment = serializers.IntegerField(required=False, help_text="The lease answered (for a first answer).")
    replaces = serializers.UUIDField(required=False, help_text="client_id of the caller's answer this one corrects (undo).")
    client_id = serializers.UUIDField(help_text="Generated by the client; resending the same id is harmless.")
    label = serializers.CharField(max_length=32, required=False, allow_blank=True, default="",
                                  help_text="One of the project's labels; empty or left out where the project asks no class.")
    flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list, max_length=20)
    valence = AnswerNumberField(required=False, allow_null=True, default=None, help_text="-1 (negative) to 1 (positive)")
    arousal = AnswerNumberField(required=False, allow_null=True, default=None, help_text="-1 (calm) to 1 (excited)")
    action_units = ActionUnitsField(
        required=False, allow_null=True, default=None,
        help_text='The project\'s action units judged, {"<AU number>": value}: 0 absent; 1 present, or 1-5 = FACS intensity '
                  "A-E where the project asks for intensity. An AU left out was not judged.",
    )
    seconds = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)


class AnnotationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client_id = serializers.UUIDField()
    project = serializers.IntegerField(source="project_id")
    item = serializers.IntegerField(source="item_id")
    assignment = serializers.IntegerField(source="assignment_id", allow_null=True)
    label = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField())
    valence = serializers.FloatField(allow_null=True)
    arousal = serializers.FloatField(allow_null=True)
    action_units = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    replaces = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_replaces(self, annotation) -> str | None:
        return str(annotation.replaces.client_id) if annotation.replaces_id else None


def annotation_json(annotation) -> dict:
    """AnnotationOutput's shape for an original answer, built by hand on the hot path (checked by a test)."""
    return {
        "id": annotation.pk, "client_id": str(annotation.client_id), "project": annotation.project_id,
        "item": annotation.item_id, "assignment": annotation.assignment_id, "label": annotation.label,
        "flags": list(annotation.flags), "valence": annotation.valence, "arousal": annotation.arousal,
        "action_units": annotation.action_units, "seconds": annotation.seconds, "replaces": None,
        "created_at": annotation.created_at.isoformat().replace("+00:00", "Z"),
    }


class AnnotationListQuery(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, required=False, help_text="Only answers in this project")


class AnnotationListApi(APIView):
    @extend_schema(
        parameters=[AnnotationListQuery],
        responses=AnnotationOutput(many=True), summary="The caller's own answers, newest first",
    )
    def get(self, request):
        query = AnnotationListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        project_id = query.validated_data.get("project")
        if project_id is not None:
            access_project(user=request.user, project_id=project_id)
        queryset = annotation_list_for_annotator(annotator=request.user, project_id=project_id)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AnnotationOutput(page, many=True).data)

    @extend_schema(
        request=AnnotationSubmitInput,
        responses={201: AnnotationOutput, 200: OpenApiResponse(AnnotationOutput, description="A repeated submit: the original")},
        summary="Submit an answer for a lease, or a correction (undo) of an earlier answer",
    )
    def post(self, request):
        data = AnnotationSubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        assignment_id, replaces = fields.pop("assignment", None), fields.pop("replaces", None)
        if (assignment_id is None) == (replaces is None):
            raise ValidationFailed("Give either assignment (an answer) or replaces (a correction).", code="invalid")
        if replaces is not None:
            annotation, created = annotation_correct(annotator=request.user, replaces=replaces, **fields)
            return Response(AnnotationOutput(annotation).data, status=201 if created else 200)
        annotation, created = annotation_submit(annotator=request.user, assignment_id=assignment_id, **fields)
        return Response(annotation_json(annotation), status=201 if created else 200)


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutput, summary="One of the caller's own answers")
    def get(self, request, annotation_id: int):
        return Response(AnnotationOutput(annotation_get_for_annotator(annotator=request.user, annotation_id=annotation_id)).data)


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class AssignmentListQuery(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=AssignmentStatus.choices, required=False, allow_blank=True, default="")


class AssignmentListApi(APIView):
    @extend_schema(
        parameters=[AssignmentListQuery],
        responses=AssignmentOutput(many=True), summary="The caller's own leases in a project, newest first",
    )
    def get(self, request):
        query = AssignmentListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        access_project(user=request.user, project_id=q["project"])
        queryset = assignment_list_for_annotator(annotator=request.user, project_id=q["project"], status=q["status"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AssignmentOutput(page, many=True).data)


class AssignmentSkipApi(APIView):
    @extend_schema(request=None, responses=AssignmentOutput, summary="Skip a leased face; it returns to the pool for others")
    def post(self, request, assignment_id: int):
        return Response(AssignmentOutput(assignment_skip(annotator=request.user, assignment_id=assignment_id)).data)


class QualityVerdictOutput(serializers.Serializer):
    run = serializers.IntegerField()
    run_at = serializers.DateTimeField()
    answers_analysed = serializers.IntegerField()
    quality = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True, help_text="Share of answers equal to the consensus.")
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_answers = serializers.IntegerField()
    worst_class = serializers.CharField(allow_blank=True)


class AnnotatorStatsOutput(serializers.Serializer):
    annotator = serializers.IntegerField()
    username = serializers.CharField()
    answers = serializers.IntegerField()
    corrections = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    last_answer_at = serializers.DateTimeField(allow_null=True)
    quality = QualityVerdictOutput(allow_null=True, help_text="From the project's latest finished quality run, if any.")


class MyStatsApi(APIView):
    @extend_schema(responses=AnnotatorStatsOutput, summary="The caller's own stats in a project")
    def get(self, request, project_id: int):
        project = access_project(user=request.user, project_id=project_id)
        return Response(AnnotatorStatsOutput(annotator_stats(project=project, annotator=request.user)).data)


class AnnotatorStatsApi(APIView):
    @extend_schema(responses=AnnotatorStatsOutput, summary="Any member's stats in a project (leads)")
    def get(self, request, project_id: int, user_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        annotator = access_member_in_project(project=project, user_id=user_id).user
        return Response(AnnotatorStatsOutput(annotator_stats(project=project, annotator=annotator)).data)


urlpatterns = [
    path("projects/<int:project_id>/next/", LeaseApi.as_view(), name="api-next"),
    path("annotations/", AnnotationListApi.as_view(), name="api-annotations"),
    path("annotations/<int:annotation_id>/", AnnotationDetailApi.as_view(), name="api-annotation"),
    path("assignments/", AssignmentListApi.as_view(), name="api-assignments"),
    path("assignments/<int:assignment_id>/skip/", AssignmentSkipApi.as_view(), name="api-assignment-skip"),
    path("projects/<int:project_id>/stats/me/", MyStatsApi.as_view(), name="api-stats-me"),
    path("projects/<int:project_id>/stats/annotators/<int:user_id>/", AnnotatorStatsApi.as_view(), name="api-stats-annotator"),
]
