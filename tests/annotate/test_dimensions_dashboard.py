"""#18 item 4 through the API: the dimension report, the VA scatter and its hover, per-annotator figures, and the
issue queue's dimension-check filter with its counts, on runs seeded with the storage contract's fields."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import DimensionCheck, Project, QualityItemResult
from annotate.selectors.audit_issues import IssueFilters, issue_queryset
from annotate.selectors.dimensions import annotator_dimension_row
from tests.annotate.dimension_seed import seed_dimensions

pytestmark = pytest.mark.django_db

AUS = [1, 2, 4, 5, 6, 12, 15, 26]


def dimension_project(make_project, *, va=True, aus=AUS, annotators=4):
    project, lead, people = make_project(annotators=annotators, valence_arousal=va)
    Project.objects.filter(pk=project.pk).update(action_units=aus)
    project.refresh_from_db()
    return project, lead, people


@pytest.fixture
def seeded(make_project, make_items, api_client):
    project, lead, people = dimension_project(make_project)
    items = make_items(project, 40)
    truth = {item.pk: ("happiness" if n < 24 else "sadness") for n, item in enumerate(items)}
    run = seed_dimensions(project, people, items, truth=truth, noise={k: 0.0 for k in range(4)}, va_offset={0: 0.4}, misses={1: 12},
                          spread_items={items[30].pk}, no_smile={items[0].pk}, sad_happy={items[1].pk}, scatter_limit=25)
    api_client.force_authenticate(lead)
    return project, lead, people, items, run, api_client


def test_report_reads_the_run_summary_with_what_each_figure_can_bear(seeded):
    project, _, _, items, run, client = seeded
    body = client.get(f"/api/projects/{project.pk}/dimensions/").json()
    assert body["run"] == run.id and body["asks"] == {"expression": True, "valence_arousal": True, "action_units": True}
    classes = [c["label"] for c in body["valence"]["by_class"]]
    assert classes == ["happiness", "sadness"]  # project label order, classes with faces only
    sadness = body["valence"]["by_class"][1]
    assert sadness["faces"] == 16 and sadness["thin"] is True  # fewer than THIN_CLASS_FACES faces
    assert body["valence"]["faces"] == 40 and body["valence"]["thin"] is False
    per_au = {a["au"]: a for a in body["action_units"]["per_au"]}
    assert list(per_au) == AUS and per_au[12]["name"] == "Lip corner puller"
    # No prototype of happiness or sadness holds AU2: marked only by the seed's 2 % noise, it reads as unstable.
    rare = [a for a in per_au.values() if a["prevalence"] < 0.05]
    assert rare and all("not stable" in a["alpha_note"] for a in rare)
    assert per_au[12]["alpha_note"] == "" and per_au[12]["prevalence"] > 0.3
    grid = body["action_units"]["by_expression"]
    assert grid["classes"] == ["happiness", "sadness"] and grid["faces"] == [24, 16] and grid["thin"] == [False, True]
    assert grid["share"][0][AUS.index(12)] > 0.8 and grid["share"][1][AUS.index(12)] < 0.1
    stored = QualityItemResult.objects.filter(run=run)
    assert body["checks"]["expression_vs_au"] == sum(1 for r in stored if r.checks & DimensionCheck.EXPRESSION_VS_AU) >= 1
    assert set(body["checks"]) == {"valence_spread", "arousal_spread", "au_disputed", "expression_vs_au", "expression_vs_valence"}


def test_scatter_is_the_stored_sample_and_the_hover_reads_the_face_answers(seeded):
    project, _, people, items, run, client = seeded
    scatter = client.get(f"/api/projects/{project.pk}/dimensions/scatter/").json()
    assert len(scatter["item"]) == 25 and scatter["sampled_from"] == 40 and scatter["asked"] is True
    assert set(scatter["label"]) <= {"happiness", "sadness"} and all(-1 <= v <= 1 for v in scatter["valence"])
    face = items[1].pk  # its valence answers were all strongly negative
    with CaptureQueriesContext(connection) as queries:
        answers = client.get(f"/api/projects/{project.pk}/items/{face}/dimension-answers/").json()
    assert len(answers) == 3 and all(a["valence"] < -0.5 for a in answers)
    assert {a["annotator__username"] for a in answers} <= {p.username for p in people}
    assert set(answers[0]["action_units"]) == {str(n) for n in AUS}
    reads = [q["sql"] for q in queries.captured_queries if "annotate_annotation" in q["sql"]]
    assert len(reads) == 1 and '"item_id" =' in reads[0]  # one read on annotation_item_idx, no project scan


def test_annotator_figures_say_what_the_evidence_bears(seeded):
    project, _, people, _, run, client = seeded
    body = client.get(f"/api/projects/{project.pk}/annotators/dimensions/").json()
    offset = body["results"][str(people[0].pk)]["valence"]
    assert offset["offset"] > 0.25 and offset["offset_evidence"] == "found" and offset["offset_bound"] > 0
    assert abs(body["results"][str(people[2].pk)]["valence"]["offset"]) < 0.15
    low = body["results"][str(people[1].pk)]["action_units"]["low_sensitivity"]
    assert [a["au"] for a in low] == [12] and low[0]["sensitivity"] == 0 and low[0]["name"] == "Lip corner puller"
    assert body["results"][str(people[2].pk)]["action_units"]["low_sensitivity"] == []
    assert body["results"][str(people[0].pk)]["self_consistency"]["checkable"] > 0


def test_a_figure_without_evidence_says_so():
    row = annotator_dimension_row({
        "valence": {"offset": 0.04, "offset_bound": 0.0, "noise": 0.1, "noise_lower": 0.07, "shared": 40},
        "arousal": {"offset": None, "offset_bound": None, "noise": None, "noise_lower": None, "shared": 2},
        "action_units": {"12": {"sensitivity": 0.5, "sensitivity_upper": 0.95, "positives": 4},
                         "6": {"sensitivity": 0.1, "sensitivity_upper": 0.3, "positives": 30},
                         "1": {"sensitivity": None, "sensitivity_upper": None, "positives": 1}},
        "self_consistency": {"checkable": 2, "contradictions": 1, "share": None, "share_lower": None},
    })
    assert row["valence"]["offset_evidence"] == "within_noise" and row["arousal"]["offset_evidence"] == "none"
    assert row["arousal"]["noise_evidence"] == "none" and row["arousal"]["shared"] == 2
    # Half of 4 is no finding (its bound reaches 0.95); a tenth of 30 is.
    assert [a["au"] for a in row["action_units"]["low_sensitivity"]] == [6] and row["action_units"]["judged_aus"] == 2
    assert row["self_consistency"]["evidence"] == "none" and row["self_consistency"]["checkable"] == 2
    contradicts = lambda share, lower: annotator_dimension_row(  # noqa: E731
        {"self_consistency": {"checkable": 30, "contradictions": 12, "share": share, "share_lower": lower}})["self_consistency"]["evidence"]
    assert contradicts(0.4, 0.2) == "found" and contradicts(0.07, 0.004) == "within_noise"  # a bound under 5 points: no finding


def test_issue_filter_by_check_with_reasons_and_counts(seeded):
    project, _, _, items, run, client = seeded
    stored = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    flagged = {i for i, r in stored.items() if r.checks & DimensionCheck.EXPRESSION_VS_AU}
    page = client.get(f"/api/projects/{project.pk}/issues/", {"check": "expression_vs_au"}).json()
    assert {r["item"] for r in page["results"]} == flagged and page["count"] == len(flagged) and items[0].pk in flagged
    row = next(r for r in page["results"] if r["item"] == items[0].pk)
    assert "expression_vs_au" in row["checks"] and any("AU12" in reason for reason in row["check_reasons"])
    assert row["valence"] == stored[items[0].pk].valence and row["action_units"]["12"] == 0
    sad = client.get(f"/api/projects/{project.pk}/issues/", {"check": "expression_vs_valence"}).json()
    assert items[1].pk in {r["item"] for r in sad["results"]}
    anything = client.get(f"/api/projects/{project.pk}/issues/", {"check": "any"}).json()
    assert anything["count"] == sum(1 for r in stored.values() if r.checks)
    facets = client.get(f"/api/projects/{project.pk}/issues/facets/").json()["facets"]["check"]
    assert facets == {"any": anything["count"], **run.summary["dimensions"]["checks"]}
    assert run.summary["dimensions"]["checked_faces"] == anything["count"]  # the run recorded it; the facet reads it
    run.summary = {**run.summary, "dimensions": {k: v for k, v in run.summary["dimensions"].items() if k != "checked_faces"}}
    run.save(update_fields=["summary"])  # a run from before it was recorded: counted instead
    assert client.get(f"/api/projects/{project.pk}/issues/facets/").json()["facets"]["check"] == facets
    # With another filter set the counts follow it (one aggregate over the checked faces).
    happy = client.get(f"/api/projects/{project.pk}/issues/facets/", {"label": "sadness"}).json()["facets"]["check"]
    assert happy["expression_vs_au"] == sum(1 for r in stored.values() if r.checks & DimensionCheck.EXPRESSION_VS_AU and r.consensus_label == "sadness")
    assert client.get(f"/api/projects/{project.pk}/issues/", {"check": "nonsense"}).status_code == 400


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the partial index's plan is PostgreSQL's")
def test_check_filter_walks_the_partial_index(seeded):
    """The filter carries the partial index's predicate (checks > 0), so the queue's page reads quality_item_checks_idx."""
    project, _, _, _, run, _ = seeded
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_qualityitemresult")
        cursor.execute("SET enable_seqscan = off")  # a 40-face table is read whole otherwise
    qs = issue_queryset(project=project, run=run, filters=IssueFilters(check="au_disputed"))
    plan = qs.values_list("id", flat=True)[:50].explain()
    assert "quality_item_checks_idx" in plan, plan


def test_projects_without_dimensions_get_no_figures(make_project, make_items, api_client):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 6)
    seed_dimensions(project, people, items)
    api_client.force_authenticate(lead)
    body = api_client.get(f"/api/projects/{project.pk}/dimensions/").json()
    assert body["asks"] == {"expression": True, "valence_arousal": False, "action_units": False}
    assert not {"valence", "arousal", "action_units", "checks"} & set(body)
    assert api_client.get(f"/api/projects/{project.pk}/dimensions/scatter/").json()["item"] == []
    assert "check" not in api_client.get(f"/api/projects/{project.pk}/issues/facets/").json()["facets"]
    assert api_client.get(f"/api/projects/{project.pk}/annotators/dimensions/").json()["results"] == {}


def test_va_only_project_offers_va_checks_only(make_project, make_items, api_client):
    project, lead, people = dimension_project(make_project, aus=[], annotators=3)
    items = make_items(project, 6)
    seed_dimensions(project, people, items)
    api_client.force_authenticate(lead)
    body = api_client.get(f"/api/projects/{project.pk}/dimensions/").json()
    assert "action_units" not in body and body["valence"]["faces"] == 6
    assert set(body["checks"]) == {"valence_spread", "arousal_spread", "expression_vs_valence"}
