"""Assignments: lease the next faces to an annotator (fair, k-capped, concurrency-safe), skip a lease.

How the k cap holds under concurrency: an item's live leases are counted on the item row itself
(`lease_count`, valid while `lease_until` is ahead; see `live_leases`). Leasing locks the row, checks
`answer_count + live leases < target` and bumps the count in the same transaction; submitting
bumps `answer_count` on the same row. The lease query itself is annotate.fastpaths.lease (one
PostgreSQL statement, and its ORM twin for SQLite). On PostgreSQL the candidate rows are taken with
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

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotate import fastpaths
from annotate.exceptions import Conflict, NotFound
from annotate.fastpaths.lease import lease_orm, lease_postgres, lease_uncount, seen_by
from annotate.models import Assignment, AssignmentStatus, Item, Membership, Project

MAX_BATCH = 10
# A lease must outlive its own creation timestamp (a DB check), so very short settings are raised to this.
MIN_LEASE_SECONDS = 30
# Unseen gold items a gold lease chooses among (least-answered first); at least MAX_BATCH.
GOLD_WINDOW = 20


@dataclass
class LeaseResult:
    """What `assignments_lease` hands out: the leases (resumed ones first) and why there are none."""

    assignments: list[Assignment] = field(default_factory=list)
    status: str = "ok"  # ok | paused | no_work


def _lease_gold(*, project: Project, annotator_id: int, n: int, now, expires_at) -> list[Assignment]:
    """Gold items this annotator has not seen, least-answered first; gold checks are not capped at k.

    Taken from a window: the first GOLD_WINDOW unseen ones in item_gold_idx's order (answer count), then the
    least-answered of those by id. Ordering every gold item by (answer count, id) would fetch and sort all of
    them per gold lease, since the index has no id column (10,000 heap rows, ~110 ms at a million faces, 1 %
    gold); the window keeps the least-answered first at any size and breaks ties by id within it.
    """
    window = (
        Item.objects.filter(project=project, is_gold=True, excluded=False, erased_at__isnull=True)
        .exclude(seen_by(annotator_id))
        .order_by("answer_count")
        .values("pk")[:GOLD_WINDOW]
    )
    rows = Item.objects.filter(pk__in=window).order_by("answer_count", "pk").values_list("pk", "crop")[:n]
    return Assignment.objects.bulk_create(
        [Assignment(project=project, item=Item(pk=pk, project=project, crop=crop), annotator_id=annotator_id,
                    expires_at=expires_at, is_gold=True) for pk, crop in rows]
    )


def _lease_new(*, project: Project, annotator_id: int, n: int, now) -> list[Assignment]:
    expires_at = now + timedelta(seconds=max(project.lease_seconds, MIN_LEASE_SECONDS))
    gold_wanted = sum(random.random() < project.gold_rate for _ in range(n)) if project.gold_rate > 0 else 0
    leases = _lease_gold(project=project, annotator_id=annotator_id, n=gold_wanted, now=now, expires_at=expires_at) if gold_wanted else []
    lease = lease_postgres if fastpaths.enabled() else lease_orm
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


def assignments_release(*, project: Project, annotator_id: int) -> int:
    """Close every open lease of the annotator in the project (a lead paused or removed them), so their faces go
    back to the pool at once; each live lease is uncounted on its item as a skip would. Returns how many closed.

    Locks the leases, then their items in id order, as a skip or a submit does (lease first, then item)."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):  # part of the caller's change when there is one
        leases = list(
            Assignment.objects.select_for_update()
            .filter(project=project, annotator_id=annotator_id, status=AssignmentStatus.OPEN)
            .order_by("item_id")
        )
        for lease in leases:
            uncount = lease_uncount(assignment=lease, now=now)
            if uncount:
                Item.objects.filter(pk=lease.item_id).update(**uncount)
        if leases:
            Assignment.objects.filter(pk__in=[a.pk for a in leases]).update(status=AssignmentStatus.SKIPPED, closed_at=now)
    return len(leases)


def leases_count_exact(*, item_id: int, now) -> int:
    """The item's live leases counted from the leases themselves (for rare paths and checks)."""
    return Assignment.objects.filter(item_id=item_id, status=AssignmentStatus.OPEN, expires_at__gt=now).filter(
        ~Q(is_gold=True)
    ).count()
