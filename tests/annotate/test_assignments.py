"""Leasing: priority order, the k cap counting live leases, never twice to one annotator, gold, expiry, pause."""
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Item
from annotate.services.annotations import annotation_submit
from annotate.services.assignments import GOLD_WINDOW, assignment_skip, assignments_lease

pytestmark = pytest.mark.django_db


def member(project, user):
    return project.memberships.select_related("project", "user").get(user=user)


def expire(assignment):
    """Let the lease lapse, as time would (on the lease and on the item's lease count)."""
    past = timezone.now() - timedelta(seconds=1)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=past, created_at=past - timedelta(hours=1))
    Item.objects.filter(pk=assignment.item_id).update(lease_until=past)


def answer(user, assignment, label="happiness"):
    import uuid

    return annotation_submit(annotator=user, assignment_id=assignment.pk, client_id=uuid.uuid4(), label=label)[0]


def test_priority_first_then_started_items_then_id(make_project, make_items):
    project, _, (alice, bob) = make_project(annotators=2, gold_rate=0)
    items = make_items(project, 4)
    Item.objects.filter(pk=items[3].pk).update(priority=5.0)
    Item.objects.filter(pk=items[2].pk).update(answer_count=1)
    leased = assignments_lease(membership=member(project, alice), count=3).assignments
    assert [a.item_id for a in leased] == [items[3].pk, items[2].pk, items[0].pk]


def test_k_counts_live_leases_and_nobody_gets_an_item_twice(make_project, make_items):
    project, _, people = make_project(annotators=4, gold_rate=0, overlap_target=2)
    (item,) = make_items(project, 1)
    first = assignments_lease(membership=member(project, people[0])).assignments
    second = assignments_lease(membership=member(project, people[1])).assignments
    assert [a.item_id for a in first + second] == [item.pk, item.pk]
    third = assignments_lease(membership=member(project, people[2]))
    assert third.status == "no_work" and third.assignments == []
    # Asking again resumes the same lease instead of leasing a new item.
    again = assignments_lease(membership=member(project, people[0])).assignments
    assert [a.pk for a in again] == [first[0].pk]
    assert assignments_lease(membership=member(project, people[0]), holding=[first[0].pk]).status == "no_work"


def test_expired_and_skipped_leases_return_the_item_to_the_pool_but_not_to_them(make_project, make_items):
    project, _, (alice, bob, carol) = make_project(annotators=3, gold_rate=0, overlap_target=1)
    (item,) = make_items(project, 1)
    (lease,) = assignments_lease(membership=member(project, alice)).assignments
    assert assignments_lease(membership=member(project, bob)).status == "no_work"
    expire(lease)
    (bobs,) = assignments_lease(membership=member(project, bob)).assignments
    assert bobs.item_id == item.pk
    assignment_skip(annotator=bob, assignment_id=bobs.pk)
    assert Assignment.objects.get(pk=bobs.pk).status == AssignmentStatus.SKIPPED
    assert assignments_lease(membership=member(project, bob)).status == "no_work"
    assert assignments_lease(membership=member(project, alice)).status == "no_work"
    (carols,) = assignments_lease(membership=member(project, carol)).assignments
    assert carols.item_id == item.pk


def test_answered_items_stop_at_target_and_excluded_items_are_never_served(make_project, make_items):
    project, _, people = make_project(annotators=3, gold_rate=0, overlap_target=2)
    kept, dropped = make_items(project, 2)
    Item.objects.filter(pk=dropped.pk).update(excluded=True)
    for person in people[:2]:
        (lease,) = assignments_lease(membership=member(project, person)).assignments
        assert lease.item_id == kept.pk
        answer(person, lease)
    assert Item.objects.get(pk=kept.pk).answer_count == 2
    assert assignments_lease(membership=member(project, people[2])).status == "no_work"
    Item.objects.filter(pk=kept.pk).update(extra_answers=1)
    assert assignments_lease(membership=member(project, people[2])).assignments[0].item_id == kept.pk


def test_paused_annotators_get_no_work(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 2)
    project.memberships.filter(user=alice).update(paused=True)
    assert assignments_lease(membership=member(project, alice)).status == "paused"
    assert not Assignment.objects.exists()


def test_gold_items_are_mixed_in_beyond_k_and_marked_only_internally(make_project, make_items):
    project, _, people = make_project(annotators=3, gold_rate=0.5, overlap_target=1)
    project.__class__.objects.filter(pk=project.pk).update(gold_rate=1.0)  # past what a lead may set: every lease is gold
    (gold,) = make_items(project, 1, is_gold=True, gold_label="happiness")
    make_items(project, 3)
    served = []
    for person in people:
        (lease,) = assignments_lease(membership=member(project, person)).assignments
        served.append((lease.item_id, lease.is_gold))
        answer(person, lease)
    assert served == [(gold.pk, True)] * 3
    assert Item.objects.get(pk=gold.pk).answer_count == 3


def test_gold_goes_least_answered_first_then_by_id_with_more_gold_items_than_the_window(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0.5)
    project.__class__.objects.filter(pk=project.pk).update(gold_rate=1.0)  # every lease is gold
    gold = make_items(project, GOLD_WINDOW + 5, is_gold=True, gold_label="anger")
    Item.objects.filter(project=project).update(answer_count=3)
    for item, count in zip(gold[-4:], (0, 1, 0, 0)):
        Item.objects.filter(pk=item.pk).update(answer_count=count)
    Assignment.objects.create(project=project, item=gold[-2], annotator=alice, status=AssignmentStatus.ANSWERED,
                              expires_at=timezone.now() + timedelta(minutes=1), closed_at=timezone.now())
    leases = assignments_lease(membership=member(project, alice), count=3).assignments
    assert [(a.item_id, a.is_gold) for a in leases] == [(gold[-4].pk, True), (gold[-1].pk, True), (gold[-3].pk, True)]


def test_a_batch_mixes_gold_at_the_rate(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0.0)
    make_items(project, 5, is_gold=True, gold_label="anger")
    make_items(project, 5)
    leases = assignments_lease(membership=member(project, alice), count=10).assignments
    assert len(leases) == 10 and not any(a.is_gold for a in leases)


def test_the_lease_count_on_the_item_follows_the_live_leases(make_project, make_items):
    project, _, people = make_project(annotators=4, gold_rate=0, overlap_target=3)
    (item,) = make_items(project, 1)
    leases = [assignments_lease(membership=member(project, p)).assignments[0] for p in people[:3]]
    assert Item.objects.get(pk=item.pk).lease_count == 3
    answer(people[0], leases[0])
    assignment_skip(annotator=people[1], assignment_id=leases[1].pk)
    fresh = Item.objects.get(pk=item.pk)
    assert (fresh.answer_count, fresh.lease_count) == (1, 1)
    # A lapsed lease stays counted until every counted lease has lapsed: late, never over k.
    expire(leases[2])
    (fourth,) = assignments_lease(membership=member(project, people[3])).assignments
    assert Item.objects.get(pk=item.pk).lease_count == 1
    answer(people[3], fourth)
    answer(people[2], leases[2])  # the late answer still fits: 3 answers for k = 3
    fresh = Item.objects.get(pk=item.pk)
    assert (fresh.answer_count, fresh.lease_count) == (3, 0)
