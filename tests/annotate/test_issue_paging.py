"""The issue queue at crowd size: pages by key give the same rows as pages by offset, and large counts say they are estimates."""
import pytest

from annotate.selectors import estimates, issue_paging
from tests.annotate.db_support import postgres_only
from tests.annotate.test_issue_sources import facets, issues, mixed  # noqa: F401  (mixed: the fixture)

pytestmark = pytest.mark.django_db

# Off PostgreSQL every count is exact (estimates.count_results), so these have nothing to estimate there.
SAMPLED = postgres_only("the estimates sample with PostgreSQL's TABLESAMPLE and stop a walk with its statement_timeout")


def _walk_by_key(client, project, limit, **params):
    """Every row of the queue, page after page by next_after; the pages' has_more and offsets as the page sends them."""
    page = issues(client, project, limit=limit, **params)
    rows, offset = list(page["results"]), 0
    while page["has_more"]:
        offset += limit
        page = issues(client, project, limit=limit, offset=offset, after=page["next_after"], **params)
        assert page["results"][0]["rank"] == offset + 1
        rows += page["results"]
    assert page["next_after"] is None
    return rows


@pytest.mark.parametrize("params", [{"answers": "any"}, {"source": "model"}, {"source": "none"}, {}])
def test_pages_by_key_hold_the_same_rows_as_pages_by_offset(api_client, mixed, params):  # noqa: F811
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    everything = [r["item"] for r in issues(api_client, project, **params)["results"]]
    assert [r["item"] for r in _walk_by_key(api_client, project, 3, **params)] == everything
    # The unanswered faces (no consensus quality, sorted last) are reached by key too, past the last answered one.
    assert len(everything) == issues(api_client, project, **params)["count"]


def _walk_back(client, project, limit, last_page, offset, **params):
    """Every row before `last_page` (whose first row has rank offset + 1), page before page by each one's first face."""
    rows, page = [], last_page
    while offset > 0:
        offset = max(0, offset - limit)
        page = issues(client, project, limit=limit, offset=offset, before=page["results"][0]["item"], **params)
        assert page["has_more"] is True and page["results"][0]["rank"] == offset + 1
        rows = page["results"] + rows
    return rows


@pytest.mark.parametrize("params", [{"answers": "any"}, {"source": "model"}, {}])
def test_pages_before_a_face_walk_the_queue_back_to_its_start(api_client, mixed, params):  # noqa: F811
    """From the last page back to the first by before= (the previous-page button): the same rows, nulls included."""
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    everything = issues(api_client, project, **params)["results"]
    assert len(everything) >= 2
    offset = len(everything) - 1  # the last face alone on the last page
    last = issues(api_client, project, limit=1, offset=offset, **params)
    assert [r["item"] for r in _walk_back(api_client, project, 1, last, offset, **params)] == [r["item"] for r in everything[:-1]]


