"""Lease fast path: take the next open items for an annotator in one PostgreSQL statement; twin: `lease_orm`."""
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.db.models.functions import Greatest

from annotate.models import Assignment, AssignmentStatus, Item, Project
from server.rows import execute_statement


def live_leases(*, now):
    """Expression: the item's counted live leases (zero once the latest counted lease has lapsed)."""
    return Case(When(lease_until__gt=now, then=F("lease_count")), default=Value(0))


def lease_uncount(*, assignment: Assignment, now) -> dict:
    """Item update fields that uncount a closing lease, if it was counted and is still live."""
    if assignment.is_gold or assignment.expires_at <= now or assignment.status != AssignmentStatus.OPEN:
        return {}
    return {"lease_count": Greatest(F("lease_count") - 1, Value(0))}


def seen_by(annotator_id: int):
    """Expression: the item was leased to this annotator before (answered, skipped or still open)."""
    return Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator_id=annotator_id))


def lease_orm(*, project: Project, annotator_id: int, n: int, now, expires_at, skip: set[int]) -> list[Assignment]:
    """Lease up to n open items in one transaction: lock, bump their lease counts, record the leases.

    Open: not excluded, not erased, below target once live leases count, never leased to this annotator, not in
    `skip`; highest priority first, then the items closest to their target, then by id. The portable
    twin of `lease_postgres` (SQLite runs it).
    """
    with transaction.atomic():
        ids = list(
            Item.objects.filter(project=project, excluded=False, erased_at__isnull=True)
            .exclude(pk__in=skip)
            .alias(live=live_leases(now=now), net=F("answer_count") - F("extra_answers"))
            .filter(net__lt=project.overlap_target, answer_count__lt=F("extra_answers") + project.overlap_target - F("live"))
            .exclude(seen_by(annotator_id))
            .order_by("-priority", F("net").desc(), "pk")
            .select_for_update(skip_locked=True, no_key=True, of=("self",))
            .values_list("pk", "crop")[:n]
        )
        if not ids:
            return []
        crops = dict(ids)
        ids = list(crops)
        Item.objects.filter(pk__in=ids).update(
            lease_count=Case(When(lease_until__gt=now, then=F("lease_count") + 1), default=Value(1)),
            lease_until=Case(When(lease_until__gt=expires_at, then=F("lease_until")), default=Value(expires_at)),
        )
        return Assignment.objects.bulk_create(  # items come along with their crop name (for the image link)
            [Assignment(project=project, item=Item(pk=pk, project=project, crop=crops[pk]), annotator_id=annotator_id,
                        expires_at=expires_at) for pk in ids]
        )


_LEASE_SQL = """
WITH picked AS (
    SELECT i.id, i.priority, i.answer_count - i.extra_answers AS net FROM {item} i
    WHERE i.project_id = %(project)s AND NOT i.excluded AND i.erased_at IS NULL
      AND (i.answer_count - i.extra_answers) < %(k)s
      AND i.answer_count + CASE WHEN i.lease_until > %(now)s THEN i.lease_count ELSE 0 END < i.extra_answers + %(k)s
      AND NOT EXISTS (SELECT 1 FROM {assignment} a WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s)
      AND NOT (i.id = ANY(%(skip)s::bigint[]))
    ORDER BY i.priority DESC, (i.answer_count - i.extra_answers) DESC, i.id
    LIMIT %(n)s
    FOR NO KEY UPDATE OF i SKIP LOCKED
), bumped AS (
    UPDATE {item} i
    SET lease_count = CASE WHEN i.lease_until > %(now)s THEN i.lease_count + 1 ELSE 1 END,
        lease_until = CASE WHEN i.lease_until > %(expires)s THEN i.lease_until ELSE %(expires)s END
    FROM picked WHERE i.id = picked.id
    RETURNING i.id, picked.priority, picked.net
), leased AS (
    INSERT INTO {assignment} (project_id, item_id, annotator_id, status, is_gold, created_at, expires_at)
    SELECT %(project)s, b.id, %(annotator)s, %(open)s, false, %(now)s, %(expires)s FROM bumped b
    ORDER BY b.priority DESC, b.net DESC, b.id
    RETURNING id, item_id
)
SELECT l.id, l.item_id, i.crop FROM leased l JOIN {item} i ON i.id = l.item_id
"""


def lease_postgres(*, project: Project, annotator_id: int, n: int, now, expires_at, skip: set[int]) -> list[Assignment]:
    """The same lease as `lease_orm` in one statement: pick, lock, bump the lease counts and insert the leases.

    Hand-written because this is the hottest query of labelling: one round trip with no BEGIN / COMMIT
    around it (a single statement is atomic by itself) and no ORM compilation. FOR NO KEY UPDATE SKIP
    LOCKED lets racing annotators pass over each other's rows, and a row changed since the statement
    began is re-checked on its newest version before it is locked, so the counts it reads are never stale.
    Rows a rival changed mid-statement can drop out, so a batch may come back short (the caller refills).
    """
    sql = _LEASE_SQL.format(item=Item._meta.db_table, assignment=Assignment._meta.db_table)
    params = {"project": project.pk, "now": now, "k": project.overlap_target, "annotator": annotator_id,
              "skip": sorted(skip), "n": n, "expires": expires_at, "open": AssignmentStatus.OPEN.value}
    with connection.cursor() as cursor:
        execute_statement(cursor, sql, params)
        rows = sorted(cursor.fetchall())
    # The item comes along with its crop name, which the signed image link carries.
    return [
        Assignment(pk=pk, project=project, item=Item(pk=item_id, project=project, crop=crop), annotator_id=annotator_id,
                   status=AssignmentStatus.OPEN, created_at=now, expires_at=expires_at)
        for pk, item_id, crop in rows
    ]
