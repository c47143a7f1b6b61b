"""The database itself refuses states FERLab must never reach."""
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import (
    Annotation,
    Assignment,
    Item,
    Membership,
    ModelVersion,
    Prediction,
    Project,
    QualityItemResult,
    QualityRun,
    Review,
    Role,
)

pytestmark = pytest.mark.django_db


def refused(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def answer(item, user, label="happiness", **fields):
    return Annotation.objects.create(project=item.project, item=item, annotator=user, label=label, client_id=uuid.uuid4(), **fields)


def test_one_original_answer_per_annotator_per_item(make_project, make_items):
    project, _, (alice, bob) = make_project(annotators=2)
    (item,) = make_items(project, 1)
    answer(item, alice)
    answer(item, bob)
    refused(lambda: answer(item, alice, "sadness"))


def test_a_correction_replaces_exactly_one_answer_once(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    (item,) = make_items(project, 1)
    first = answer(item, alice, "neutral")
    correction = answer(item, alice, "sadness", replaces=first)
    refused(lambda: answer(item, alice, "anger", replaces=first))
    answer(item, alice, "anger", replaces=correction)
    live = Annotation.objects.filter(item=item, annotator=alice, replaced_by__isnull=True)
    assert [a.label for a in live] == ["anger"]


def test_client_id_is_unique(make_project, make_items):
    project, _, (alice, bob) = make_project(annotators=2)
    a, b = make_items(project, 2)
    client_id = uuid.uuid4()
    Annotation.objects.create(project=project, item=a, annotator=alice, label="fear", client_id=client_id)
    refused(lambda: Annotation.objects.create(project=project, item=b, annotator=bob, label="fear", client_id=client_id))


def test_valence_arousal_and_seconds_ranges(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    a, b, c = make_items(project, 3)
    refused(lambda: answer(a, alice, valence=1.5))
    refused(lambda: answer(b, alice, arousal=-2))
    refused(lambda: answer(c, alice, seconds=-1))
    assert answer(a, alice, valence=-1, arousal=1, seconds=0.4).pk


def test_an_item_is_leased_to_an_annotator_at_most_once(make_project, make_items):
    project, _, (alice,) = make_project(annotators=1)
    (item,) = make_items(project, 1)
    now = timezone.now()
    Assignment.objects.create(project=project, item=item, annotator=alice, expires_at=now + timedelta(minutes=5))
    refused(lambda: Assignment.objects.create(project=project, item=item, annotator=alice, expires_at=now + timedelta(minutes=9)))


def test_same_content_is_stored_once_per_project(make_project, make_items):
    project, _, _ = make_project()
    other, _, _ = make_project()
    (item,) = make_items(project, 1)
    refused(lambda: Item.objects.create(project=project, content_hash=item.content_hash, width=48, height=48, crop="x.png"))
    assert Item.objects.create(project=other, content_hash=item.content_hash, width=48, height=48, crop="x.png").pk


def test_gold_items_need_a_gold_label(make_project):
    project, _, _ = make_project()
    refused(lambda: Item.objects.create(project=project, content_hash="g", width=1, height=1, crop="g.png", is_gold=True))


def test_project_policy_ranges_and_unique_membership(make_project, make_user):
    project, lead, _ = make_project()
    refused(lambda: Project.objects.create(name="bad k", slug="bad-k", overlap_target=0))
    refused(lambda: Project.objects.create(name="bad gold", slug="bad-gold", gold_rate=1.5))
    refused(lambda: Membership.objects.create(project=project, user=lead, role=Role.ANNOTATOR))


def test_only_one_active_model_version(db):
    ModelVersion.objects.create(name="a", checkpoint="a.pt", is_active=True)
    refused(lambda: ModelVersion.objects.create(name="b", checkpoint="b.pt", is_active=True))
    assert ModelVersion.objects.create(name="c", checkpoint="c.pt").pk


def test_one_prediction_per_item_and_model_and_one_result_per_run(make_project, make_items):
    project, _, _ = make_project()
    (item,) = make_items(project, 1)
    model = ModelVersion.objects.create(name="m", checkpoint="m.pt")
    Prediction.objects.create(item=item, model_version=model, probs=[1.0], label="neutral", confidence=1.0)
    refused(lambda: Prediction.objects.create(item=item, model_version=model, probs=[1.0], label="neutral", confidence=1.0))
    run = QualityRun.objects.create(project=project)
    QualityItemResult.objects.create(run=run, item=item)
    refused(lambda: QualityItemResult.objects.create(run=run, item=item))


def test_accept_and_relabel_reviews_carry_a_label(make_project, make_items):
    project, lead, _ = make_project()
    (item,) = make_items(project, 1)
    refused(lambda: Review.objects.create(item=item, reviewer=lead, action="relabel"))
    assert Review.objects.create(item=item, reviewer=lead, action="exclude").pk
