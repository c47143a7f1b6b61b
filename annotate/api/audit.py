"""API: the lead's audit dashboard: overview figures, label-issue queue, reviews, annotators, agreement."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_item_in_project, access_project_as_lead, access_quality_run_in_project
from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import QualityRun, ReviewAction
from annotate.selectors.audit import (
    agreement_trend, answers_per_hour, class_balance, overview_progress, quality_run_latest_brief, run_summary,
)
from annotate.selectors.audit_agreement import agreement_report
from annotate.selectors.audit_annotators import EVIDENCE_STATES, THIN_EVIDENCE_FACES, annotator_confusion, annotator_table
from annotate.selectors.audit_issues import (
    STATES, IssueFilters, issue_page, item_answers, item_state, review_latest_by_item, review_list_for_item,
)
from annotate.selectors.dimensions import ANY_CHECK, CHECKS
from annotate.selectors.issue_sources import AGREEMENTS, GOLD, NOT_GOLD, REFERENCE_NONE, REFERENCE_SET, SOURCES, answers_parse
from annotate.selectors.quality import quality_run_latest
from annotate.selectors.run_numbers import analyse_latest_outcome, quality_run_number
from annotate.services.reviews import review_create, review_undo

UNDO = "undo"


def _run_or_404(project) -> QualityRun:
    """The latest run for reading (GET views only: its summary lacks the annotator snapshot)."""
    run = quality_run_latest_brief(project_id=project.pk)
    if run is None:
        raise NotFound("No quality run has finished for this project yet.", code="no_quality_run")
    return run


class OverviewOutput(serializers.Serializer):
    progress = serializers.DictField()
    class_balance = serializers.ListField(child=serializers.DictField())
    agreement_trend = serializers.ListField(child=serializers.DictField())
    latest_run = serializers.DictField()
    last_analysis = serializers.DictField(allow_null=True, help_text="The newest finished quality-run job: its run's number and whether it reused an earlier run.")


class OverviewApi(APIView):
    @extend_schema(responses=OverviewOutput, summary="Progress, class balance and agreement trend (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        run = quality_run_latest_brief(project_id=project.pk)
        trend = agreement_trend(project=project)
        numbers = {r["run"]: r["number"] for r in trend}  # the last runs' numbers, counted in the trend's query
        return Response({
            "progress": overview_progress(project=project),
            "class_balance": class_balance(project=project, run=run),
            "agreement_trend": trend,
            "latest_run": run_summary(run=run, numbers=numbers),
            "last_analysis": analyse_latest_outcome(project_id=project.pk, numbers=numbers),
        })


class HourOutput(serializers.Serializer):
    hour = serializers.DateTimeField()
    answers = serializers.IntegerField()


class ClampedIntegerField(serializers.IntegerField):
    """A whole number brought into [low, high] rather than refused (a page past the end is no error); empty means absent."""

    def __init__(self, *, low: int, high: int, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        return empty if value == "" else value

    def to_internal_value(self, data) -> int:
        return max(self.low, min(self.high, super().to_internal_value(data)))


class AnswersPerHourQuery(serializers.Serializer):
    days = ClampedIntegerField(low=1, high=90, default=14, help_text="How far back (1..90, default 14)")


class AnswersPerHourApi(APIView):
    @extend_schema(parameters=[AnswersPerHourQuery], responses=HourOutput(many=True), summary="Answers per hour (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = AnswersPerHourQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(answers_per_hour(project=project, days=query.validated_data["days"]))


class IssueRowOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    item = serializers.IntegerField()
    image = serializers.CharField()
    split = serializers.CharField()
    votes = serializers.DictField(child=serializers.IntegerField())
    num_answers = serializers.IntegerField()
    consensus_label = serializers.CharField()
    consensus_quality = serializers.FloatField(allow_null=True)
    label_issue = serializers.BooleanField()
    model_label = serializers.CharField()
    model_confidence = serializers.FloatField(allow_null=True)
    annotator_label = serializers.CharField(allow_null=True)
    excluded = serializers.BooleanField()
    extra_answers = serializers.IntegerField()
    final_label = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    review = serializers.DictField(allow_null=True)
    answers_now = serializers.IntegerField(help_text="Live answers now (the run counted num_answers).")
    label_source = serializers.ChoiceField(choices=SOURCES, help_text="Where the current label comes from.")
    current_label = serializers.CharField(allow_blank=True)
    unreviewed_source = serializers.ChoiceField(choices=SOURCES, help_text="The source without the review in force.")
    unreviewed_label = serializers.CharField(allow_blank=True, help_text="The label without the review in force.")
    reference_label = serializers.CharField(allow_blank=True, help_text="The label imported with the face.")
    reference_votes = serializers.DictField(child=serializers.IntegerField(), help_text="Imported votes (FER+), {} if none.")
    reference_agrees = serializers.BooleanField(allow_null=True, help_text="Consensus equals the reference; null without both.")
    is_gold = serializers.BooleanField()
    gold_label = serializers.CharField(allow_blank=True)
    valence = serializers.FloatField(allow_null=True, help_text="Consensus valence (-1..1); null where not asked or not answered.")
    arousal = serializers.FloatField(allow_null=True, help_text="Consensus arousal (-1..1).")
    valence_spread = serializers.FloatField(allow_null=True, help_text="Root mean square distance of the valence answers from their mean.")
    arousal_spread = serializers.FloatField(allow_null=True)
    action_units = serializers.DictField(child=serializers.FloatField(allow_null=True), allow_null=True,
                                         help_text='AU consensus: {"<AU number>": probability present}.')
    checks = serializers.ListField(child=serializers.ChoiceField(choices=list(CHECKS)), help_text="The dimension checks the face failed.")
    check_reasons = serializers.ListField(child=serializers.CharField(), help_text="One sentence per failed check.")


class IssuePageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    run = serializers.IntegerField()
    unanswered_left_out = serializers.IntegerField(help_text="Faces with no answers the default queue leaves out.")
    count_exact = serializers.BooleanField(help_text="False: count is estimated from a sample (the queue is large); "
                                           "count_low..count_high is its 95 % interval")
    count_low = serializers.IntegerField()
    count_high = serializers.IntegerField()
    unanswered_exact = serializers.BooleanField()
    has_more = serializers.BooleanField(help_text="Another page follows")
    next_after = serializers.IntegerField(allow_null=True, help_text="Pass as after= for the next page (by key)")
    results = IssueRowOutput(many=True)


class IssueListQuery(serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, default="", help_text="Consensus label")
    pair = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Two labels, comma-separated: top-2 votes or consensus vs model",
    )
    annotator = ClampedIntegerField(low=0, high=2**62, default=0, help_text="Items this annotator answered")
    flag = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="label_issue, model_disagrees, or an answer flag",
    )
    split = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    state = serializers.ChoiceField(choices=STATES, required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(
        choices=SOURCES, required=False, allow_blank=True, default="",
        help_text="Where the current label comes from: review, crowd, reference, model (no answers) or none",
    )
    reference = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="Imported reference label: a label, set or none",
    )
    agreement = serializers.ChoiceField(
        choices=AGREEMENTS, required=False, allow_blank=True, default="", help_text="Reference vs consensus (faces with both)",
    )
    answers = serializers.CharField(
        max_length=8, required=False, allow_blank=True, default="",
        help_text="Answers the run counted: any, 2 (exactly), 3+ (at least); default: at least one unless a source is chosen",
    )
    gold = serializers.ChoiceField(choices=(GOLD, NOT_GOLD), required=False, allow_blank=True, default="")
    check = serializers.ChoiceField(choices=[*CHECKS, ANY_CHECK], required=False, allow_blank=True, default="",
                                    help_text="Faces that failed this valence-arousal / action-unit check (any: one of them)")
    offset = ClampedIntegerField(low=0, high=10**7, default=0,
                                 help_text="Rows to skip (at most 10,000 without after/before); with after or before, only the first row's rank")
    limit = ClampedIntegerField(low=1, high=200, default=50, help_text="Rows per page (1..200, default 50)")
    after = ClampedIntegerField(low=0, high=2**62, default=0, help_text="Start after this face (next_after of the previous page)")
    before = ClampedIntegerField(low=0, high=2**62, default=0, help_text="End just before this face (the first face of the next page)")


def issue_filters_from(query: dict, *, labels: list[str]) -> IssueFilters:
    """The filters of a validated IssueListQuery, with its labels checked against the project's."""
    pair = None
    if query["pair"]:
        parts = [p.strip() for p in query["pair"].split(",")]
        if len(parts) != 2 or parts[0] == parts[1] or not set(parts) <= set(labels):
            raise ValidationFailed("pair must be two different project labels, e.g. fear,surprise.", code="invalid_pair")
        pair = (parts[0], parts[1])
    label = query["label"]
    if label and label not in labels:
        raise ValidationFailed(f"{label!r} is not one of the project's labels.", code="invalid_label")
    reference = query["reference"]
    if reference and reference not in labels and reference not in (REFERENCE_SET, REFERENCE_NONE):
        raise ValidationFailed(f"reference must be a project label, {REFERENCE_SET} or {REFERENCE_NONE}.", code="invalid_reference")
    return IssueFilters(
        label=label, pair=pair, annotator=query["annotator"] or None, flag=query["flag"], split=query["split"], state=query["state"],
        source=query["source"], reference=reference, agreement=query["agreement"], answers=answers_parse(query["answers"]),
        gold=query["gold"], check=query["check"],
    )


