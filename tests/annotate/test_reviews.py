"""Reviews: every decision is a new row with who and when; the latest is in force; undo is a later review."""
import pytest

from annotate.models import Item, QualityRun, Review
from annotate.services.priorities import BOOSTED_PRIORITY
from annotate.services.reviews import review_create, review_undo
from tests.annotate.audit_seed import seed_audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def audited(make_project, make_items):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 5)
    run = seed_audit(project, people, items)
    return project, lead, people, items, run


def post(client, project, **body):
    return client.post(f"/api/projects/{project.pk}/reviews/", body, format="json")


def test_accept_takes_the_consensus_and_records_who_and_when(api_client, audited):
    project, lead, _, items, run = audited
    api_client.force_authenticate(lead)
    response = post(api_client, project, item=items[0].pk, action="accept")
    assert response.status_code == 201, response.json()
    body = response.json()
    consensus = run.item_results.get(item=items[0]).consensus_label
    assert body["final_label"] == consensus and body["state"] == "accepted"
    review = Review.objects.get(pk=body["review"])
    assert (review.reviewer, review.action, review.label, review.quality_run) == (lead, "accept", consensus, run)
    assert review.created_at is not None


def test_relabel_exclude_include_and_request_more_change_the_item(api_client, audited):
    project, lead, _, items, _ = audited
    api_client.force_authenticate(lead)
    item = items[1]
    assert post(api_client, project, item=item.pk, action="relabel", label="fear").json()["final_label"] == "fear"
    body = post(api_client, project, item=item.pk, action="exclude").json()
    assert body["excluded"] is True and body["final_label"] is None and body["state"] == "excluded"
    assert Item.objects.get(pk=item.pk).excluded
    assert post(api_client, project, item=item.pk, action="include").json()["excluded"] is False
    body = post(api_client, project, item=item.pk, action="request_more").json()
    assert body["extra_answers"] == 1 and body["priority"] >= BOOSTED_PRIORITY
    assert Review.objects.filter(item=item).count() == 4  # append-only: nothing overwritten


def test_undo_appends_a_review_that_restores_the_previous_state(api_client, audited):
    project, lead, _, items, _ = audited
    api_client.force_authenticate(lead)
    item = items[2]
    post(api_client, project, item=item.pk, action="relabel", label="anger")
    post(api_client, project, item=item.pk, action="exclude")
    body = post(api_client, project, item=item.pk, action="undo").json()
    assert (body["state"], body["final_label"], body["excluded"]) == ("relabelled", "anger", False)
    body = post(api_client, project, item=item.pk, action="undo").json()  # undoing the undo: excluded again
    assert body["excluded"] is True
    history = api_client.get(f"/api/projects/{project.pk}/items/{item.pk}/reviews/").json()
    assert [r["action"] for r in history] == ["exclude", "relabel", "exclude", "relabel"]
    assert history[0]["note"].startswith("undo of review") and history[0]["reviewer__username"] == lead.username


def test_undo_of_a_first_decision_and_of_request_more(audited):
    project, lead, _, items, run = audited
    item = items[3]
    review_create(item=item, reviewer=lead, action="request_more")
    item.refresh_from_db()
    assert item.extra_answers == 1 and item.priority == BOOSTED_PRIORITY
    review = review_undo(item=item, reviewer=lead)
    item.refresh_from_db()
    assert review.action == "include" and review.label == ""
    assert item.extra_answers == 0
    assert item.priority == run.item_results.get(item=item).active_learning_score


def test_invalid_reviews_are_refused(api_client, audited, make_project, make_items):
    project, lead, _, items, _ = audited
    other, _, _ = make_project()
    (stranger,) = make_items(other, 1)
    api_client.force_authenticate(lead)
    assert post(api_client, project, item=items[0].pk, action="relabel", label="smug").json()["error"]["code"] == "invalid_label"
    assert post(api_client, project, item=items[0].pk, action="relabel").json()["error"]["code"] == "label_required"
    assert post(api_client, project, item=items[0].pk, action="undo").json()["error"]["code"] == "nothing_to_undo"
    assert post(api_client, project, item=items[0].pk, action="delete").status_code == 400
    assert post(api_client, project, item=stranger.pk, action="exclude").status_code == 404
    foreign_run = QualityRun.objects.create(project=other)
    assert post(api_client, project, item=items[0].pk, action="accept", quality_run=foreign_run.pk).status_code == 404
    assert Review.objects.count() == 0


def test_accept_without_a_quality_run_is_refused(api_client, make_project, make_items):
    project, lead, _ = make_project()
    (item,) = make_items(project, 1)
    api_client.force_authenticate(lead)
    assert post(api_client, project, item=item.pk, action="accept").json()["error"]["code"] == "no_consensus"
