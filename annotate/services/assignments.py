"""Assignments: lease the next faces to an annotator (fair, k-capped, concurrency-safe), skip a lease."""
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.exceptions import Conflict, NotFound
from annotate.models import Assignment, AssignmentStatus, Item, Membership, Project

MAX_BATCH = 10
# A lease must outlive its own creation timestamp (a DB check), so very short settings are raised to this.
MIN_LEASE_SECONDS = 30


@dataclass
class LeaseResult:
    """What `assignments_lease` hands out: the leases (resumed ones first) and why there are none."""

    assignments: list[Assignment] = field(default_factory=list)
    status: str = "ok"  # ok | paused | no_work


def live_lease_count(*, now):
    """Subquery: the number of open, unexpired leases of the outer item."""
    leases = (
        Assignment.objects.filter(item=OuterRef("pk"), status=AssignmentStatus.OPEN, expires_at__gt=now)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(leases), Value(0))


def _seen_by(annotator_id: int):
    return Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator_id=annotator_id))


def _lock_open_items(*, project: Project, annotator_id: int, n: int, now, skip: set[int]) -> list[int]:
    """Ids of up to n items that still want answers, locked for this transaction.

    SKIP LOCKED lets racing annotators take different rows instead of queueing on the same one.
    The live-lease subquery reads the statement's snapshot, which can be older than the lock, so
    the caller re-counts under the lock before leasing.
    """
    queryset = (
        Item.objects.filter(project=project, excluded=False)
        .exclude(pk__in=skip)
        .annotate(live=live_lease_count(now=now))
        .filter(answer_count__lt=F("extra_answers") + project.overlap_target - F("live"))
        .exclude(_seen_by(annotator_id))
        .order_by("-priority", "-answer_count", "pk")
        .select_for_update(skip_locked=True, no_key=True, of=("self",))
        .values_list("pk", flat=True)
    )
    return list(queryset[:n])


def _still_open(*, project: Project, ids: list[int], now) -> list[int]:
    """The locked ids that are still below target once every committed lease is counted."""
    rows = (
        Item.objects.filter(pk__in=ids)
        .annotate(live=live_lease_count(now=now))
        .filter(answer_count__lt=F("extra_answers") + project.overlap_target - F("live"))
        .values_list("pk", flat=True)
    )
    still = set(rows)
    return [pk for pk in ids if pk in still]


def _gold_items(*, project: Project, annotator_id: int, n: int, skip: set[int]) -> list[int]:
    """Gold items this annotator has not seen, least-answered first; gold checks are not capped at k."""
    queryset = (
        Item.objects.filter(project=project, is_gold=True, excluded=False)
        .exclude(pk__in=skip)
        .exclude(_seen_by(annotator_id))
        .order_by("answer_count", "pk")
        .values_list("pk", flat=True)
    )
    return list(queryset[:n])


def _resume(*, project: Project, annotator_id: int, n: int, holding: set[int], now) -> list[Assignment]:
    """The annotator's own live leases that the client does not hold (e.g. after a page reload)."""
    queryset = Assignment.objects.filter(
        annotator_id=annotator_id, project=project, status=AssignmentStatus.OPEN, expires_at__gt=now
    ).exclude(pk__in=holding)
    return list(queryset.order_by("pk")[:n])


def _lease_new(*, project: Project, annotator_id: int, n: int, now) -> list[Assignment]:
    gold_wanted = sum(random.random() < project.gold_rate for _ in range(n)) if project.gold_rate > 0 else 0
    expires_at = now + timedelta(seconds=max(project.lease_seconds, MIN_LEASE_SECONDS))
    with transaction.atomic():
        gold = _gold_items(project=project, annotator_id=annotator_id, n=gold_wanted, skip=set()) if gold_wanted else []
        chosen: list[int] = []
        rejected: set[int] = set(gold)
        # A row can fail the re-count only if a rival committed a lease on it in the last instant; retry briefly.
        for _ in range(3):
            wanted = n - len(gold) - len(chosen)
            if wanted <= 0:
                break
            locked = _lock_open_items(project=project, annotator_id=annotator_id, n=wanted, now=now, skip=rejected | set(chosen))
            if not locked:
                break
            fresh = _still_open(project=project, ids=locked, now=now)
            chosen += fresh
            rejected |= set(locked) - set(fresh)
            if len(fresh) == len(locked):
                break
        rows = [
            Assignment(project=project, item_id=pk, annotator_id=annotator_id, expires_at=expires_at, is_gold=is_gold)
            for pk, is_gold in [(pk, False) for pk in chosen] + [(pk, True) for pk in gold]
        ]
        if not rows:
            return []
        return Assignment.objects.bulk_create(rows)


def assignments_lease(*, membership: Membership, count: int = 1, holding: list[int] | None = None) -> LeaseResult:
    """Lease up to `count` faces to the member: their own unexpired leases first, then new ones.

    New leases go to the highest-priority items (then those with the most answers, so started items
    finish first) whose answers plus live leases are below target, that the annotator has never been
    leased, and that are not excluded; gold items are mixed in at the project's rate.
    """
    project, annotator_id = membership.project, membership.user_id
    if membership.paused:
        return LeaseResult(status="paused")
    count = max(1, min(count, MAX_BATCH))
    now = timezone.now()
    leases = _resume(project=project, annotator_id=annotator_id, n=count, holding=set(holding or ()), now=now)
    if len(leases) < count:
        try:
            leases += _lease_new(project=project, annotator_id=annotator_id, n=count - len(leases), now=now)
        except IntegrityError:
            # The same annotator leasing from two tabs at once can race on (item, annotator); once is enough.
            leases += _lease_new(project=project, annotator_id=annotator_id, n=count - len(leases), now=timezone.now())
    return LeaseResult(assignments=leases, status="ok" if leases else "no_work")


def assignment_skip(*, annotator, assignment_id: int) -> Assignment:
    """Close the annotator's open lease as skipped; the face goes back to the pool for others."""
    now = timezone.now()
    changed = Assignment.objects.filter(pk=assignment_id, annotator=annotator, status=AssignmentStatus.OPEN).update(
        status=AssignmentStatus.SKIPPED, closed_at=now
    )
    assignment = Assignment.objects.filter(pk=assignment_id, annotator=annotator).first()
    if assignment is None:
        raise NotFound("No such assignment.")
    if not changed and assignment.status == AssignmentStatus.ANSWERED:
        raise Conflict("This face is answered already; undo the answer instead.", code="already_answered")
    return assignment
