"""Paging the issue queue at a million faces: pages by key (after a face) and counts that say when they are estimates.

`offset` makes PostgreSQL walk and drop every row before the page (page 20,000 of a million-face queue read a
million index entries: 1.6 s); a page that starts after the last face shown, or ends before the first one, seeks
straight to it in the queue's index. So offsets alone go only MAX_OFFSET rows deep, as search engines cap them.
"""
from dataclasses import dataclass

from django.db.models import F, Q, QuerySet

from annotate.exceptions import ValidationFailed
from annotate.models import QualityItemResult, QualityRun
from annotate.selectors.estimates import Estimate, count_results


# Deeper than this an offset alone is refused: page by key (after= / before=), which costs the same at any depth.
MAX_OFFSET = 10_000


def check_offset(*, offset: int, keyed: bool) -> None:
    """Refuse an offset-only page deeper than MAX_OFFSET (with after= or before=, offset only numbers the rows)."""
    if offset > MAX_OFFSET and not keyed:
        raise ValidationFailed(f"offset {offset:,} is past {MAX_OFFSET:,}: page by key with after= (next_after of the page before) "
                               "or before= (the first face of the page after).", code="offset_too_deep")


@dataclass(frozen=True)
class QueueCounts:
    total: Estimate  # faces the queue shows
    unanswered: Estimate  # faces the "answered only" default leaves out (0 when it does not apply)


def queue_counts(*, qs_all: QuerySet, run: QualityRun, answered_only: bool) -> QueueCounts:
    """The queue's size (and, under the answered-only default, the unanswered faces it leaves out) from `qs_all`,
    the queue without that default."""
    if not answered_only:
        return QueueCounts(total=count_results(qs_all, run=run, parts={"total": Q()})["total"], unanswered=Estimate.of(0))
    counts = count_results(qs_all, run=run, parts={"total": Q(num_answers__gt=0), "unanswered": Q(num_answers=0)})
    return QueueCounts(total=counts["total"], unanswered=counts["unanswered"])


def _key_value(*, run: QualityRun, order_field: str, item: int, param: str):
    row = QualityItemResult.objects.filter(run=run, item_id=item).values_list(order_field, flat=True)
    if not row:
        raise ValidationFailed(f"face {item} is not in quality run {run.pk}: page from the start.", code=f"invalid_{param}")
    return row[0]


def ids_after(qs: QuerySet, *, run: QualityRun, order_field: str, after: int, limit: int) -> list[int]:
    """Ids of the next `limit` results of `qs` (ordered by order_field asc nulls last, then item) after face `after`.

    Two range scans instead of one OR, so each is an index seek: the faces with a value past `after`'s, then
    (nulls sort last) the faces without one.
    """
    value = _key_value(run=run, order_field=order_field, item=after, param="after")
    nulls = qs.filter(**{f"{order_field}__isnull": True})
    if value is None:
        return list(nulls.filter(item_id__gt=after).values_list("id", flat=True)[:limit])
    later = qs.filter(**{f"{order_field}__gte": value}).filter(Q(**{f"{order_field}__gt": value}) | Q(item_id__gt=after))
    ids = list(later.values_list("id", flat=True)[:limit])
    if len(ids) < limit:
        ids += list(nulls.values_list("id", flat=True)[: limit - len(ids)])
    return ids


def ids_before(qs: QuerySet, *, run: QualityRun, order_field: str, before: int, limit: int) -> list[int]:
    """Ids of the `limit` results of `qs` just before face `before`, in queue order: ids_after's scans run backwards
    (the faces without a value before `before`, when it has none, then those with a value below its own)."""
    value = _key_value(run=run, order_field=order_field, item=before, param="before")
    backwards = (F(order_field).desc(), "-item_id")
    ids: list[int] = []
    if value is None:
        ids = list(qs.filter(**{f"{order_field}__isnull": True}, item_id__lt=before).order_by("-item_id").values_list("id", flat=True)[:limit])
        earlier = qs.filter(**{f"{order_field}__isnull": False})
    else:
        earlier = qs.filter(**{f"{order_field}__lte": value}).filter(Q(**{f"{order_field}__lt": value}) | Q(item_id__lt=before))
    if len(ids) < limit:
        ids += list(earlier.order_by(*backwards).values_list("id", flat=True)[: limit - len(ids)])
    return ids[::-1]


def count_fields(counts: QueueCounts) -> dict:
    """The page's count fields: exact figures, or an estimate with its interval (the page says "about")."""
    total = counts.total
    return {"count": total.value, "count_exact": total.exact, "count_low": total.low, "count_high": total.high,
            "unanswered_left_out": counts.unanswered.value, "unanswered_exact": counts.unanswered.exact}
