"""The issues view's label sources, its new filters and their counts, and gold faces set from it, through the HTTP API."""
import pytest
from django.utils import timezone

from annotate.models import AuditEvent, Item, QualityItemResult, QualityRun, Review
from annotate.selectors.issue_sources import SOURCES
from tests.annotate.quality_support import answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(make_project, make_items):
    """Ten faces of one run, each kind the view must tell apart (k = 3):

    0-2 crowd, 3 answers (0 and 1 agree with their reference, 2 does not); 3 crowd, 1 answer, no reference;
    4 crowd, 2 answers agreeing with its reference, then relabelled by the lead (review); 5 reference only (FER+ votes too); 6 reference only;
    7-8 model only (no answers, no reference); 9 nothing at all.
    """
    project, lead, people = make_project(annotators=2, overlap_target=3)
    items = make_items(project, 10)
    refs = {0: "happiness", 1: "fear", 2: "anger", 4: "sadness", 5: "surprise", 6: "neutral"}
    for i, label in refs.items():
        Item.objects.filter(pk=items[i].pk).update(reference_label=label)
    Item.objects.filter(pk=items[5].pk).update(reference_votes={"surprise": 6, "fear": 3, "neutral": 1, "anger": 0})
    run = QualityRun.objects.create(project=project, probability_source="held-out-model")
    rows = [
        (3, {"happiness": 3}, "happiness", 0.9, "happiness"), (3, {"fear": 2, "surprise": 1}, "fear", 0.4, "surprise"),
        (3, {"disgust": 2, "anger": 1}, "disgust", 0.2, "anger"), (1, {"neutral": 1}, "neutral", 0.5, "neutral"),
        (2, {"sadness": 1, "neutral": 1}, "sadness", 0.3, "neutral"), (0, {}, "surprise", 0.6, "surprise"),
        (0, {}, "neutral", 0.1, "sadness"), (0, {}, "", None, "happiness"), (0, {}, "", None, "anger"), (0, {}, "", None, ""),
    ]
    confidence = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.45, 0.35, 0.55, None]
    QualityItemResult.objects.bulk_create([
        QualityItemResult(run=run, item=item, num_answers=n, votes=votes, consensus_label=consensus, consensus_quality=quality,
                          model_label=model, model_confidence=conf, label_issue=bool(quality is not None and quality < 0.35))
        for item, (n, votes, consensus, quality, model), conf in zip(items, rows, confidence)
    ])
    Review.objects.create(item=items[4], reviewer=lead, action="relabel", label="anger")
    return project, lead, people, items, run


def issues(client, project, **params):
    response = client.get(f"/api/projects/{project.pk}/issues/", {"limit": 200, **params})
    assert response.status_code == 200, response.content
    return response.json()


def facets(client, project, **params):
    response = client.get(f"/api/projects/{project.pk}/issues/facets/", params)
    assert response.status_code == 200, response.content
    return response.json()["facets"]


def test_each_face_says_where_its_label_comes_from(api_client, mixed):
    project, lead, _, items, _ = mixed
    api_client.force_authenticate(lead)
    rows = {r["item"]: r for r in issues(api_client, project, answers="any")["results"]}
    expected = ["crowd", "crowd", "crowd", "crowd", "review", "reference", "reference", "model", "model", "none"]
    assert [rows[i.pk]["label_source"] for i in items] == expected
    assert [rows[i.pk]["current_label"] for i in items] == [
        "happiness", "fear", "disgust", "neutral", "anger", "surprise", "neutral", "happiness", "anger", ""]
    assert (rows[items[4].pk]["unreviewed_source"], rows[items[4].pk]["unreviewed_label"]) == ("crowd", "sadness")
    assert all(rows[i.pk]["unreviewed_source"] == rows[i.pk]["label_source"] for i in items if i != items[4])
    assert [rows[i.pk]["reference_agrees"] for i in items[:5]] == [True, True, False, None, True]
    assert rows[items[5].pk]["reference_agrees"] is None  # no answers: nothing to agree with
    assert rows[items[5].pk]["reference_votes"] == {"surprise": 6, "fear": 3, "neutral": 1}
    assert rows[items[0].pk]["reference_votes"] == {} and rows[items[0].pk]["reference_label"] == "happiness"
    # Undoing the relabel puts the crowd back in force.
    api_client.post(f"/api/projects/{project.pk}/reviews/", {"item": items[4].pk, "action": "undo"}, format="json")
    again = {r["item"]: r for r in issues(api_client, project)["results"]}
    assert (again[items[4].pk]["label_source"], again[items[4].pk]["current_label"]) == ("crowd", "sadness")
    # An exclusion is no label: the face falls back to its consensus.
    api_client.post(f"/api/projects/{project.pk}/reviews/", {"item": items[0].pk, "action": "exclude"}, format="json")
    assert {r["item"]: r for r in issues(api_client, project)["results"]}[items[0].pk]["label_source"] == "crowd"


