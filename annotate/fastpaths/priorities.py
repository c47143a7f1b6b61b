"""Priorities fast path: a quality run's Item.priority values in one PostgreSQL UPDATE; twin: `priorities_write_orm`."""
from django.db import connection
from django.db.models import Case, F, FloatField, Q, Value, When

from annotate.models import Item, Project

_TABLE = Item._meta.db_table
_PRIORITIES_SQL = (
    f"UPDATE {_TABLE} SET priority = v.p FROM (SELECT unnest(%(ids)s::bigint[]) AS id, unnest(%(values)s::float8[]) AS p) AS v "
    f"WHERE {_TABLE}.id = v.id AND NOT ({_TABLE}.priority >= %(boosted)s AND {_TABLE}.answer_count < %(k)s + {_TABLE}.extra_answers)"
)


def priorities_write_postgres(*, project: Project, item_ids: list[int], priorities: list[float], boosted: float) -> None:
    """The same update as `priorities_write_orm` in one statement, the values sent as two arrays.

    Hand-written because a run sets every item's priority: one statement (however many items) instead of
    one batch of CASE branches per few hundred items, each compiled by the ORM.
    """
    with connection.cursor() as cursor:
        cursor.execute(_PRIORITIES_SQL, {"ids": item_ids, "values": priorities, "boosted": boosted,
                                         "k": project.overlap_target})


def priorities_write_orm(*, project: Project, item_ids: list[int], priorities: list[float], boosted: float) -> None:
    """Set each item's priority, sparing the items a lead boosted (priority >= `boosted`) that still wait for
    their answers (fewer than k + extra_answers). The spared check is in each UPDATE's WHERE, so a boost
    committed meanwhile is never overwritten. The portable twin of `priorities_write_postgres`."""
    waiting_boost = Q(priority__gte=boosted, answer_count__lt=F("extra_answers") + project.overlap_target)
    # Three parameters per item (the IN list, the WHEN and its value), within the backend's limit.
    batch = max(1, min(2000, ((connection.features.max_query_params or 6000) - 10) // 3))
    for start in range(0, len(item_ids), batch):
        chunk = list(zip(item_ids[start:start + batch], priorities[start:start + batch]))
        Item.objects.filter(pk__in=[pk for pk, _ in chunk]).exclude(waiting_boost).update(
            priority=Case(*(When(pk=pk, then=Value(p)) for pk, p in chunk), output_field=FloatField())
        )
