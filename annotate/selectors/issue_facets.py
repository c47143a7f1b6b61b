"""How many faces each choice of the issue filter bar would show, the other filters kept: one grouped query per filter."""
from collections import Counter
from dataclasses import replace

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q

from annotate.models import Project, QualityRun
from annotate.selectors.audit_issues import IssueFilters, issue_queryset
from annotate.selectors.dimensions import check_facet
from annotate.selectors.estimates import Sample
from annotate.selectors.issue_sources import (
    AGREEMENTS, ANY_ANSWERS, GOLD, NOT_GOLD, REFERENCE_NONE, REFERENCE_SET, SOURCES, Answers, agreement_q, with_label_source,
)

ANY = ""  # the key of a filter's "any" choice: the count with that filter left open


def _grouped(qs, field: str, sample: Sample | None = None) -> Counter:
    """{(value of `field`, answered): faces} in one GROUP BY (answered: the run counted an answer); from the sample's
    blocks, scaled up, for a large run."""
    rows = (qs.order_by().annotate(answered=ExpressionWrapper(Q(num_answers__gt=0), output_field=BooleanField()))
            .values(field, "answered").annotate(n=Count("id")).values_list(field, "answered", "n"))
    if sample is None:
        return Counter({(value, answered): n for value, answered, n in rows})
    return Counter({(value, answered): round(n * sample.scale) for value, answered, n in sample.rows(rows)})


def _sum(groups: Counter, *, value=None, answered_only: bool, test=None) -> int:
    return sum(n for (v, answered), n in groups.items()
               if (answered or not answered_only) and (test(v) if test else (value is None or v == value)))


def issue_facets(*, project: Project, run: QualityRun, filters: IssueFilters, sample: Sample | None = None) -> dict[str, dict[str, int]]:
    """For each filter, {choice value: faces shown if the lead picked it}, with every other filter as it is.

    The "answered faces only" default follows the filters exactly as the queue does: picking a label source lifts it,
    so the source counts are taken without it, and each filter's "any" count is the queue's count with that filter open.
    Each filter is one query grouped by its value (the label source, a subquery per face, is computed once per face).
    With a `sample` (estimates.run_sample: a run too large to group every face of on each request) the counts are
    estimates from its blocks.
    """
    def queue(**changes):
        return issue_queryset(project=project, run=run, filters=replace(filters, **changes), answered_default=False)

    only = filters.answered_only
    facets = {}

    groups = _grouped(with_label_source(queue(source="")).annotate(source=F("label_source")), "source", sample)
    facets["source"] = {ANY: _sum(groups, answered_only=filters.answers is None),
                        **{s: _sum(groups, value=s, answered_only=False) for s in SOURCES}}

    k = max(1, project.overlap_target)
    groups = _grouped(queue(answers=Answers()), "num_answers", sample)
    facets["answers"] = {ANY: _sum(groups, answered_only=not filters.source), ANY_ANSWERS: _sum(groups, answered_only=False),
                         **{str(n): _sum(groups, value=n, answered_only=False) for n in range(k)},
                         f"{k}+": _sum(groups, answered_only=False, test=lambda n: n >= k)}

    groups = _grouped(queue(reference=""), "item__reference_label", sample)
    facets["reference"] = {ANY: _sum(groups, answered_only=only),
                           REFERENCE_SET: _sum(groups, answered_only=only, test=bool),
                           REFERENCE_NONE: _sum(groups, answered_only=only, value=""),
                           **{label: _sum(groups, answered_only=only, value=label) for label in project.labels}}

    groups = _grouped(queue(gold=""), "item__is_gold", sample)
    facets["gold"] = {ANY: _sum(groups, answered_only=only), GOLD: _sum(groups, answered_only=only, value=True),
                      NOT_GOLD: _sum(groups, answered_only=only, value=False)}

    base = queue(agreement="")
    default = Q(num_answers__gt=0) if only else Q()
    names = ["any", *AGREEMENTS]
    row = (base.order_by().values("run").annotate(any=Count("id", filter=default) if only else Count("id"),
                                                  **{a: Count("id", filter=default & agreement_q(a)) for a in AGREEMENTS})
           .values_list(*names))
    values = (sample.rows(row) if sample else list(row)) or [(0,) * len(names)]
    counts = dict(zip(names, (round(n * (sample.scale if sample else 1)) for n in values[0])))
    facets["agreement"] = {ANY: counts["any"], **{a: counts[a] for a in AGREEMENTS}}
    if project.valence_arousal or project.action_units:
        facets["check"] = check_facet(project=project, run=run, queue=queue(check="").filter(default), default=replace(filters, check="") == IssueFilters())
    return facets
