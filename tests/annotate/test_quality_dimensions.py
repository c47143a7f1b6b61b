"""A quality run's valence-arousal, action-unit and cross-check part (#18), through the database, crafted answers."""
import pytest
from django.db import transaction
from django.db.models import F

from annotate.models import (
    DimensionCheck, Item, JobKind, JobStatus, Project, QualityAnnotatorResult, QualityItemResult, QualityRun,
)
from annotate.services.jobs import job_enqueue
from tests.annotate.quality_support import answer, confident, model_version_make, predictions_make

LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
AUS = [1, 2, 4, 6, 12, 15]
TRUTH = [1, 3, 0] * 10  # happiness, sadness, neutral
NO_SMILE, WIDE_VALENCE = 0, 5  # a happiness face nobody sees AU12 on; a neutral face whose valence answers split


def _aus(truth: int, face: int, person: int) -> dict[str, int]:
    shown = {1: {6, 12}, 3: {4, 15}, 0: set()}[truth]
    if face == NO_SMILE:
        shown = set()
    if person == 2:
        shown = shown - {12}  # never marks AU12
    return {str(n): int(n in shown) for n in AUS}


@pytest.fixture
def analyse(django_capture_on_commit_callbacks):
    def run(project):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                job = job_enqueue(kind=JobKind.ANALYSE, project=project, params={})
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error
        return QualityRun.objects.get(pk=job.result["quality_run"])

    return run


@pytest.fixture
def crowd(make_project, make_items):
    """30 faces, 4 annotators agreeing on every class; annotator 3 answers valence 0.4 higher than the others,
    annotator 2 never marks AU12."""
    project, lead, people = make_project(annotators=4, valence_arousal=True)
    Project.objects.filter(pk=project.pk).update(action_units=AUS)
    project.refresh_from_db()
    items = make_items(project, len(TRUTH), split="PublicTest")
    predictions_make(model_version_make(), items, [confident(t, p=0.8) for t in TRUTH])
    base = {1: 0.5, 3: -0.5, 0: 0.0}
    for face, (item, truth) in enumerate(zip(items, TRUTH)):
        for person_index, person in enumerate(people):
            valence = base[truth] + 0.02 * ((face * 7 + person_index * 3) % 5 - 2)
            if face == WIDE_VALENCE:
                valence = (-0.9, 0.9)[person_index % 2]
            valence += 0.4 if person_index == 3 else 0.0
            answer(item, person, LABELS[truth], valence=round(min(valence, 1.0), 3),
                   arousal=round(0.1 * ((face + person_index) % 3), 3), action_units=_aus(truth, face, person_index))
    return project, people, items


def test_a_run_stores_valence_arousal_and_action_unit_quality_and_the_cross_checks(crowd, analyse):
    project, people, items = crowd
    run = analyse(project)
    figures = {r.annotator_id: r.dimensions for r in QualityAnnotatorResult.objects.filter(run=run)}
    offset = figures[people[3].pk]["valence"]
    assert offset["offset"] > 0.3 and offset["offset_bound"] > 0.2 and offset["shared"] == 30
    assert all(abs(figures[p.pk]["valence"]["offset"]) < 0.1 for p in people[:3])
    blind = figures[people[2].pk]["action_units"]["12"]
    assert blind["positives"] == 9 and blind["sensitivity"] == 0 and blind["sensitivity_upper"] < 0.6
    assert figures[people[0].pk]["action_units"]["12"]["sensitivity"] == 1
    assert set(figures[people[0].pk]) == {"valence", "arousal", "action_units", "self_consistency"}
    # Every answer is checkable (neutral against the whole happiness prototype, AU6 + AU12, which the project asks).
    assert figures[people[0].pk]["self_consistency"] == {
        "checkable": 30, "contradictions": 1, "share": pytest.approx(1 / 30, abs=1e-5),
        "share_lower": pytest.approx(0.0, abs=1e-3)}
    mine = figures[people[2].pk]["self_consistency"]  # their own happiness answers without AU12
    assert mine["contradictions"] == 10 and mine["share_lower"] > 0.1

    results = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    smile = results[items[NO_SMILE].pk]
    assert smile.consensus_label == "happiness" and smile.checks & DimensionCheck.EXPRESSION_VS_AU
    assert any("AU12 (lip corner puller)" in reason and "happiness" in reason for reason in smile.check_reasons)
    assert smile.action_units["12"] < 0.5 and set(smile.action_units) == {str(n) for n in AUS}
    wide = results[items[WIDE_VALENCE].pk]
    assert wide.checks & DimensionCheck.VALENCE_SPREAD and wide.valence_spread > 0.8
    happy = results[items[3].pk]
    assert happy.checks == 0 and happy.check_reasons == [] and happy.valence == pytest.approx(0.5, abs=0.05)
    assert happy.action_units["12"] > 0.9 and happy.arousal is not None and happy.arousal_spread is not None
    assert all(item.priority == pytest.approx(results[item.pk].active_learning_score, abs=1e-5)  # no AU in dispute
               for item in Item.objects.filter(project=project))

    dims = run.summary["dimensions"]
    assert set(dims) == {"valence", "arousal", "action_units", "checks", "checked_faces", "scatter"}
    assert dims["valence"]["faces"] == 30 and dims["valence"]["by_class"]["happiness"]["faces"] == 10
    assert dims["checked_faces"] == sum(1 for r in results.values() if r.checks) > 0
    assert dims["valence"]["alpha"] > 0.5 and dims["valence"]["by_class"]["anger"]["alpha"] is None
    table = dims["action_units"]["by_expression"]
    assert table["aus"] == AUS and table["classes"] == project.labels
    assert table["faces"][LABELS.index("happiness")] == 10
    assert table["share"][LABELS.index("happiness")][AUS.index(12)] == pytest.approx(0.9)
    assert table["share"][LABELS.index("sadness")][AUS.index(15)] == 1
    assert dims["action_units"]["per_au"]["12"]["name"] == "Lip corner puller"
    assert dims["checks"]["expression_vs_au"] == 1 and dims["checks"]["au_disputed"] == 0
    assert dims["checks"]["valence_spread"] >= 1 and set(dims["checks"]) == {
        "valence_spread", "arousal_spread", "au_disputed", "expression_vs_au", "expression_vs_valence"}
    scatter = dims["scatter"]
    assert scatter["sampled_from"] == 30 and len(scatter["item"]) == 30 and scatter["label"][0] == "happiness"
    assert scatter["item"][0] == items[0].pk and len(scatter["valence"]) == len(scatter["arousal"]) == 30
    flagged = QualityItemResult.objects.filter(run=run).alias(
        c=F("checks").bitand(int(DimensionCheck.EXPRESSION_VS_AU))).filter(checks__gt=0, c__gt=0)
    assert list(flagged.values_list("item_id", flat=True)) == [items[NO_SMILE].pk]