def test_faces_with_no_answers_are_not_ranked_among_disagreements_by_default(api_client, mixed):
    project, lead, _, items, _ = mixed
    api_client.force_authenticate(lead)
    body = issues(api_client, project)
    assert body["count"] == 5 and body["unanswered_left_out"] == 5
    assert [r["item"] for r in body["results"]] == [items[i].pk for i in (2, 4, 1, 3, 0)]  # worst consensus quality first
    assert all(r["num_answers"] > 0 for r in body["results"])
    everything = issues(api_client, project, answers="any")
    assert everything["count"] == 10 and everything["unanswered_left_out"] == 0
    # The model-only filter shows the unanswered faces without a reference, least confident model first.
    model_only = issues(api_client, project, source="model")
    assert [r["item"] for r in model_only["results"]] == [items[7].pk, items[8].pk]
    assert [r["item"] for r in issues(api_client, project, source="reference")["results"]] == [items[6].pk, items[5].pk]
    # Other filters keep the default and say how many unanswered faces they left out.
    gold_less = issues(api_client, project, label="neutral")
    assert (gold_less["count"], gold_less["unanswered_left_out"]) == (1, 1)


def test_filters_by_reference_agreement_answers_and_gold(api_client, mixed):
    project, lead, _, items, _ = mixed
    api_client.force_authenticate(lead)
    ids = lambda **p: {r["item"] for r in issues(api_client, project, **p)["results"]}  # noqa: E731
    pk = lambda *idx: {items[i].pk for i in idx}  # noqa: E731
    assert ids(reference="set") == pk(0, 1, 2, 4)
    assert ids(reference="set", answers="any") == pk(0, 1, 2, 4, 5, 6)
    assert ids(reference="none", answers="any") == pk(3, 7, 8, 9)
    assert ids(reference="fear") == pk(1)
    assert ids(agreement="agree") == pk(0, 1, 4) and ids(agreement="disagree") == pk(2)
    assert ids(answers="0") == pk(5, 6, 7, 8, 9) and ids(answers="1") == pk(3) and ids(answers="2") == pk(4)
    assert ids(answers="3+") == pk(0, 1, 2) and ids(answers="2+") == pk(0, 1, 2, 4)
    assert ids(source="review") == pk(4) and ids(source="crowd") == pk(0, 1, 2, 3) and ids(source="none") == pk(9)
    Item.objects.filter(pk=items[1].pk).update(is_gold=True, gold_label="fear")
    assert ids(gold="gold") == pk(1) and ids(gold="not_gold") == pk(0, 2, 3, 4)
    row = next(r for r in issues(api_client, project)["results"] if r["item"] == items[1].pk)
    assert (row["is_gold"], row["gold_label"]) == (True, "fear")
    for params, code in [({"source": "crowds"}, "invalid"), ({"answers": "lots"}, "invalid_answers"), ({"answers": "-1"}, "invalid_answers"),
                         ({"reference": "smug"}, "invalid_reference"), ({"agreement": "maybe"}, "invalid"), ({"gold": "yes"}, "invalid")]:
        response = api_client.get(f"/api/projects/{project.pk}/issues/", params)
        assert response.status_code == 400 and response.json()["error"]["code"] == code, (params, response.content)


@pytest.mark.parametrize("base", [{}, {"answers": "any"}, {"reference": "set"}, {"source": "model"}, {"label": "neutral"},
                                  {"answers": "0", "gold": "not_gold"}, {"agreement": "disagree", "state": "open"},
                                  {"source": "crowd", "reference": "set", "gold": "not_gold", "agreement": "agree",
                                   "answers": "3+"}])
def test_the_count_beside_each_choice_is_what_picking_it_shows(api_client, mixed, base):
    project, lead, _, items, _ = mixed
    Item.objects.filter(pk__in=[items[1].pk, items[7].pk]).update(is_gold=True, gold_label="fear")
    api_client.force_authenticate(lead)
    got = facets(api_client, project, **base)
    assert set(got) == {"source", "answers", "reference", "agreement", "gold"}
    assert set(got["source"]) == {"", *SOURCES} and set(got["answers"]) == {"", "any", "0", "1", "2", "3+"}
    assert set(got["reference"]) == {"", "set", "none", *project.labels}
    for facet, counts in got.items():
        for choice, count in counts.items():
            params = {**base, facet: choice}
            assert issues(api_client, project, **params)["count"] == count, (facet, choice, params)


