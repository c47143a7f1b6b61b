"""API: the counts beside each choice of the label-issue filter bar (the queue's own filters, one aggregate per filter)."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.api.audit import IssueListQuery, _run_or_404, issue_filters_from
from annotate.selectors.estimates import run_sample
from annotate.selectors.issue_facets import issue_facets

FACETS = ("source", "answers", "reference", "agreement", "gold", "check")  # check: projects asking for VA or AUs only


class IssueFacetsOutput(serializers.Serializer):
    run = serializers.IntegerField()
    facets = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text=f"For each of {', '.join(FACETS)}: {{choice value: faces the queue shows with it}}; '' is the filter left open.",
    )
    estimated = serializers.BooleanField(help_text="True: a large run's counts, estimated from a sample of its faces (about)")


class IssueFacetsApi(APIView):
    @extend_schema(parameters=[IssueListQuery], responses=IssueFacetsOutput, summary="Counts per issue filter choice (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = IssueListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = issue_filters_from(query.validated_data, labels=project.labels)
        run = _run_or_404(project)
        sample = run_sample(run)
        facets = issue_facets(project=project, run=run, filters=filters, sample=sample)
        return Response(IssueFacetsOutput({"run": run.id, "facets": facets, "estimated": sample is not None}).data)


urlpatterns = [
    path("projects/<int:project_id>/issues/facets/", IssueFacetsApi.as_view(), name="api-issue-facets"),
]
