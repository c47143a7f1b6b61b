"""Audit API and pages: figures, filters, paging, member actions, query counts, and who may see them."""
import pytest
from django.db import connection
from django.utils import timezone

from annotate.models import Annotation, Assignment, Item, Membership, QualityRun, Review
from annotate.selectors.quality import quality_run_latest
from tests.annotate.audit_seed import seed_audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def audited(make_project, make_items):
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 12)
    Item.objects.filter(pk__in=[i.pk for i in items[:6]]).update(split="Training")
    Item.objects.filter(pk__in=[i.pk for i in items[6:]]).update(split="PublicTest")
    Item.objects.filter(pk=items[0].pk).update(is_gold=True, gold_label="happiness")
    run = seed_audit(project, people, items, noise={0: 0.6}, runs=3)
    return project, lead, people, items, run


def api(client, project, path, **params):
    response = client.get(f"/api/projects/{project.pk}/{path}", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_overview_figures(api_client, audited):
    project, lead, people, items, run = audited
    Assignment.objects.create(project=project, item=items[1], annotator=people[0], expires_at=timezone.now() + timezone.timedelta(minutes=5))
    api_client.force_authenticate(lead)
    body = api(api_client, project, "overview/")
    progress = body["progress"]
    assert progress["items"] == 12 and progress["done"] == 12 and progress["live_leases"] == 1
    Item.objects.filter(pk=items[2].pk).update(extra_answers=1)  # a request for more answers raises its target
    assert api(api_client, project, "overview/")["progress"]["done"] == 11
    assert progress["by_answer_count"][3] == {"answers": 3, "items": 12}
    assert (progress["gold"], progress["gold_answered"], progress["gold_coverage"]) == (1, 1, 1.0)
    assert sum(c["items"] for c in body["class_balance"]) == 12
    assert [c["label"] for c in body["class_balance"]] == project.labels
    assert len(body["agreement_trend"]) == 3 and body["agreement_trend"][-1]["run"] == run.pk
    assert body["latest_run"]["krippendorff_alpha"] == run.summary["krippendorff_alpha"]
    hours = api(api_client, project, "answers-per-hour/", days=3)
    assert sum(h["answers"] for h in hours) == 36


def test_dashboard_reads_the_latest_run_without_its_annotator_snapshot(audited):
    from annotate.selectors.audit import quality_run_latest_brief

    project, _, _, _, run = audited
    run.summary = {**run.summary, "annotator_activity": {"watermark": 1, "rows": {"7": [1, 2]}}}
    run.save(update_fields=["summary"])
    brief = quality_run_latest_brief(project_id=project.pk)
    full = quality_run_latest(project_id=project.pk)
    assert brief.pk == full.pk == run.pk and "annotator_activity" in full.summary
    assert brief.summary == {k: v for k, v in full.summary.items() if k != "annotator_activity"}


def test_issues_are_worst_first_paged_and_carry_the_review_in_force(api_client, audited):
    project, lead, _, items, run = audited
    api_client.force_authenticate(lead)
    body = api(api_client, project, "issues/", limit=5)
    assert body["count"] == 12 and len(body["results"]) == 5
    qualities = [r["consensus_quality"] for r in body["results"]]
    assert qualities == sorted(qualities)
    worst = body["results"][0]
    assert worst["image"] == f"/api/items/{worst['item']}/image" and sum(worst["votes"].values()) == 3
    api_client.post(f"/api/projects/{project.pk}/reviews/", {"item": worst["item"], "action": "relabel", "label": "fear"}, format="json")
    again = api(api_client, project, "issues/", limit=5)["results"][0]
    assert (again["final_label"], again["state"], again["review"]["by"]) == ("fear", "relabelled", lead.username)
    second = api(api_client, project, "issues/", limit=5, offset=5)["results"]
    assert second[0]["rank"] == 6 and second[0]["consensus_quality"] >= qualities[-1]
    assert api(api_client, project, "issues/", state="settled")["count"] == 1
    assert api(api_client, project, "issues/", state="open")["count"] == 11


def test_issue_filters(api_client, audited):
    project, lead, people, items, run = audited
    api_client.force_authenticate(lead)
    results = {r.item_id: r for r in run.item_results.all()}
    label = next(iter(results.values())).consensus_label
    body = api(api_client, project, "issues/", label=label)
    assert body["count"] == sum(r.consensus_label == label for r in results.values())
    assert api(api_client, project, "issues/", split="Training")["count"] == 6
    assert api(api_client, project, "issues/", flag="label_issue")["count"] == sum(r.label_issue for r in results.values())
    assert api(api_client, project, "issues/", flag="model_disagrees")["count"] == sum(r.model_label != r.consensus_label for r in results.values())
    flagged = Annotation.objects.filter(project=project, flags__icontains='"occluded"').values("item_id").distinct().count()
    assert api(api_client, project, "issues/", flag="occluded")["count"] == flagged
    mine = api(api_client, project, "issues/", annotator=people[0].pk)
    assert mine["count"] == Annotation.objects.filter(annotator=people[0]).count()
    assert all(r["annotator_label"] for r in mine["results"])
    # A pair matches when its two labels lead the votes, or consensus and model disagree as that pair.
    a, b = "fear", "surprise"
    expected = set()
    for item_id, r in results.items():
        v = {k: n for k, n in r.votes.items() if n}
        others = [n for k, n in v.items() if k not in (a, b)]
        top_two = v.get(a, 0) > 0 and v.get(b, 0) > 0 and all(n <= min(v[a], v[b]) for n in others)
        if top_two or {r.consensus_label, r.model_label} == {a, b}:
            expected.add(item_id)
    got = {r["item"] for r in api(api_client, project, "issues/", pair=f"{a},{b}", limit=200)["results"]}
    assert got == expected
    assert api_client.get(f"/api/projects/{project.pk}/issues/", {"pair": "fear,smug"}).json()["error"]["code"] == "invalid_pair"


def test_bad_query_parameters_are_refused_and_out_of_range_ones_clamped(api_client, audited):
    project, lead, _, _, _ = audited
    api_client.force_authenticate(lead)
    for path, params in [("answers-per-hour/", {"days": "a week"}), ("issues/", {"limit": "ten"}), ("issues/", {"offset": "1.5"}),
                         ("issues/", {"annotator": "bob"}), ("issues/", {"state": "closed"}), ("issues/", {"flag": "x" * 33})]:
        response = api_client.get(f"/api/projects/{project.pk}/{path}", params)
        assert response.status_code == 400, (path, params)
        error = response.json()["error"]
        assert error["code"] == "invalid" and set(error["details"]) == set(params), error
    page = api(api_client, project, "issues/", limit=1000, offset=-5)
    assert (page["limit"], page["offset"], len(page["results"])) == (200, 0, 12)
    assert api(api_client, project, "issues/", limit="", annotator="", state="")["limit"] == 50
    assert sum(h["answers"] for h in api(api_client, project, "answers-per-hour/", days=1000)) == 36


def test_every_figure_reads_the_newest_run(api_client, audited):
    project, lead, people, _, run = audited
    run.refresh_from_db()
    newest = QualityRun.objects.create(project=project, summary={"krippendorff_alpha": 0.9})
    late_id = QualityRun.objects.create(project=project, summary={"krippendorff_alpha": 0.1})
    QualityRun.objects.filter(pk=newest.pk).update(created_at=run.created_at)  # a tie on time: the higher id wins
    QualityRun.objects.filter(pk=late_id.pk).update(created_at=run.created_at - timezone.timedelta(hours=1))
    assert quality_run_latest(project_id=project.pk) == newest
    api_client.force_authenticate(lead)
    assert api(api_client, project, "overview/")["latest_run"]["krippendorff_alpha"] == 0.9
    assert api(api_client, project, "annotators/")["run"] == newest.pk
    assert api(api_client, project, f"annotators/{people[0].pk}/confusion/")["run"] == newest.pk
    assert api_client.get(f"/api/projects/{project.pk}/issues/").json()["run"] == newest.pk


def test_annotators_table_confusion_and_member_actions(api_client, audited):
    project, lead, people, _, run = audited
    api_client.force_authenticate(lead)
    body = api(api_client, project, "annotators/")
    rows = {r["username"]: r for r in body["results"]}
    noisy = rows[people[0].username]
    assert body["results"][0]["username"] == people[0].username  # the noisiest annotator comes first
    assert noisy["answers"] == Annotation.objects.filter(annotator=people[0]).count()
    assert 1.2 <= noisy["median_seconds"] <= 6.0
    confusion = api(api_client, project, f"annotators/{people[0].pk}/confusion/")
    assert len(confusion["matrix"]) == len(project.labels) and sum(map(sum, confusion["matrix"])) == noisy["answers"]
    url = f"/api/projects/{project.pk}/members/{people[0].pk}/"
    assert api_client.patch(url, {"paused": True, "message": "Please slow down on fear vs surprise."}, format="json").status_code == 200
    m = Membership.objects.get(project=project, user=people[0])
    assert m.paused and m.message.startswith("Please")
    api_client.patch(url, {"excluded_from_consensus": True}, format="json")
    api_client.patch(url, {"excluded_from_consensus": False, "paused": False, "message": ""}, format="json")
    m.refresh_from_db()
    assert (m.paused, m.excluded_from_consensus, m.message) == (False, False, "")
    assert api_client.patch(f"/api/projects/{project.pk}/members/999999/", {"paused": True}, format="json").status_code == 404


def test_the_annotators_table_comes_a_page_at_a_time_and_finds_names(api_client, audited):
    """Pages of the table join up into the whole table in its order; q keeps the names that contain it."""
    project, lead, people, _, _ = audited
    api_client.force_authenticate(lead)
    whole = api(api_client, project, "annotators/")
    assert whole["count"] == len(whole["results"]) == len(people) and (whole["offset"], whole["limit"]) == (0, 100)
    pages = [api(api_client, project, "annotators/", offset=o, limit=3) for o in range(0, len(people), 3)]
    assert [r["user_id"] for p in pages for r in p["results"]] == [r["user_id"] for r in whole["results"]]
    assert all(p["count"] == len(people) for p in pages)
    wanted = people[2].username
    found = api(api_client, project, "annotators/", q=wanted.upper())
    assert found["count"] == 1 and [r["username"] for r in found["results"]] == [wanted]
    assert found["results"][0] == next(r for r in whole["results"] if r["username"] == wanted)  # the same row
    assert api(api_client, project, "annotators/", q="no-such-name")["count"] == 0


def test_item_answers_show_who_said_what(api_client, audited, make_project, make_items):
    project, lead, people, items, _ = audited
    api_client.force_authenticate(lead)
    answers = api(api_client, project, f"items/{items[0].pk}/answers/")
    assert len(answers) == 3 and {a["annotator__username"] for a in answers} <= {p.username for p in people}
    other, _, _ = make_project()
    (stranger,) = make_items(other, 1)
    assert api_client.get(f"/api/projects/{project.pk}/items/{stranger.pk}/answers/").status_code == 404


def test_agreement_report(api_client, audited):
    project, lead, _, _, run = audited
    api_client.force_authenticate(lead)
    body = api(api_client, project, "agreement/")
    assert sum(map(sum, body["annotators_vs_consensus"])) == 36
    assert sum(map(sum, body["model_vs_consensus"])) == 12
    assert body["confused_pairs"] == sorted(body["confused_pairs"], key=lambda p: -p["count"])
    per_class = {c["label"]: c for c in body["per_class"]}
    assert sum(c["model_items"] for c in per_class.values()) == 12


def test_no_quality_run_yet(api_client, make_project, make_items):
    project, lead, _ = make_project()
    make_items(project, 2)
    api_client.force_authenticate(lead)
    assert api_client.get(f"/api/projects/{project.pk}/issues/").json()["error"]["code"] == "no_quality_run"
    assert api(api_client, project, "overview/")["latest_run"] == {}
    assert api(api_client, project, "annotators/")["run"] is None
    for page in ("", "issues/", "annotators/", "agreement/"):
        api_client.force_login(lead)
        assert api_client.get(f"/projects/{project.pk}/{page}").status_code == 200


LEAD_GETS = ["overview/", "answers-per-hour/", "issues/", "annotators/", "agreement/", "annotators/{user}/confusion/",
             "items/{item}/reviews/", "items/{item}/answers/"]
PAGES = ["", "issues/", "annotators/", "agreement/"]


def test_query_counts_do_not_grow_with_data(api_client, client, audited, django_assert_max_num_queries):
    project, lead, people, items, _ = audited
    for item in items[:6]:
        Review.objects.create(item=item, reviewer=lead, action="exclude")
    api_client.force_authenticate(lead)
    client.force_login(lead)
    for path in LEAD_GETS:
        url = f"/api/projects/{project.pk}/" + path.format(user=people[0].pk, item=items[0].pk)
        # Off PostgreSQL the annotators' activity has no run snapshot and is recounted: one query more, for any data.
        with django_assert_max_num_queries(8 if connection.vendor == "postgresql" or path != "annotators/" else 9):
            assert api_client.get(url).status_code == 200, url
    with django_assert_max_num_queries(8):
        assert api_client.get(f"/api/projects/{project.pk}/issues/", {"annotator": people[0].pk, "pair": "fear,surprise", "flag": "occluded"}).status_code == 200
    with django_assert_max_num_queries(14):
        assert api_client.post(f"/api/projects/{project.pk}/reviews/", {"item": items[7].pk, "action": "accept"}, format="json").status_code == 201
    with django_assert_max_num_queries(8):
        assert api_client.patch(f"/api/projects/{project.pk}/members/{people[1].pk}/", {"paused": True}, format="json").status_code == 200
    for page in PAGES:
        with django_assert_max_num_queries(10):
            assert client.get(f"/projects/{project.pk}/{page}").status_code == 200


def test_only_leads_see_the_dashboard(api_client, client, audited, make_user):
    project, lead, people, items, _ = audited
    writes = [
        ("post", "reviews/", {"item": items[0].pk, "action": "exclude"}),
        ("patch", f"members/{people[1].pk}/", {"paused": True}),
    ]
    for who, status in ((people[0], 403), (make_user(), 404)):
        api_client.force_authenticate(who)
        client.force_login(who)
        for path in LEAD_GETS:
            url = f"/api/projects/{project.pk}/" + path.format(user=people[0].pk, item=items[0].pk)
            assert api_client.get(url).status_code == status, url
        for method, path, body in writes:
            assert getattr(api_client, method)(f"/api/projects/{project.pk}/{path}", body, format="json").status_code == status
        for page in PAGES:
            assert client.get(f"/projects/{project.pk}/{page}").status_code == status, page
    assert Review.objects.count() == 0 and not Membership.objects.get(project=project, user=people[1]).paused
    client.logout()
    assert client.get(f"/projects/{project.pk}/").status_code == 302
    api_client.force_authenticate(None)
    assert api_client.get(f"/api/projects/{project.pk}/overview/").status_code == 401


def test_answers_per_hour_counts_the_current_hour_live(api_client, audited):
    """Finished hours are cached; an answer arriving now still shows at once."""
    import uuid

    project, lead, people, items, _ = audited
    api_client.force_authenticate(lead)
    before = api(api_client, project, "answers-per-hour/", days=3)
    Annotation.objects.create(project=project, item=items[0], annotator=lead, label="fear", client_id=uuid.uuid4())
    after = api(api_client, project, "answers-per-hour/", days=3)
    assert sum(h["answers"] for h in after) == sum(h["answers"] for h in before) + 1
    assert after[-1]["answers"] >= 1
