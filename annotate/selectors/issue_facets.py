"""How many faces each choice of the issue filter bar would show, the other filters kept: one aggregate per filter."""
from dataclasses import replace

from django.db.models import Count, Q

from annotate.models import Project, QualityRun
from annotate.selectors.audit_issues import IssueFilters, issue_queryset
from annotate.selectors.issue_sources import (
    AGREEMENTS, ANY_ANSWERS, GOLD, NOT_GOLD, REFERENCE_NONE, REFERENCE_SET, SOURCES, Answers, agreement_q,
    answer_options, answers_parse, gold_q, reference_q, source_q, with_label_source,
)

ANY = ""  # the key of a filter's "any" choice: the count with that filter left open


def _aggregate(qs, choices: dict[str, Q]) -> dict[str, int]:
    """{choice: count} in one query: each choice's predicate as a filtered COUNT."""
    row = qs.aggregate(**{f"c{i}": Count("id", filter=q) if q else Count("id") for i, q in enumerate(choices.values())})
    return {key: row[f"c{i}"] for i, key in enumerate(choices)}


def issue_facets(*, project: Project, run: QualityRun, filters: IssueFilters) -> dict[str, dict[str, int]]:
    """For each filter, {choice value: faces shown if the lead picked it}, with every other filter as it is.

    The "answered faces only" default follows the filters exactly as the queue does: picking a label source lifts it,
    so the source counts are taken without it, and each filter's "any" count is the queue's count with that filter open.
    """
    def queue(**changes):
        return issue_queryset(project=project, run=run, filters=replace(filters, **changes), answered_default=False)

    answered = Q(num_answers__gt=0)
    default = answered if filters.answered_only else Q()
    facets = {}

    # Source: without the default (a chosen source lifts it); its "any" is the queue with no source, default applied.
    source_default = answered if filters.answers is None else Q()
    facets["source"] = _aggregate(with_label_source(queue(source="")), {ANY: source_default, **{s: source_q(s) for s in SOURCES}})

    options = [o["value"] for o in answer_options(k=project.overlap_target)]
    facets["answers"] = _aggregate(queue(answers=Answers()), {
        ANY: answered if not filters.source else Q(), ANY_ANSWERS: Q(), **{v: answers_parse(v).q() for v in options},
    })

    references = {REFERENCE_SET: reference_q(REFERENCE_SET), REFERENCE_NONE: reference_q(REFERENCE_NONE)}
    references.update({label: reference_q(label) for label in project.labels})
    facets["reference"] = _aggregate(queue(reference=""), {ANY: default, **{k: default & q for k, q in references.items()}})
    facets["agreement"] = _aggregate(queue(agreement=""), {ANY: default, **{a: default & agreement_q(a) for a in AGREEMENTS}})
    facets["gold"] = _aggregate(queue(gold=""), {ANY: default, GOLD: default & gold_q(GOLD), NOT_GOLD: default & gold_q(NOT_GOLD)})
    return facets