def test_offsets_alone_go_only_so_deep(api_client, mixed, monkeypatch):  # noqa: F811
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    monkeypatch.setattr(issue_paging, "MAX_OFFSET", 2)
    url = f"/api/projects/{project.pk}/issues/"
    response = api_client.get(url, {"offset": 3, "answers": "any"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "offset_too_deep"
    assert "after=" in response.json()["error"]["message"]
    first = issues(api_client, project, limit=1, answers="any")["results"][0]["item"]
    assert api_client.get(url, {"offset": 3, "answers": "any", "after": first}).status_code == 200  # a key: any depth
    both = api_client.get(url, {"after": first, "before": first})
    assert both.status_code == 400 and both.json()["error"]["code"] == "invalid_before"


def test_a_page_after_a_face_outside_the_run_is_refused(api_client, mixed):  # noqa: F811
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    response = api_client.get(f"/api/projects/{project.pk}/issues/", {"after": 10**9})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_after"


def test_small_queues_count_exactly(api_client, mixed):  # noqa: F811
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    page = issues(api_client, project)
    assert (page["count"], page["count_exact"], page["count_low"], page["count_high"]) == (5, True, 5, 5)
    assert (page["unanswered_left_out"], page["unanswered_exact"]) == (5, True)
    assert api_client.get(f"/api/projects/{project.pk}/issues/facets/").json()["estimated"] is False


@SAMPLED
def test_counts_past_the_cap_are_estimates_with_an_interval(api_client, mixed, monkeypatch):  # noqa: F811
    """With a cap of 2 the counts come from the block sample; a sample of every block must give the exact figure back."""
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    exact = issues(api_client, project, answers="any")["count"]
    monkeypatch.setattr(estimates, "EXACT_UP_TO", 2)
    page = issues(api_client, project, answers="any")
    assert page["count_exact"] is False
    assert page["count_low"] <= page["count"] == exact <= page["count_high"]
    crowd = issues(api_client, project, source="crowd")  # 4 faces: above the cap as well
    assert (crowd["count"], crowd["count_exact"]) == (4, False)
    assert issues(api_client, project, state="settled")["count_exact"] is True  # 1 face: under the cap, counted exactly


@SAMPLED
def test_facets_of_a_large_run_are_estimated_and_say_so(api_client, mixed, monkeypatch):  # noqa: F811
    project, lead, _, _, _ = mixed
    api_client.force_authenticate(lead)
    exact = facets(api_client, project, source="crowd")
    monkeypatch.setattr(estimates, "FACETS_EXACT_UP_TO", 5)
    body = api_client.get(f"/api/projects/{project.pk}/issues/facets/", {"source": "crowd"}).json()
    assert body["estimated"] is True
    assert body["facets"] == exact  # every block sampled: the scale is 1


def test_the_issue_page_offers_each_split_once_in_order(client, make_project, make_items):
    """The split choices come from a loose index scan: every split present, once, sorted, blanks left out."""
    from annotate.models import Item

    project, lead, _ = make_project(annotators=1)
    items = make_items(project, 7)
    for item, split in zip(items, ["Training", "PublicTest", "Training", "", "PrivateTest", "PublicTest", "Training"]):
        Item.objects.filter(pk=item.pk).update(split=split)
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/issues/")
    assert page.context["config"]["filters"]["splits"] == ["PrivateTest", "PublicTest", "Training"]


@SAMPLED
def test_a_count_that_takes_too_long_is_left_to_the_sample(mixed, monkeypatch):  # noqa: F811
    """A filter that must walk every face to find few (here each row sleeps) is estimated, with no floor under it."""
    from django.db.models import Q

    from annotate.models import QualityItemResult

    _, _, _, _, run = mixed
    run.summary = {**run.summary, "items": 10}  # a "large" run: its exact counts get EXACT_MS
    monkeypatch.setattr(estimates, "FACETS_EXACT_UP_TO", 5)
    monkeypatch.setattr(estimates, "EXACT_MS", 20)
    slow = QualityItemResult.objects.filter(run=run).extra(where=["pg_sleep(0.01) IS NOT NULL"])
    counted = estimates.count_results(slow, run=run, parts={"all": Q(), "none": Q(num_answers__gt=99)})
    assert (counted["all"].exact, counted["all"].value) == (False, 10)  # every block sampled: the figure itself
    assert (counted["none"].exact, counted["none"].value, counted["none"].low) == (False, 0, 0)
    assert counted["none"].high >= 0
    fast = estimates.count_results(QualityItemResult.objects.filter(run=run), run=run, parts={"all": Q()})
    assert fast["all"] == estimates.Estimate.of(10)


@SAMPLED
def test_a_queue_no_sampled_face_is_in_is_estimated_at_zero(mixed, monkeypatch):  # noqa: F811
    """The sample's hits come from one grouped pass over the queue: a queue with no face among them yields no row,
    which counts as none found rather than failing."""
    from django.db.models import Q

    from annotate.models import QualityItemResult

    _, _, _, _, run = mixed
    monkeypatch.setattr(estimates, "_capped_counts", lambda qs, parts, limited: {name: None for name in parts})
    nothing = QualityItemResult.objects.filter(run=run, num_answers__gt=99)
    counted = estimates.count_results(nothing, run=run, parts={"all": Q(), "answered": Q(num_answers__gt=0)})
    assert [(c.exact, c.value, c.low) for c in counted.values()] == [(False, 0, 0), (False, 0, 0)]
    some = estimates.count_results(QualityItemResult.objects.filter(run=run), run=run,
                                   parts={"all": Q(), "answered": Q(num_answers__gt=0)})
    assert (some["all"].value, some["answered"].value) == (10, 5)  # every block sampled: the figures themselves
