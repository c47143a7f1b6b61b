"""Submitting: validation, idempotency by client id, late submits, undo as a correcting answer."""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from annotate.models import Annotation, Assignment, AssignmentStatus, Item
from annotate.services.annotations import annotation_correct, annotation_submit
from annotate.services.assignments import assignments_lease

pytestmark = pytest.mark.django_db


def lease(project, user, count=1):
    return assignments_lease(membership=project.memberships.select_related("project", "user").get(user=user), count=count).assignments


def expire(assignment):
    past = timezone.now() - timedelta(hours=1)
    Assignment.objects.filter(pk=assignment.pk).update(created_at=past - timedelta(minutes=10), expires_at=past)
    Item.objects.filter(pk=assignment.item_id).update(lease_until=past)


def test_submit_stores_the_answer_counts_it_and_closes_the_lease(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, valence_arousal=True)
    (item,) = make_items(project, 1)
    (a,) = lease(project, alice)
    answer, created = annotation_submit(
        annotator=alice, assignment_id=a.pk, client_id=uuid.uuid4(), label="surprise", flags=["low_quality", "occluded"],
        valence=0.5, arousal=-0.25, seconds=2.5,
    )
    assert created and answer.label == "surprise" and answer.flags == ["occluded", "low_quality"]
    assert (answer.valence, answer.arousal, answer.seconds) == (0.5, -0.25, 2.5)
    assert Item.objects.get(pk=item.pk).answer_count == 1
    closed = Assignment.objects.get(pk=a.pk)
    assert closed.status == AssignmentStatus.ANSWERED and closed.closed_at is not None


def test_a_repeated_submit_returns_the_original_and_creates_nothing(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    (item,) = make_items(project, 1)
    (a,) = lease(project, alice)
    client_id = uuid.uuid4()
    first, created = annotation_submit(annotator=alice, assignment_id=a.pk, client_id=client_id, label="anger")
    again, created_again = annotation_submit(annotator=alice, assignment_id=a.pk, client_id=client_id, label="anger")
    assert created and not created_again and again.pk == first.pk and again.label == "anger"
    with pytest.raises(Conflict) as reused:  # the same client id with another answer is not a repeat
        annotation_submit(annotator=alice, assignment_id=a.pk, client_id=client_id, label="fear")
    assert reused.value.code == "client_id_reused"
    assert Annotation.objects.count() == 1 and Item.objects.get(pk=item.pk).answer_count == 1
    with pytest.raises(Conflict) as info:
        annotation_submit(annotator=alice, assignment_id=a.pk, client_id=uuid.uuid4(), label="fear")
    assert info.value.code == "already_answered"


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"label": "joy"}, "invalid_label"),
        ({"label": "anger", "flags": ["blurry"]}, "invalid_flags"),
        ({"label": "anger", "valence": 0.3}, "invalid_valence_arousal"),
        ({"label": "anger", "seconds": -1.0}, "invalid_seconds"),
    ],
)
def test_answers_are_validated_against_the_project(make_project, make_items, fields, code):
    project, _, (alice,) = make_project(annotators=1)
    make_items(project, 1)
    (a,) = lease(project, alice)
    with pytest.raises(ValidationFailed) as info:
        annotation_submit(annotator=alice, assignment_id=a.pk, client_id=uuid.uuid4(), **fields)
    assert info.value.code == code
    assert not Annotation.objects.exists()


def test_valence_arousal_must_lie_in_range_when_enabled(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, valence_arousal=True)
    make_items(project, 1)
    (a,) = lease(project, alice)
    with pytest.raises(ValidationFailed):
        annotation_submit(annotator=alice, assignment_id=a.pk, client_id=uuid.uuid4(), label="anger", arousal=1.5)


def test_late_submit_is_accepted_only_while_the_item_is_below_target(make_project, make_items):
    project, _, (alice, bob, carol) = make_project(annotators=3, gold_rate=0, overlap_target=1)
    (item,) = make_items(project, 1)
    (late,) = lease(project, alice)
    expire(late)
    # Nobody else holds it: the late answer still counts.
    annotation_submit(annotator=alice, assignment_id=late.pk, client_id=uuid.uuid4(), label="neutral")
    assert Item.objects.get(pk=item.pk).answer_count == 1

    (other,) = make_items(project, 1)
    (bobs,) = lease(project, bob)
    expire(bobs)
    (carols,) = lease(project, carol)
    assert carols.item_id == other.pk
    with pytest.raises(Conflict) as info:
        annotation_submit(annotator=bob, assignment_id=bobs.pk, client_id=uuid.uuid4(), label="neutral")
    assert info.value.code == "lease_expired"
    annotation_submit(annotator=carol, assignment_id=carols.pk, client_id=uuid.uuid4(), label="neutral")
    assert Item.objects.get(pk=other.pk).answer_count == 1


def test_nobody_submits_on_someone_elses_lease(make_project, make_items, make_user):
    project, _, (alice, bob) = make_project(annotators=2)
    make_items(project, 1)
    (a,) = lease(project, alice)
    with pytest.raises(NotFound):
        annotation_submit(annotator=bob, assignment_id=a.pk, client_id=uuid.uuid4(), label="anger")


def test_undo_is_a_new_answer_that_replaces_the_old_one(make_project, make_items):
    project, _, (alice, bob) = make_project(annotators=2)
    (item,) = make_items(project, 1)
    (a,) = lease(project, alice)
    original, _ = annotation_submit(annotator=alice, assignment_id=a.pk, client_id=uuid.uuid4(), label="anger")
    fix_id = uuid.uuid4()
    fix, created = annotation_correct(annotator=alice, replaces=original.client_id, client_id=fix_id, label="disgust", seconds=1.0)
    assert created and fix.replaces_id == original.pk and fix.item_id == item.pk
    again, created = annotation_correct(annotator=alice, replaces=original.client_id, client_id=fix_id, label="disgust")
    assert not created and again.pk == fix.pk
    assert Annotation.objects.filter(pk=original.pk, label="anger").exists()  # never updated in place
    assert Item.objects.get(pk=item.pk).answer_count == 1
    with pytest.raises(Conflict):
        annotation_correct(annotator=alice, replaces=original.client_id, client_id=uuid.uuid4(), label="fear")
    with pytest.raises(NotFound):
        annotation_correct(annotator=bob, replaces=fix.client_id, client_id=uuid.uuid4(), label="fear")
    # A correction can itself be undone, within the window.
    annotation_correct(annotator=alice, replaces=fix.client_id, client_id=uuid.uuid4(), label="contempt")
    Annotation.objects.filter(annotator=alice).update(created_at=timezone.now() - timedelta(minutes=10))
    last = Annotation.objects.filter(annotator=alice, label="contempt").get()
    with pytest.raises(Forbidden) as info:
        annotation_correct(annotator=alice, replaces=last.client_id, client_id=uuid.uuid4(), label="fear")
    assert info.value.code == "undo_window_passed"


def test_a_client_id_reused_on_another_lease_is_a_conflict(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0)
    make_items(project, 2)
    first, second = lease(project, alice, count=2)
    client_id = uuid.uuid4()
    annotation_submit(annotator=alice, assignment_id=first.pk, client_id=client_id, label="anger")
    with pytest.raises(Conflict) as reused:
        annotation_submit(annotator=alice, assignment_id=second.pk, client_id=client_id, label="anger")
    assert reused.value.code == "client_id_reused"
    assert Assignment.objects.get(pk=second.pk).status == AssignmentStatus.OPEN
    assert Item.objects.get(pk=second.item_id).answer_count == 0 and Annotation.objects.count() == 1
