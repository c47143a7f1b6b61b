"""Audit reads: the label-issue queue (ranked, filtered and paged in SQL) and each item's review state."""
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from annotate.models import Annotation, Item, Project, QualityItemResult, QualityRun, Review, ReviewAction, Role
from annotate.selectors.dimensions import DIMENSION_FIELDS, check_mask, issue_dimensions
from annotate.selectors.issue_paging import check_offset, count_fields, ids_after, ids_before, queue_counts
from annotate.selectors.issue_sources import (
    MODEL, NONE, SOURCE_NAMES, SOURCES, Answers, answer_options, agreement_q, current_label, gold_q, reference_q, reference_votes, source_q, with_label_source,
)

# Flags that come from the quality run rather than from annotators' answers.
RUN_FLAGS = ("label_issue", "model_disagrees")
STATES = ("open", "settled")


@dataclass(frozen=True)
class IssueFilters:
    label: str = ""
    pair: tuple[str, str] | None = None
    annotator: int | None = None
    flag: str = ""
    split: str = ""
    state: str = ""
    source: str = ""  # issue_sources.SOURCES
    reference: str = ""  # a label, "set" or "none"
    agreement: str = ""  # reference vs consensus: "agree" / "disagree"
    answers: Answers | None = None  # None: answered faces only, unless a source is chosen
    gold: str = ""  # "gold" / "not_gold"
    check: str = ""  # a dimension check (annotate.selectors.dimensions.CHECKS) or "any"

    @property
    def answered_only(self) -> bool:
        """The default queue ranks crowd disagreements: faces the run counted no answer for are left out."""
        return self.answers is None and not self.source


def _votes(label: str):
    """The number of votes for `label` in a result's votes JSON, 0 when absent (portable SQL)."""
    return Coalesce(Cast(KeyTextTransform(label, "votes"), IntegerField()), 0)


def _live_answers():
    """The face's answers no correction replaced. As NOT EXISTS (an anti-join PostgreSQL estimates well) rather than
    replaced_by IS NULL through a left join, which it guessed at one row and then joined pair by pair (#20: minutes
    for the flag filter at 360,000 faces)."""
    corrected = Annotation.objects.filter(replaces=OuterRef("pk"))
    return Annotation.objects.filter(item=OuterRef("item_id")).filter(~Exists(corrected))


def _has_flag(flag: str) -> Q:
    """Answers whose JSON list of flags holds `flag`: jsonb containment on PostgreSQL, its quoted text on SQLite."""
    # ~Q(flags=[]) repeats the predicate of annotation_flagged_idx so the planner may use that partial index.
    if connection.vendor == "postgresql":
        return ~Q(flags=[]) & Q(flags__contains=[flag])
    return ~Q(flags=[]) & Q(flags__icontains=f'"{flag}"')


def issue_queryset(*, project: Project, run: QualityRun, filters: IssueFilters, answered_default: bool = True) -> QuerySet:
    """The run's item results matching `filters`, worst consensus quality first (model-only faces: least confident first).

    answered_default=False leaves out the "answered faces only" default (to count what it leaves out).
    """
    qs = QualityItemResult.objects.filter(run=run)
    if filters.source:
        qs = with_label_source(qs).filter(source_q(filters.source))
    if filters.reference:
        qs = qs.filter(reference_q(filters.reference))
    if filters.agreement:
        qs = qs.filter(agreement_q(filters.agreement))
    if filters.answers is not None:
        qs = qs.filter(filters.answers.q())
    elif answered_default and filters.answered_only:
        qs = qs.filter(num_answers__gt=0)
    if filters.gold:
        qs = qs.filter(gold_q(filters.gold))
    if filters.check:
        # checks > 0 is quality_item_checks_idx's predicate: the planner walks only the few faces that failed a check.
        qs = qs.alias(check_bits=F("checks").bitand(check_mask(filters.check))).filter(checks__gt=0, check_bits__gt=0)
    if filters.label:
        qs = qs.filter(consensus_label=filters.label)
    if filters.split:
        qs = qs.filter(item__split=filters.split)
    if filters.pair:
        a, b = filters.pair
        others = [x for x in project.labels if x not in (a, b)]
        aliases = {"v_a": _votes(a), "v_b": _votes(b), **{f"v_{i}": _votes(x) for i, x in enumerate(others)}}
        qs = qs.alias(**aliases)
        top_two = Q(v_a__gt=0, v_b__gt=0)
        for i in range(len(others)):
            top_two &= Q(**{f"v_{i}__lte": F("v_a")}) & Q(**{f"v_{i}__lte": F("v_b")})
        model_disagrees = Q(consensus_label=a, model_label=b) | Q(consensus_label=b, model_label=a)
        qs = qs.filter(top_two | model_disagrees)
    if filters.annotator:
        qs = qs.filter(Exists(_live_answers().filter(annotator_id=filters.annotator)))
    if filters.flag == "label_issue":
        qs = qs.filter(label_issue=True)
    elif filters.flag == "model_disagrees":
        qs = qs.exclude(model_label="").exclude(consensus_label=F("model_label"))
    elif filters.flag:
        # A scalar subquery, not EXISTS: PostgreSQL turned EXISTS into a hash of every flagged answer of the project
        # (400,000 at a million faces, 0.8-2 s), guessing few; probing annotation_flagged_idx face by face reads only
        # the faces the query keeps.
        flagged = _live_answers().filter(_has_flag(filters.flag)).values("id")[:1]
        qs = qs.alias(flagged_answer=Subquery(flagged)).filter(flagged_answer__isnull=False)
    if filters.state in STATES:
        reviewed = Exists(Review.objects.filter(item=OuterRef("item_id")))
        qs = qs.filter(reviewed if filters.state == "settled" else ~reviewed)
    if filters.source in (MODEL, NONE):
        return qs.order_by(F("model_confidence").asc(nulls_last=True), "item_id")
    return qs.order_by(F("consensus_quality").asc(nulls_last=True), "item_id")