def test_a_correction_replaces_the_dimension_answers_too(crowd, analyse):
    import uuid

    from annotate.models import Annotation

    project, people, items = crowd
    original = Annotation.objects.get(item=items[3], annotator=people[0])
    Annotation.objects.create(project=project, item=items[3], annotator=people[0], label="happiness", valence=-1.0,
                              arousal=0.0, action_units={str(n): 0 for n in AUS}, replaces=original,
                              client_id=uuid.uuid4())
    run = analyse(project)
    result = QualityItemResult.objects.get(run=run, item=items[3])
    assert result.valence_spread > 0.5  # -1.0 among three answers near +0.5
    assert run.annotation_count == 120


def test_a_project_without_valence_arousal_or_action_units_writes_none_of_it(make_project, make_items, analyse):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 6)
    predictions_make(model_version_make(), items, [confident(i % 3) for i in range(6)])
    for i, item in enumerate(items):
        for person in people:  # stray values a form might send are not read by a project that does not ask
            answer(item, person, LABELS[i % 3], valence=0.5, action_units={"12": 1})
    run = analyse(project)
    assert "dimensions" not in run.summary
    assert all(r.dimensions == {} for r in QualityAnnotatorResult.objects.filter(run=run))
    rows = QualityItemResult.objects.filter(run=run)
    assert len(rows) == 6 and all(
        (r.valence, r.arousal, r.valence_spread, r.arousal_spread, r.action_units, r.checks, r.check_reasons)
        == (None, None, None, None, None, 0, []) for r in rows)


def test_a_face_with_a_disputed_action_unit_is_served_before_its_settled_class_alone_would_be(make_project, make_items,
                                                                                              analyse):
    """tests/ml/test_dimensions.py's crowd (10 annotators, 12 DISFA AUs at 6% errors; two newcomers split 1-1 on AU12
    of the second-last face) with unanimous classes: that face's priority rises to 1 - its least sure AU's
    confidence, above its ActiveLab score; a face with no issue keeps ActiveLab's."""
    import uuid

    from annotate.models import Annotation
    from tests.ml.test_dimensions import DISFA, _noisy_crowd

    item, who, present, n, m = _noisy_crowd()
    project, lead, people = make_project(annotators=m)
    Project.objects.filter(pk=project.pk).update(action_units=DISFA)
    items = make_items(project, n, split="PublicTest")
    predictions_make(model_version_make(), items, [confident(0, p=0.8)] * n)
    Annotation.objects.bulk_create([
        Annotation(project=project, item=items[i], annotator=people[a], label="neutral", client_id=uuid.uuid4(),
                   action_units={str(au): v for au, v in zip(DISFA, row)}, source="test")
        for i, a, row in zip(item.tolist(), who.tolist(), present.tolist())])
    run = analyse(project)
    result = QualityItemResult.objects.get(run=run, item=items[n - 2])
    assert result.checks & DimensionCheck.AU_DISPUTED
    assert any(reason.startswith("AU12 (lip corner puller): 1 present, 1 absent") for reason in result.check_reasons)
    sure = min(max(p, 1 - p) for p in result.action_units.values())
    priority = Item.objects.get(pk=items[n - 2].pk).priority
    assert priority == pytest.approx(max(1 - sure, result.active_learning_score), abs=1e-5) and 1 - sure > 0.2
    assert priority > result.active_learning_score
    settled = QualityItemResult.objects.filter(run=run, checks=0).first()
    assert Item.objects.get(pk=settled.item_id).priority == pytest.approx(settled.active_learning_score, abs=1e-5)
