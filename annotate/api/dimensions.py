"""API: the dashboard's valence-arousal and action-unit reads (#18): agreement, AU prevalence, the VA scatter, a face's
answers for the scatter's hover, and per-annotator dimension figures. Leads only, as every dashboard read."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_item_in_project, access_project_as_lead
from annotate.selectors.dimensions import annotator_dimensions, dimension_report, item_dimension_answers, va_scatter
from annotate.selectors.quality import quality_run_latest


class AsksOutput(serializers.Serializer):
    expression = serializers.BooleanField(help_text="The expression class is asked (labels not empty)")
    valence_arousal = serializers.BooleanField()
    action_units = serializers.BooleanField()


class AgreementFigureOutput(serializers.Serializer):
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha, interval metric.")
    icc = serializers.FloatField(allow_null=True, help_text="ICC(1,1).")
    faces = serializers.IntegerField(help_text="Faces with two or more answers behind both figures.")
    answers = serializers.IntegerField()
    thin = serializers.BooleanField(help_text="Fewer than thin_class_faces faces: not readable.")


class ClassAgreementFigureOutput(AgreementFigureOutput):
    label = serializers.CharField()


class DimensionAgreementOutput(AgreementFigureOutput):
    by_class = ClassAgreementFigureOutput(many=True, help_text="By consensus expression, in project label order.")


class AUAgreementOutput(serializers.Serializer):
    au = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    alpha = serializers.FloatField(allow_null=True, help_text="Nominal Krippendorff's alpha of present / absent.")
    prevalence = serializers.FloatField(allow_null=True, help_text="Share of judgements that say present.")
    positive_agreement = serializers.FloatField(allow_null=True, help_text="Chance another judge also says present, given one did.")
    intensity_alpha = serializers.FloatField(allow_null=True)
    faces = serializers.IntegerField()
    judgements = serializers.IntegerField()
    alpha_note = serializers.CharField(allow_blank=True, help_text="Why alpha is not stable (rare AU, few judgements); empty when it is.")


class AUByExpressionOutput(serializers.Serializer):
    classes = serializers.ListField(child=serializers.CharField())
    aus = serializers.ListField(child=serializers.IntegerField())
    share = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
                                  help_text="Rows: classes; columns: AUs; share of the class's faces with the AU present.")
    faces = serializers.ListField(child=serializers.IntegerField())
    thin = serializers.ListField(child=serializers.BooleanField(), help_text="Per class: too few faces to read.")


class AUReportOutput(serializers.Serializer):
    per_au = AUAgreementOutput(many=True)
    by_expression = AUByExpressionOutput(allow_null=True)


class DimensionReportOutput(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    asks = AsksOutput()
    thin_class_faces = serializers.IntegerField()
    alpha_stable_prevalence = serializers.FloatField()
    valence = DimensionAgreementOutput(required=False, allow_null=True, help_text="Absent when the project asks no VA; null: the run has none.")
    arousal = DimensionAgreementOutput(required=False, allow_null=True)
    action_units = AUReportOutput(required=False)
    checks = serializers.DictField(child=serializers.IntegerField(), required=False, help_text="Faces per failed dimension check.")

    def to_representation(self, instance):
        """A dimension the project does not ask for has no key at all (not a null, which means the run has none)."""
        return {k: v for k, v in super().to_representation(instance).items() if k in instance}


class DimensionReportApi(APIView):
    @extend_schema(responses=DimensionReportOutput, summary="Valence-arousal and action-unit agreement, AU prevalence per expression (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(DimensionReportOutput(dimension_report(project=project, run=quality_run_latest(project_id=project.pk))).data)


class ScatterOutput(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    asked = serializers.BooleanField(help_text="Whether the project asks for valence-arousal (no points when not).")
    item = serializers.ListField(child=serializers.IntegerField())
    valence = serializers.ListField(child=serializers.FloatField())
    arousal = serializers.ListField(child=serializers.FloatField())
    label = serializers.ListField(child=serializers.CharField(allow_blank=True), help_text="Consensus expression, '' if none.")
    sampled_from = serializers.IntegerField(help_text="Faces with a consensus point; more than len(item) when sampled.")


class ScatterApi(APIView):
    @extend_schema(responses=ScatterOutput, summary="Consensus valence-arousal points of the latest run (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(ScatterOutput(va_scatter(project=project, run=quality_run_latest(project_id=project.pk))).data)


class DimensionAnswerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    valence = serializers.FloatField(allow_null=True)
    arousal = serializers.FloatField(allow_null=True)
    action_units = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    annotator__username = serializers.CharField()


class ItemDimensionAnswersApi(APIView):
    @extend_schema(responses=DimensionAnswerOutput(many=True), summary="A face's live answers with valence, arousal and AUs (leads)")
    def get(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        item = access_item_in_project(project=project, item_id=item_id)
        return Response(DimensionAnswerOutput(item_dimension_answers(item=item), many=True).data)


class AnnotatorDimensionsOutput(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    asks = AsksOutput()
    low_sensitivity = serializers.FloatField(help_text="An AU is listed when the sensitivity's upper bound is below this.")
    results = serializers.DictField(
        child=serializers.JSONField(), help_text="{user id: {username, valence, arousal: {offset, offset_bound, noise, noise_lower, shared, "
        "offset_evidence, noise_evidence}, action_units: {low_sensitivity: [...], judged_aus, aus}, self_consistency: "
        "{checkable, contradictions, share, share_lower, evidence}}}; evidence none = not enough to show a figure.")


class AnnotatorDimensionsApi(APIView):
    @extend_schema(responses=AnnotatorDimensionsOutput, summary="Per-annotator valence-arousal bias, AU sensitivity, self-consistency (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        body = annotator_dimensions(project=project, run=quality_run_latest(project_id=project.pk))
        return Response(AnnotatorDimensionsOutput(body).data)


urlpatterns = [
    path("projects/<int:project_id>/dimensions/", DimensionReportApi.as_view(), name="api-dimensions"),
    path("projects/<int:project_id>/dimensions/scatter/", ScatterApi.as_view(), name="api-dimensions-scatter"),
    path("projects/<int:project_id>/items/<int:item_id>/dimension-answers/", ItemDimensionAnswersApi.as_view(), name="api-item-dimension-answers"),
    path("projects/<int:project_id>/annotators/dimensions/", AnnotatorDimensionsApi.as_view(), name="api-annotator-dimensions"),
]