def issue_page(*, project: Project, run: QualityRun, filters: IssueFilters, offset: int = 0, limit: int = 50,
               after: int | None = None, before: int | None = None) -> dict:
    """One page of issues with everything a row shows, in four queries (counts, page ids, rows, reviews).

    The page's ids come from an index-only walk of quality_item_queue_idx; `after` (the last face of the previous
    page) seeks to the page by key, `offset` then only numbers the rows. Counts past issue_paging's cap are estimates.
    Only the page's rows are then joined to their items.
    """
    check_offset(offset=offset, keyed=bool(after or before))
    qs = issue_queryset(project=project, run=run, filters=filters)
    counts = queue_counts(qs_all=issue_queryset(project=project, run=run, filters=filters, answered_default=False), run=run,
                          answered_only=filters.answered_only)
    order_field = "model_confidence" if filters.source in (MODEL, NONE) else "consensus_quality"
    if before:  # the face `before` follows the page
        ids = ids_before(qs, run=run, order_field=order_field, before=before, limit=limit)
        has_more = True
    else:
        if after:
            ids = ids_after(qs, run=run, order_field=order_field, after=after, limit=limit + 1)
        else:
            ids = list(qs.values_list("id", flat=True)[offset: offset + limit + 1])
        has_more, ids = len(ids) > limit, ids[:limit]
    page = with_label_source(QualityItemResult.objects.filter(id__in=ids), annotate=True).select_related("item").only(
        "id", "item_id", "num_answers", "votes", "consensus_label", "consensus_quality", "label_issue",
        "active_learning_score", "model_label", "model_confidence",
        "item__id", "item__split", "item__excluded", "item__priority", "item__extra_answers", "item__answer_count",
        "item__erased_at",
        "item__reference_label", "item__reference_votes", "item__is_gold", "item__gold_label", *DIMENSION_FIELDS,
    )
    if filters.annotator:
        theirs = _live_answers().filter(annotator_id=filters.annotator).values("label")[:1]
        page = page.annotate(annotator_label=Subquery(theirs))
    position = {pk: i for i, pk in enumerate(ids)}
    rows = sorted(page, key=lambda r: position[r.id]) if ids else []
    latest = review_latest_by_item(item_ids=[r.item_id for r in rows])
    results = []
    for rank, r in enumerate(rows, start=offset + 1):
        review = latest.get(r.item_id)
        state = item_state(review=review)
        reference = r.item.reference_label
        results.append({
            "rank": rank,
            "item": r.item_id,
            "image": None if r.item.erased_at else f"/api/items/{r.item_id}/image",  # an erased face shows a tile
            "erased": r.item.erased_at is not None,
            "split": r.item.split,
            "votes": r.votes or {},
            "num_answers": r.num_answers,
            "consensus_label": r.consensus_label,
            "consensus_quality": r.consensus_quality,
            "label_issue": r.label_issue,
            "model_label": r.model_label,
            "model_confidence": r.model_confidence,
            "annotator_label": getattr(r, "annotator_label", None),
            "excluded": r.item.excluded,
            "extra_answers": r.item.extra_answers,
            "answers_now": r.item.answer_count,
            "label_source": r.label_source,
            "current_label": current_label(source=r.label_source, final_label=state["final_label"], consensus_label=r.consensus_label,
                                           reference_label=reference, model_label=r.model_label),
            "unreviewed_source": r.unreviewed_source,
            "unreviewed_label": current_label(source=r.unreviewed_source, final_label=None, consensus_label=r.consensus_label,
                                              reference_label=reference, model_label=r.model_label),
            "reference_label": reference,
            "reference_votes": reference_votes(r.item.reference_votes),
            "reference_agrees": (r.consensus_label == reference) if reference and r.num_answers else None,
            "is_gold": r.item.is_gold,
            "gold_label": r.item.gold_label,
            **issue_dimensions(r),
            **state,
        })
    return {**count_fields(counts), "offset": offset, "limit": limit, "run": run.id, "has_more": has_more,
            "next_after": results[-1]["item"] if has_more else None, "results": results}


