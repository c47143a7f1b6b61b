"""Priorities fast path: a quality run's Item.priority values in one PostgreSQL UPDATE; twin: `priorities_write_orm`."""
from django.db import connection
from django.db.models import F, Q
from django.db.models.sql import UpdateQuery

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
    committed meanwhile is never overwritten. The portable twin of `priorities_write_postgres`.

    The ORM writes the one UPDATE (one item's), and the database runs it once per item (executemany): a
    single UPDATE with a CASE branch per item would cost the ORM ~0.1 ms per item just to compile.
    """
    waiting_boost = Q(priority__gte=boosted, answer_count__lt=F("extra_answers") + project.overlap_target)
    query = Item.objects.filter(pk=_PK_SLOT).exclude(waiting_boost).query.chain(UpdateQuery)
    query.add_update_values({"priority": _PRIORITY_SLOT})
    sql, params = query.get_compiler(connection=connection).as_sql()
    slots = (list(params).index(_PK_SLOT), list(params).index(_PRIORITY_SLOT))
    rows = []
    for pk, value in zip(item_ids, priorities):
        row = list(params)
        row[slots[0]], row[slots[1]] = pk, value
        rows.append(row)
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# Placeholder values that mark where the item's id and priority go in the compiled statement's parameters.
_PK_SLOT = -7_431_999_001
_PRIORITY_SLOT = -7.431999001e300