class IssueListApi(APIView):
    @extend_schema(parameters=[IssueListQuery], responses=IssuePageOutput, summary="Label issues, worst first (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = IssueListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        filters = issue_filters_from(q, labels=project.labels)
        if q["after"] and q["before"]:
            raise ValidationFailed("after and before page from opposite ends: give one of them.", code="invalid_before")
        page = issue_page(project=project, run=_run_or_404(project), filters=filters, offset=q["offset"], limit=q["limit"],
                          after=q["after"] or None, before=q["before"] or None)
        return Response(IssuePageOutput(page).data)


class ReviewCreateInput(serializers.Serializer):
    item = serializers.IntegerField()
    action = serializers.ChoiceField(choices=ReviewAction.values + [UNDO])
    label = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    quality_run = serializers.IntegerField(required=False, allow_null=True, default=None)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReviewStateOutput(serializers.Serializer):
    item = serializers.IntegerField()
    review = serializers.IntegerField()
    action = serializers.CharField()
    label = serializers.CharField()
    final_label = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    excluded = serializers.BooleanField()
    extra_answers = serializers.IntegerField()
    priority = serializers.FloatField()


class ReviewCreateApi(APIView):
    @extend_schema(request=ReviewCreateInput, responses={201: ReviewStateOutput}, summary="Settle an item, or undo (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = ReviewCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        item = access_item_in_project(project=project, item_id=v["item"])
        if v["action"] == UNDO:
            review = review_undo(item=item, reviewer=request.user)
        else:
            run = access_quality_run_in_project(project=project, run_id=v["quality_run"]) if v["quality_run"] else None
            review = review_create(item=item, reviewer=request.user, action=v["action"], label=v["label"], quality_run=run, note=v["note"])
        state = item_state(review=review_latest_by_item(item_ids=[item.pk]).get(item.pk))
        fresh = review.item  # the row the service locked and updated
        return Response(ReviewStateOutput({
            "item": item.pk, "review": review.pk, "action": review.action, "label": review.label,
            "final_label": state["final_label"], "state": state["state"],
            "excluded": fresh.excluded, "extra_answers": fresh.extra_answers, "priority": fresh.priority,
        }).data, status=201)


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    label = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    quality_run_id = serializers.IntegerField(allow_null=True)
    reviewer_id = serializers.IntegerField()
    reviewer__username = serializers.CharField()


class ItemReviewListApi(APIView):
    @extend_schema(responses=ReviewOutput(many=True), summary="An item's reviews, newest first (leads)")
    def get(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        item = access_item_in_project(project=project, item_id=item_id)
        return Response(ReviewOutput(review_list_for_item(item=item), many=True).data)


class AnswerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField())
    seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    annotator_id = serializers.IntegerField()
    annotator__username = serializers.CharField()


class ItemAnswerListApi(APIView):
    @extend_schema(responses=AnswerOutput(many=True), summary="An item's live answers and who gave them (leads)")
    def get(self, request, project_id: int, item_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        item = access_item_in_project(project=project, item_id=item_id)
        return Response(AnswerOutput(item_answers(item=item), many=True).data)


class AnnotatorRowOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    member = serializers.BooleanField()
    paused = serializers.BooleanField()
    excluded_from_consensus = serializers.BooleanField()
    message = serializers.CharField()
    quality = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True)
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_answers = serializers.IntegerField()
    worst_class = serializers.CharField()
    crowdlab_quality = serializers.FloatField(allow_null=True, help_text="CROWDLAB's quality, before the bias term.")
    bias = serializers.FloatField(allow_null=True, help_text="Share of bias_from faces answered bias_to beyond their peers (co-annotators, the model).")
    bias_from = serializers.CharField(allow_blank=True)
    bias_to = serializers.CharField(allow_blank=True)
    scored_answers = serializers.IntegerField()
    answers = serializers.IntegerField()
    corrections = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    last_answer_at = serializers.CharField(allow_null=True)
    evidence = serializers.ChoiceField(choices=EVIDENCE_STATES, help_text="What stands behind quality: none (no co-annotated face, "
                                       "so no quality), thin (fewer than thin_evidence_faces), enough, unrecorded (an older run), not_scored (no answer in the run), no_run.")
    shared_items = serializers.IntegerField(allow_null=True, help_text="Co-annotated faces: faces they answered that someone else answered too.")
    model_items = serializers.IntegerField(allow_null=True, help_text="Faces they answered with one of the model's classes.")
    model_agree = serializers.IntegerField(allow_null=True, help_text="Of those, faces where they gave the model's top class.")
    model_agreement = serializers.FloatField(allow_null=True, help_text="model_agree / model_items.")
    gold_correct = serializers.IntegerField(help_text="Gold answers equal to the gold label (of gold_answers).")


class AnnotatorListQuery(serializers.Serializer):
    q = serializers.CharField(max_length=150, required=False, allow_blank=True, default="", help_text="Usernames containing this (any case)")
    offset = ClampedIntegerField(low=0, high=10**7, default=0, help_text="Rows to skip")
    limit = ClampedIntegerField(low=1, high=1000, default=100, help_text="Rows per page (1..1000, default 100)")


class AnnotatorListOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Annotators matching q (every page)")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    run = serializers.IntegerField(allow_null=True)
    run_number = serializers.IntegerField(allow_null=True, help_text="The run's number in the project (run #N).")
    thin_evidence_faces = serializers.IntegerField(help_text="Below this many co-annotated faces a quality is thin evidence.")
    results = AnnotatorRowOutput(many=True)


class AnnotatorListApi(APIView):
    @extend_schema(parameters=[AnnotatorListQuery], responses=AnnotatorListOutput,
                   summary="Annotators with quality, speed and status, lowest quality first, a page at a time (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = AnnotatorListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        run = quality_run_latest(project_id=project.pk)
        count, rows = annotator_table(project=project, run=run, search=q["q"].strip(), offset=q["offset"], limit=q["limit"])
        # The rows are already plain JSON values in AnnotatorListOutput's shape (the schema): passing thousands of them
        # through the serializer's fields took seconds.
        return Response({
            "count": count, "offset": q["offset"], "limit": q["limit"],
            "run": run.id if run else None, "run_number": quality_run_number(run=run), "thin_evidence_faces": THIN_EVIDENCE_FACES,
            "results": rows,
        })


class AnnotatorConfusionOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(required=False)
    labels = serializers.ListField(child=serializers.CharField())
    matrix = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), help_text="Rows: consensus; columns: their answer.")
    run = serializers.IntegerField(allow_null=True)
    quality = serializers.FloatField(allow_null=True, required=False)
    agreement = serializers.FloatField(allow_null=True, required=False)
    worst_class = serializers.CharField(required=False)


class AnnotatorConfusionApi(APIView):
    @extend_schema(responses=AnnotatorConfusionOutput, summary="One annotator's confusion against consensus (leads)")
    def get(self, request, project_id: int, user_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        body = annotator_confusion(project=project, run=quality_run_latest(project_id=project.pk), user_id=user_id)
        return Response(AnnotatorConfusionOutput(body).data)


class ConfusedPairOutput(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    count = serializers.IntegerField()
    a_as_b = serializers.IntegerField()
    b_as_a = serializers.IntegerField()
    share = serializers.FloatField()


class ClassAgreementOutput(serializers.Serializer):
    label = serializers.CharField()
    answers = serializers.IntegerField()
    annotator_agreement = serializers.FloatField(allow_null=True)
    model_items = serializers.IntegerField()
    model_agreement = serializers.FloatField(allow_null=True)


class AgreementOutput(serializers.Serializer):
    run = serializers.IntegerField()
    run_number = serializers.IntegerField(help_text="The run's number in the project (run #N).")
    labels = serializers.ListField(child=serializers.CharField())
    annotators_vs_consensus = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    model_vs_consensus = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    confused_pairs = ConfusedPairOutput(many=True)
    model_confused_pairs = ConfusedPairOutput(many=True)
    per_class = ClassAgreementOutput(many=True)
    run_per_class = serializers.JSONField(allow_null=True)
    krippendorff_alpha = serializers.FloatField(allow_null=True)
    fleiss_kappa = serializers.FloatField(allow_null=True)


class AgreementApi(APIView):
    @extend_schema(responses=AgreementOutput, summary="Confusion matrices, confused pairs, per-class agreement (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(AgreementOutput(agreement_report(project=project, run=_run_or_404(project))).data)


urlpatterns = [
    path("projects/<int:project_id>/overview/", OverviewApi.as_view(), name="api-overview"),
    path("projects/<int:project_id>/answers-per-hour/", AnswersPerHourApi.as_view(), name="api-answers-per-hour"),
    path("projects/<int:project_id>/issues/", IssueListApi.as_view(), name="api-issues"),
    path("projects/<int:project_id>/reviews/", ReviewCreateApi.as_view(), name="api-reviews"),
    path("projects/<int:project_id>/items/<int:item_id>/reviews/", ItemReviewListApi.as_view(), name="api-item-reviews"),
    path("projects/<int:project_id>/items/<int:item_id>/answers/", ItemAnswerListApi.as_view(), name="api-item-answers"),
    path("projects/<int:project_id>/annotators/", AnnotatorListApi.as_view(), name="api-annotators"),
    path("projects/<int:project_id>/annotators/<int:user_id>/confusion/", AnnotatorConfusionApi.as_view(), name="api-annotator-confusion"),
    path("projects/<int:project_id>/agreement/", AgreementApi.as_view(), name="api-agreement"),
]