@pytest.mark.parametrize("base", [{}, {"source": "crowd", "reference": "set"}, {"answers": "any", "gold": "gold"}])
def test_facet_counts_under_an_answer_flag_are_what_picking_each_choice_shows(api_client, mixed, base):
    """The facets count every filter in one pass over the faces; a flag only a replaced answer carried counts for
    nothing."""
    project, lead, people, items, _ = mixed
    Item.objects.filter(pk__in=[items[1].pk, items[4].pk]).update(is_gold=True, gold_label="fear")
    for i in (0, 2, 4, 6):
        answer(items[i], people[0], "fear", flags=["occluded"])
    replaced = answer(items[1], people[0], "fear", flags=["occluded"])
    answer(items[1], people[0], "anger", replaces=replaced)
    api_client.force_authenticate(lead)
    got = facets(api_client, project, flag="occluded", **base)
    assert issues(api_client, project, flag="occluded", answers="any")["count"] == 4
    for facet, counts in got.items():
        for choice, count in counts.items():
            params = {**base, "flag": "occluded", facet: choice}
            assert issues(api_client, project, **params)["count"] == count, (facet, choice, params)


def test_lead_marks_and_removes_gold_audited_and_others_may_not(api_client, mixed, make_user):
    project, lead, people, items, _ = mixed
    url = f"/api/projects/{project.pk}/items/{items[2].pk}/gold/"
    for who, status in ((people[0], 403), (make_user(), 404), (None, 401)):
        api_client.force_authenticate(who)
        assert api_client.put(url, {"label": "anger"}, format="json").status_code == status
        assert api_client.delete(url).status_code == status
    assert not Item.objects.get(pk=items[2].pk).is_gold and not AuditEvent.objects.filter(action__startswith="item.gold").exists()

    api_client.force_authenticate(lead)
    body = api_client.put(url, {"label": "anger"}, format="json").json()
    assert body == {"item": items[2].pk, "is_gold": True, "gold_label": "anger", "changed": True}
    assert api_client.put(url, {"label": "anger"}, format="json").json()["changed"] is False  # a retry records nothing
    assert api_client.put(url, {"label": "disgust"}, format="json").json()["gold_label"] == "disgust"
    bad = api_client.put(url, {"label": "smug"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_label"
    assert api_client.put(url, {}, format="json").status_code == 400
    assert Item.objects.get(pk=items[2].pk).gold_label == "disgust"  # bad input lost nothing
    row = next(r for r in issues(api_client, project, gold="gold")["results"])
    assert (row["item"], row["is_gold"], row["gold_label"]) == (items[2].pk, True, "disgust")

    removed = api_client.delete(url).json()
    assert removed == {"item": items[2].pk, "is_gold": False, "gold_label": "", "changed": True}
    assert api_client.delete(url).json()["changed"] is False
    events = list(AuditEvent.objects.filter(project=project, action__startswith="item.gold").order_by("id").values_list("action", "target", "actor_id", "details"))
    assert events == [
        ("item.gold_set", f"item:{items[2].pk}", lead.pk, {"label": "anger", "previous_label": None}),
        ("item.gold_set", f"item:{items[2].pk}", lead.pk, {"label": "disgust", "previous_label": "anger"}),
        ("item.gold_removed", f"item:{items[2].pk}", lead.pk, {"previous_label": "disgust"}),
    ]


def test_gold_refused_on_erased_faces_and_items_of_other_projects(api_client, mixed, make_project, make_items):
    project, lead, _, items, _ = mixed
    other_project, _, _ = make_project()
    stranger = make_items(other_project, 1)[0]
    api_client.force_authenticate(lead)
    response = api_client.put(f"/api/projects/{project.pk}/items/{stranger.pk}/gold/", {"label": "fear"}, format="json")
    assert response.status_code == 404
    Item.objects.filter(pk=items[0].pk).update(erased_at=timezone.now())
    response = api_client.put(f"/api/projects/{project.pk}/items/{items[0].pk}/gold/", {"label": "fear"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "item_erased"
    assert not Item.objects.get(pk=items[0].pk).is_gold and not Item.objects.get(pk=stranger.pk).is_gold


def test_issue_page_and_facets_query_counts_stay_flat(api_client, mixed, django_assert_max_num_queries):
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    with django_assert_max_num_queries(8):
        issues(api_client, project, reference="set", agreement="disagree", gold="not_gold")
    with django_assert_max_num_queries(10):
        facets(api_client, project, source="crowd")


def test_issues_page_says_when_gold_faces_are_the_evaluation_set(client, mixed):
    project, lead, people, _, _ = mixed
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/issues/")
    assert page.status_code == 200 and page.context["config"]["gold_evaluates_models"] is False
    for person in people:  # the annotator filter's choices, joined in the view
        assert f'<option value="{person.pk}">{person.username}</option>' in page.content.decode()
    assert [s["value"] for s in page.context["config"]["filters"]["sources"]] == list(SOURCES)
    assert [a["value"] for a in page.context["config"]["filters"]["answers"]] == ["0", "1", "2", "3+"]
    project.evaluation_set = {"kind": "gold"}
    project.save(update_fields=["evaluation_set"])
    assert client.get(f"/projects/{project.pk}/issues/").context["config"]["gold_evaluates_models"] is True
