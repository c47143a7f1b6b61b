"""Assignments: lease the next faces to an annotator (fair, k-capped, concurrency-safe), skip a lease.

How the k cap holds under concurrency: an item's live leases are counted on the item row itself
(`lease_count`, valid while `lease_until` is ahead; see `live_leases`). Leasing locks the row, checks
`answer_count + live leases < target` and bumps the count in the same transaction; submitting
bumps `answer_count` on the same row. On PostgreSQL the candidate rows are taken with
FOR NO KEY UPDATE SKIP LOCKED, so racing annotators pass over each other's rows instead of
queueing, and a row that changed since the statement began is re-checked against its newest
version (READ COMMITTED re-evaluation) before it is locked, so the count read is never stale.
On SQLite, write transactions are serialised (transaction_mode=IMMEDIATE), which gives the same.
A lease that lapses stays counted until every counted lease on the row has lapsed, which only
delays the item, never overfills it; closing a lease uncounts it only while it is live (a live
lease cannot have been dropped by such a reset).
"""
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.exceptions import Conflict, NotFound
from annotate.models import Assignment, AssignmentStatus, Item, Membership, Project
from server.rows import execute_statement

MAX_BATCH = 10
# A lease must outlive its own creation timestamp (a DB check), so very short settings are raised to this.
MIN_LEASE_SECONDS = 30


@dataclass
class LeaseResult:
    """What `assignments_lease` hands out: the leases (resumed ones first) and why there are none."""

    assignments: list[Assignment] = field(default_factory=list)
    status: str = "ok"  # ok | paused | no_work


def live_leases(*, now):
    """Expression: the item's counted live leases (zero once the latest counted lease has lapsed)."""
    return Case(When(lease_until__gt=now, then=F("lease_count")), default=Value(0))


def lease_uncount(*, assignment: Assignment, now) -> dict:
    """Item update fields that uncount a closing lease, if it was counted and is still live."""
    if assignment.is_gold or assignment.expires_at <= now or assignment.status != AssignmentStatus.OPEN:
        return {}
    return {"lease_count": Greatest(F("lease_count") - 1, Value(0))}


def _seen_by(annotator_id: int):
    return Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator_id=annotator_id))


