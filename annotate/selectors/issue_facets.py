"""How many faces each choice of the issue filter bar would show, the other filters kept: one grouped query for all."""
from collections import Counter
from dataclasses import replace

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Value

from annotate.models import Project, QualityRun
from annotate.selectors.audit_issues import IssueFilters, issue_queryset
from annotate.selectors.dimensions import check_facet
from annotate.selectors.estimates import Sample
from annotate.selectors.issue_sources import (
    AGREEMENTS, ANY_ANSWERS, GOLD, NOT_GOLD, REFERENCE_NONE, REFERENCE_SET, SOURCES, Answers, agreement_q, gold_q,
    reference_q, source_q, with_label_source,
)

ANY = ""  # the key of a filter's "any" choice: the count with that filter left open
# The filters with a facet of their own, and the value of a face each one groups by.
FACETED = ("source", "answers", "reference", "gold", "agreement")
_VALUES = {"source": "face_source", "answers": "num_answers", "reference": "item__reference_label",
           "gold": "item__is_gold"}


def _bool(q: Q):
    return ExpressionWrapper(q, output_field=BooleanField())


def _passes(filters: IssueFilters) -> dict[str, object]:
    """{faceted filter: whether a face passes it as the lead set it}, True where it is left open."""
    chosen = {
        "source": source_q(filters.source) if filters.source else None,
        "answers": filters.answers.q() if filters.answers is not None and filters.answers.n is not None else None,
        "reference": reference_q(filters.reference) if filters.reference else None,
        "gold": gold_q(filters.gold) if filters.gold else None,
        "agreement": agreement_q(filters.agreement) if filters.agreement else None,
    }
    return {f"pass_{name}": Value(True) if q is None else _bool(q) for name, q in chosen.items()}


def _face_groups(*, project: Project, run: QualityRun, filters: IssueFilters,
                 sample: Sample | None) -> list[tuple[dict, int]]:
    """[(a face's values, faces with them)]: the queue with every faceted filter open, grouped in one query by what each
    facet counts by and by whether the face passes each faceted filter as chosen (one pass, not one per facet: with an
    answer flag chosen, each pass looked up every sampled face's answers again, 10 s at a million faces)."""
    open_ = replace(filters, source="", answers=Answers(), reference="", gold="", agreement="")
    qs = with_label_source(issue_queryset(project=project, run=run, filters=open_, answered_default=False))
    columns = {"face_source": F("label_source"), "answered": _bool(Q(num_answers__gt=0)),
               **{a: _bool(agreement_q(a)) for a in AGREEMENTS}, **_passes(filters)}
    names = [*dict.fromkeys([*_VALUES.values(), *columns])]
    rows = qs.order_by().annotate(**columns).values(*names).annotate(n=Count("id")).values_list(*names, "n")
    return [(dict(zip(names, row[:-1])), row[-1]) for row in (sample.rows(rows) if sample else rows)]


def _counter(groups: list[tuple[dict, int]], facet: str, scale: float) -> Counter:
    """{(the facet's value, answered): faces} over the faces passing every other faceted filter."""
    others = [f"pass_{name}" for name in FACETED if name != facet]
    raw = Counter()
    for values, n in groups:
        if all(values[p] for p in others):
            raw[(values[_VALUES[facet]], bool(values["answered"]))] += n
    return Counter({key: round(n * scale) for key, n in raw.items()})


def _sum(groups: Counter, *, value=None, answered_only: bool, test=None) -> int:
    return sum(n for (v, answered), n in groups.items()
               if (answered or not answered_only) and (test(v) if test else (value is None or v == value)))


def issue_facets(*, project: Project, run: QualityRun, filters: IssueFilters,
                 sample: Sample | None = None) -> dict[str, dict[str, int]]:
    """For each filter, {choice value: faces shown if the lead picked it}, with every other filter as it is.

    The "answered faces only" default follows the filters exactly as the queue does: picking a label source lifts it,
    so the source counts are taken without it, and each filter's "any" count is the queue's count with that filter open.
    All five facets come from one grouped query (_face_groups). With a `sample` (estimates.run_sample: a run too large
    to group every face of on each request) the counts are estimates from its blocks.
    """
    only = filters.answered_only
    scale = sample.scale if sample else 1
    faces = _face_groups(project=project, run=run, filters=filters, sample=sample)
    facets = {}

    groups = _counter(faces, "source", scale)
    facets["source"] = {ANY: _sum(groups, answered_only=filters.answers is None),
                        **{s: _sum(groups, value=s, answered_only=False) for s in SOURCES}}

    k = max(1, project.overlap_target)
    groups = _counter(faces, "answers", scale)
    facets["answers"] = {ANY: _sum(groups, answered_only=not filters.source),
                         ANY_ANSWERS: _sum(groups, answered_only=False),
                         **{str(n): _sum(groups, value=n, answered_only=False) for n in range(k)},
                         f"{k}+": _sum(groups, answered_only=False, test=lambda n: n >= k)}

    groups = _counter(faces, "reference", scale)
    facets["reference"] = {ANY: _sum(groups, answered_only=only),
                           REFERENCE_SET: _sum(groups, answered_only=only, test=bool),
                           REFERENCE_NONE: _sum(groups, answered_only=only, value=""),
                           **{label: _sum(groups, answered_only=only, value=label) for label in project.labels}}

    groups = _counter(faces, "gold", scale)
    facets["gold"] = {ANY: _sum(groups, answered_only=only), GOLD: _sum(groups, answered_only=only, value=True),
                      NOT_GOLD: _sum(groups, answered_only=only, value=False)}

    others = [f"pass_{name}" for name in FACETED if name != "agreement"]
    counts = Counter()
    for values, n in faces:
        if all(values[p] for p in others) and (values["answered"] or not only):
            counts[ANY] += n
            counts.update({a: n for a in AGREEMENTS if values[a]})
    facets["agreement"] = {key: round(counts[key] * scale) for key in (ANY, *AGREEMENTS)}
    if project.valence_arousal or project.action_units:
        default = Q(num_answers__gt=0) if only else Q()
        queue = issue_queryset(project=project, run=run, filters=replace(filters, check=""), answered_default=False)
        facets["check"] = check_facet(project=project, run=run, queue=queue.filter(default),
                                      default=replace(filters, check="") == IssueFilters())
    return facets