def review_latest_by_item(*, item_ids: list[int]) -> dict[int, dict]:
    """The review in force (the latest) for each of the given items, in one query."""
    if not item_ids:
        return {}
    latest: dict[int, dict] = {}
    rows = (
        Review.objects.filter(item_id__in=item_ids)
        .order_by("item_id", "-created_at", "-id")
        .values("id", "item_id", "action", "label", "created_at", "reviewer__username")
    )
    for row in rows:
        latest.setdefault(row["item_id"], row)
    return latest


def item_state(*, review: dict | None) -> dict:
    """What the latest review means: the final label (None = the consensus stands) and a state word."""
    if review is None:
        return {"final_label": None, "state": "open", "review": None}
    action = review["action"]
    final = review["label"] if action in (ReviewAction.ACCEPT, ReviewAction.RELABEL) else None
    state = {
        ReviewAction.ACCEPT: "accepted", ReviewAction.RELABEL: "relabelled", ReviewAction.EXCLUDE: "excluded",
        ReviewAction.INCLUDE: "reopened", ReviewAction.REQUEST_MORE: "more_requested",
    }[action]
    return {
        "final_label": final,
        "state": state,
        "review": {
            "id": review["id"], "action": action, "label": review["label"],
            "by": review["reviewer__username"], "at": review["created_at"].isoformat(),
        },
    }


def review_list_for_item(*, item: Item) -> list[dict]:
    """Every review of the item, newest first, with who and when."""
    return list(
        Review.objects.filter(item=item).order_by("-created_at", "-id")
        .values("id", "action", "label", "note", "created_at", "quality_run_id", "reviewer_id", "reviewer__username")
    )


def item_answers(*, item: Item) -> list[dict]:
    """The item's live answers with who gave them, oldest first (leads adjudicate with these)."""
    return list(
        Annotation.objects.filter(item=item, replaced_by__isnull=True).order_by("created_at", "id")
        .values("id", "label", "flags", "seconds", "created_at", "annotator_id", "annotator__username")
    )


# The splits of a project, one item_split_idx seek per split (a loose index scan): DISTINCT walked all its faces' entries.
_SPLITS_SQL = (
    f"WITH RECURSIVE s(v) AS (SELECT min(split) FROM {Item._meta.db_table} WHERE project_id = %(p)s AND split > ''"
    f" UNION ALL SELECT (SELECT min(split) FROM {Item._meta.db_table} WHERE project_id = %(p)s AND split > s.v) FROM s WHERE s.v IS NOT NULL)"
    " SELECT v FROM s WHERE v IS NOT NULL"
)


def _splits(project: Project) -> list[str]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SPLITS_SQL, {"p": project.pk})
            return [v for (v,) in cursor.fetchall()]
    return list(Item.objects.filter(project=project).exclude(split="").values_list("split", flat=True).distinct().order_by("split"))


def issue_filter_options(*, project: Project) -> dict:
    """Choices for the filter bar: labels, splits present, annotators, flags."""
    splits = _splits(project)
    annotators = list(
        project.memberships.filter(role=Role.ANNOTATOR).order_by("user__username").values_list("user_id", "user__username")
    )
    k = project.overlap_target
    return {
        "labels": list(project.labels),
        "sources": [{"value": s, "label": SOURCE_NAMES[s]} for s in SOURCES],
        "answers": answer_options(k=k),
        "splits": splits,
        "annotators": [{"id": uid, "username": name} for uid, name in annotators],
        "flags": [{"value": f, "label": f.replace("_", " ")} for f in list(RUN_FLAGS) + list(project.flags)],
    }