def _lease_orm(*, project: Project, annotator_id: int, n: int, now, expires_at, skip: set[int]) -> list[Assignment]:
    """Lease up to n open items in one transaction: lock, bump their lease counts, record the leases."""
    with transaction.atomic():
        ids = list(
            Item.objects.filter(project=project, excluded=False)
            .exclude(pk__in=skip)
            .alias(live=live_leases(now=now), net=F("answer_count") - F("extra_answers"))
            .filter(net__lt=project.overlap_target, answer_count__lt=F("extra_answers") + project.overlap_target - F("live"))
            .exclude(_seen_by(annotator_id))
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


# The same lease as `_lease_orm` in one PostgreSQL statement: one round trip (no transaction
# around it) and no ORM compilation on the hottest path. Locked rows are re-checked on their
# newest version before they are taken.
_LEASE_SQL = """
WITH picked AS (
    SELECT i.id, i.priority, i.answer_count - i.extra_answers AS net FROM {item} i
    WHERE i.project_id = %(project)s AND NOT i.excluded
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
    SELECT %(project)s, b.id, %(annotator)s, 'open', false, %(now)s, %(expires)s FROM bumped b
    ORDER BY b.priority DESC, b.net DESC, b.id
    RETURNING id, item_id
)
SELECT l.id, l.item_id, i.crop FROM leased l JOIN {item} i ON i.id = l.item_id
"""


def _lease_postgres(*, project: Project, annotator_id: int, n: int, now, expires_at, skip: set[int]) -> list[Assignment]:
    sql = _LEASE_SQL.format(item=Item._meta.db_table, assignment=Assignment._meta.db_table)
    params = {"project": project.pk, "now": now, "k": project.overlap_target, "annotator": annotator_id,
              "skip": sorted(skip), "n": n, "expires": expires_at}
    with connection.cursor() as cursor:
        # One statement, atomic by itself: in autocommit mode no BEGIN / SET / COMMIT round trips
        # (they cost more CPU than the fsync of the commit they framed, ~0.13 ms here).
        execute_statement(cursor, sql, params)
        rows = sorted(cursor.fetchall())
    # The item comes along with its crop name, which the signed image link carries.
    return [
        Assignment(pk=pk, project=project, item=Item(pk=item_id, project=project, crop=crop), annotator_id=annotator_id,
                   status=AssignmentStatus.OPEN, created_at=now, expires_at=expires_at)
        for pk, item_id, crop in rows
    ]


def _lease_gold(*, project: Project, annotator_id: int, n: int, now, expires_at) -> list[Assignment]:
    """Gold items this annotator has not seen, least-answered first; gold checks are not capped at k."""
    rows = (
        Item.objects.filter(project=project, is_gold=True, excluded=False)
        .exclude(_seen_by(annotator_id))
        .order_by("answer_count", "pk")
        .values_list("pk", "crop")[:n]
    )
    return Assignment.objects.bulk_create(
        [Assignment(project=project, item=Item(pk=pk, project=project, crop=crop), annotator_id=annotator_id,
                    expires_at=expires_at, is_gold=True) for pk, crop in rows]
    )


def _lease_new(*, project: Project, annotator_id: int, n: int, now) -> list[Assignment]:
    expires_at = now + timedelta(seconds=max(project.lease_seconds, MIN_LEASE_SECONDS))
    gold_wanted = sum(random.random() < project.gold_rate for _ in range(n)) if project.gold_rate > 0 else 0
    leases = _lease_gold(project=project, annotator_id=annotator_id, n=gold_wanted, now=now, expires_at=expires_at) if gold_wanted else []
    lease = _lease_postgres if connection.vendor == "postgresql" else _lease_orm
    skip = {a.item_id for a in leases}
    # Rows that a rival changed mid-statement can drop out of a batch; one more pass fills it up.
    for _ in range(2):
        wanted = n - len(leases)
        if wanted <= 0:
            break
        fresh = lease(project=project, annotator_id=annotator_id, n=wanted, now=now, expires_at=expires_at, skip=skip)
        leases += fresh
        skip |= {a.item_id for a in fresh}
        if len(fresh) in (0, wanted):
            break
    return leases


# What a resumed lease needs: the lease itself and its item's crop name (for the image link).
_RESUME_FIELDS = [f.name for f in Assignment._meta.concrete_fields] + ["item__crop", "item__project"]


def _resume(*, project: Project, annotator_id: int, n: int, holding: set[int], now) -> list[Assignment]:
    """The annotator's own live leases that the client does not hold (e.g. after a page reload)."""
    queryset = Assignment.objects.filter(
        annotator_id=annotator_id, project=project, status=AssignmentStatus.OPEN, expires_at__gt=now
    ).exclude(pk__in=holding)
    return list(queryset.select_related("item").only(*_RESUME_FIELDS).order_by("pk")[:n])


def assignments_lease(
    *, membership: Membership, count: int = 1, holding: list[int] | None = None, resume: bool = True
) -> LeaseResult:
    """Lease up to `count` faces to the member: their own unexpired leases first (if `resume`), then new ones.

    New leases go to the highest-priority items (then those closest to their target, so started items
    finish first) whose answers plus live leases are below target, that the annotator has never been
    leased, and that are not excluded; gold items are mixed in at the project's rate.
    """
    project, annotator_id = membership.project, membership.user_id
    if membership.paused:
        return LeaseResult(status="paused")
    count = max(1, min(count, MAX_BATCH))
    now = timezone.now()
    leases = _resume(project=project, annotator_id=annotator_id, n=count, holding=set(holding or ()), now=now) if resume else []
    if len(leases) < count:
        try:
            leases += _lease_new(project=project, annotator_id=annotator_id, n=count - len(leases), now=now)
        except IntegrityError:
            # The same annotator leasing from two tabs at once can race on (item, annotator); once more is enough.
            leases += _lease_new(project=project, annotator_id=annotator_id, n=count - len(leases), now=timezone.now())
    return LeaseResult(assignments=leases, status="ok" if leases else "no_work")


def assignment_skip(*, annotator, assignment_id: int) -> Assignment:
    """Close the annotator's open lease as skipped; the face goes back to the pool for others."""
    now = timezone.now()
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().filter(pk=assignment_id, annotator=annotator).first()
        if assignment is None:
            raise NotFound("No such assignment.")
        if assignment.status == AssignmentStatus.ANSWERED:
            raise Conflict("This face is answered already; undo the answer instead.", code="already_answered")
        if assignment.status == AssignmentStatus.OPEN:
            uncount = lease_uncount(assignment=assignment, now=now)
            if uncount:
                Item.objects.filter(pk=assignment.item_id).update(**uncount)
            assignment.status, assignment.closed_at = AssignmentStatus.SKIPPED, now
            assignment.save(update_fields=["status", "closed_at"])
    return assignment


def leases_count_exact(*, item_id: int, now) -> int:
    """The item's live leases counted from the leases themselves (for rare paths and checks)."""
    return Assignment.objects.filter(item_id=item_id, status=AssignmentStatus.OPEN, expires_at__gt=now).filter(
        ~Q(is_gold=True)
    ).count()
