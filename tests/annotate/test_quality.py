"""Quality runs through the services and the API, with crafted answers and predictions (tasks run in-process)."""
import pytest
from django.db import transaction

from annotate.models import Item, Job, JobKind, JobStatus, Membership, QualityAnnotatorResult, QualityItemResult, QualityRun
from annotate.services.jobs import job_enqueue
from tests.annotate.quality_support import answer, confident, model_version_make, predictions_make

LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


@pytest.fixture
def crowd(make_project, make_items):
    """12 items answered by 4 annotators (the last one a spammer), item 0 a gold item, confident predictions."""
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 12, split="PublicTest")
    truth = [i % 4 for i in range(12)]
    Item.objects.filter(pk=items[0].pk).update(is_gold=True, gold_label=LABELS[truth[0]])
    version = model_version_make()
    predictions_make(version, items, [confident(t, p=0.7) for t in truth])
    spam = [5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7]
    for i, item in enumerate(items):
        for person in people[:3]:
            answer(item, person, LABELS[truth[i]])
        answer(item, people[3], LABELS[spam[i]])
    return project, lead, people, items, truth


@pytest.fixture
def analyse(django_capture_on_commit_callbacks):
    """analyse(project, **params) -> the finished Job (the task runs in-process on commit)."""

    def run(project, **params) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                job = job_enqueue(kind=JobKind.ANALYSE, project=project, params=params)
        job.refresh_from_db()
        return job

    return run


def test_a_run_writes_consensus_annotators_priorities_and_summary(crowd, analyse):
    project, lead, people, items, truth = crowd
    job = analyse(project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    assert run.job_id == job.pk and job.status == JobStatus.SUCCEEDED
    assert run.annotation_count == 48 and run.prediction_count == 12 and len(run.annotations_sha256) == 64
    assert run.probability_source == "held-out-model"
    results = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    assert [results[item.pk].consensus_label for item in items] == [LABELS[t] for t in truth]
    assert results[items[1].pk].votes == {LABELS[truth[1]]: 3, "fear": 1}
    annotators = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run)}
    spammer = annotators[people[3].pk]
    assert min(annotators.values(), key=lambda r: r.quality).annotator_id == people[3].pk
    assert spammer.agreement == 0 and spammer.gold_answers == 1 and spammer.gold_accuracy == 0
    assert annotators[people[0].pk].gold_accuracy == 1 and annotators[people[0].pk].agreement == 1
    assert len(spammer.confusion) == len(project.labels) and sum(map(sum, spammer.confusion)) == 12
    assert spammer.confusion[0][5] == 1  # consensus neutral, answered disgust (item 0)
    for key in ("krippendorff_alpha", "fleiss_kappa", "per_class", "class_balance", "near_duplicates", "outliers", "probability_source"):
        assert key in run.summary
    assert run.summary["class_balance"]["neutral"] == 3
    priorities = dict(Item.objects.filter(project=project).values_list("id", "priority"))
    assert priorities == pytest.approx({item_id: r.active_learning_score for item_id, r in results.items()}, abs=1e-5)


def test_a_rerun_with_the_same_inputs_changes_nothing_and_a_new_answer_makes_a_new_run(crowd, analyse):
    project, lead, people, items, truth = crowd
    first = analyse(project)
    priorities = dict(Item.objects.values_list("id", "priority"))
    Item.objects.filter(pk=items[2].pk).update(priority=0.123)  # would be overwritten by a new run
    second = analyse(project)
    assert second.status == JobStatus.SUCCEEDED and second.result == {"quality_run": first.result["quality_run"], "reused": True}
    assert QualityRun.objects.count() == 1 and QualityItemResult.objects.count() == 12
    assert Item.objects.get(pk=items[2].pk).priority == 0.123
    answer(items[2], lead, "fear")
    third = analyse(project)
    assert third.result["reused"] is False and QualityRun.objects.count() == 2
    assert Item.objects.get(pk=items[2].pk).priority != 0.123
    assert priorities  # the first run wrote priorities for every item
    latest = QualityRun.objects.get(pk=third.result["quality_run"])
    assert latest.annotation_watermark > QualityRun.objects.get(pk=first.result["quality_run"]).annotation_watermark


def test_corrections_and_excluded_annotators_are_applied(crowd, analyse):
    project, lead, people, items, truth = crowd
    original = items[3].annotations.get(annotator=people[0])
    from annotate.models import Annotation
    import uuid

    Annotation.objects.create(project=project, item=items[3], annotator=people[0], label="contempt", replaces=original,
                              client_id=uuid.uuid4())
    Membership.objects.filter(project=project, user=people[3]).update(excluded_from_consensus=True)
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    result = QualityItemResult.objects.get(run=run, item=items[3])
    assert result.votes == {LABELS[truth[3]]: 2, "contempt": 1}  # the spammer left out, the correction in
    assert run.annotation_count == 48  # live answers: 48 originals, one of them replaced by its correction
    spammer = QualityAnnotatorResult.objects.get(run=run, annotator=people[3])
    assert spammer.quality is None and spammer.num_answers == 12 and spammer.agreement == 0


def test_a_boosted_item_keeps_its_priority_until_it_has_its_extra_answers(crowd, analyse):
    project, lead, people, items, truth = crowd
    Item.objects.filter(pk=items[0].pk).update(priority=10.0, extra_answers=1)  # a lead asked for one more answer
    analyse(project)
    assert Item.objects.get(pk=items[0].pk).priority == 10.0
    assert Item.objects.get(pk=items[1].pk).priority < 1


def test_not_a_face_answers_become_the_consensus_and_an_outlier(make_project, make_items, analyse):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 6)
    version = model_version_make()
    predictions_make(version, items, [confident(i % 3) for i in range(6)])
    for i, item in enumerate(items):
        for person in people:
            answer(item, person, "not_a_face" if i == 0 else LABELS[i % 3])
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    result = QualityItemResult.objects.get(run=run, item=items[0])
    assert result.consensus_label == "not_a_face" and result.consensus_quality == 1
    assert items[0].pk in run.summary["outliers"]
    assert run.summary["class_balance"]["not_a_face"] == 1


def test_imported_reference_labels_are_scored_without_answers(make_project, make_items, analyse):
    project, lead, people = make_project(annotators=0)
    items = make_items(project, 40, split="PublicTest")
    truth = [i % 8 for i in range(40)]
    for item, t in zip(items, truth):
        Item.objects.filter(pk=item.pk).update(reference_label=LABELS[(t + 1) % 8] if item.pk == items[0].pk else LABELS[t])
    version = model_version_make()
    predictions_make(version, items, [confident(t, p=0.85) for t in truth])
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    results = QualityItemResult.objects.filter(run=run).order_by("label_quality")
    assert results[0].item_id == items[0].pk and results[0].label_issue
    assert run.summary["item_kinds"] == {"reference": 40}


def test_an_analysis_failure_marks_the_job_failed(make_project, make_items, analyse):
    project, lead, people = make_project(annotators=1)
    make_items(project, 2)
    model_version_make(checkpoint="/nonexistent/model.pt")  # no predictions and no checkpoint to make them
    job = analyse(project)  # the failure is recorded on the job, not raised into the caller
    assert job.status == JobStatus.FAILED and job.error and QualityRun.objects.count() == 0


def test_periodic_reanalysis_starts_a_job_only_after_enough_new_answers(crowd, analyse, django_capture_on_commit_callbacks):
    from annotate.services.quality import projects_reanalyse

    project, lead, people, items, truth = crowd
    with django_capture_on_commit_callbacks(execute=True):
        assert len(projects_reanalyse(min_new_answers=40)) == 1  # 48 answers, never analysed
    assert QualityRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert projects_reanalyse(min_new_answers=1) == []  # nothing new since
    answer(items[5], lead, "fear")
    Job.objects.create(project=project, kind="analyse", status=JobStatus.RUNNING)
    assert projects_reanalyse(min_new_answers=1) == []  # one is already running
    Job.objects.filter(status=JobStatus.RUNNING).update(status=JobStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert len(projects_reanalyse(min_new_answers=1)) == 1
    assert QualityRun.objects.count() == 2


def test_an_empty_project_gets_an_empty_run(make_project, analyse):
    project, lead, people = make_project(annotators=1)
    model_version_make()
    job = analyse(project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    assert run.summary["items"] == 0 and run.summary["outliers"] == [] and run.annotation_count == 0


def test_items_the_model_trained_on_get_crossval_probabilities_or_are_marked_in_sample(make_project, make_items, analyse,
                                                                                       monkeypatch):
    import dataclasses

    import ml.crossval

    # Cross-validation itself is ml's to test; here a two-layer net and a few steps keep the test to seconds.
    monkeypatch.setattr(ml.crossval, "MIN_STEPS", 2)
    monkeypatch.setattr(ml.crossval, "CROSSVAL_CONFIG", dataclasses.replace(ml.crossval.CROSSVAL_CONFIG, widths=(4, 8), depths=(1, 1), epochs=2))
    project, lead, people = make_project(annotators=2)
    seen = make_items(project, 16, split="Training")
    unseen = make_items(project, 4, split="PublicTest")
    version = model_version_make(config={"trained_on_splits": ["Training"]})
    predictions_make(version, seen + unseen, [confident(i % 4) for i in range(20)])
    for i, item in enumerate(seen + unseen):
        for person in people:
            answer(item, person, LABELS[i % 4])
    small = analyse(project, crossval_min_items=100)
    run = QualityRun.objects.get(pk=small.result["quality_run"])
    assert run.probability_source == "held-out+in-sample"
    assert run.summary["probability_source"]["in_sample_items"] == 16 and run.summary["probability_source"]["held_out_items"] == 4
    cross = analyse(project, crossval_min_items=8, crossval_folds=2, crossval_budget_s=10)
    assert cross.status == JobStatus.SUCCEEDED, cross.error
    run = QualityRun.objects.get(pk=cross.result["quality_run"])
    assert run.probability_source == "held-out+cv-2fold"
    assert run.summary["probability_source"]["crossval_items"] == 16 and run.summary["probability_source"]["in_sample_items"] == 0


def test_a_biased_annotator_is_ranked_last_and_recorded_with_the_classes_they_confuse(make_project, make_items, analyse,
                                                                                     api_client):
    """Right on every face but the sad ones, which they call neutral: more often right than a careless annotator,
    ranked below them all the same, with sadness -> neutral on record."""
    project, lead, people = make_project(annotators=5)
    items = make_items(project, 40, split="PublicTest")
    truth = [i % 4 for i in range(40)]  # neutral, happiness, surprise, sadness
    predictions_make(model_version_make(), items, [confident(t, p=0.7) for t in truth])
    for i, item in enumerate(items):
        for person in people[:3]:
            answer(item, person, LABELS[truth[i]])
        answer(item, people[3], "neutral" if truth[i] == 3 else LABELS[truth[i]])  # 10 of 40 wrong
        careless = i % 10 in (1, 4, 7)  # 12 of 40 wrong, spread over classes and answers
        answer(item, people[4], LABELS[(truth[i] + 1 + i % 7) % 8] if careless else LABELS[truth[i]])
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    results = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run)}
    biased, careless = results[people[3].pk], results[people[4].pk]
    assert (biased.bias_from, biased.bias_to) == ("sadness", "neutral") and biased.bias > 0.3
    assert careless.bias == 0 and (careless.bias_from, careless.bias_to) == ("", "")
    assert biased.crowdlab_quality > careless.crowdlab_quality  # CROWDLAB alone ranks the careless one lower
    for r in results.values():
        assert r.quality == pytest.approx(r.crowdlab_quality * (1 - r.bias), abs=1e-5)
    api_client.force_authenticate(lead)
    ranked = api_client.get(f"/api/quality-runs/{run.pk}/annotators/").json()
    assert [r["annotator"] for r in ranked[:2]] == [people[3].pk, people[4].pk]
    assert (ranked[0]["bias_from"], ranked[0]["bias_to"]) == ("sadness", "neutral")
    assert ranked[0]["crowdlab_quality"] == biased.crowdlab_quality and ranked[0]["bias"] == biased.bias
    table = api_client.get(f"/api/projects/{project.pk}/annotators/").json()["results"]  # the dashboard's table
    assert (table[0]["user_id"], table[0]["bias_from"], table[0]["bias_to"]) == (people[3].pk, "sadness", "neutral")


def test_a_biased_annotator_who_answers_alone_is_caught_through_the_runs_model_probabilities(make_project, make_items,
                                                                                           analyse):
    """They share only faces that are not sad with the others, and call each of the ten sad faces they answer alone
    neutral: no co-annotator saw those, the model's probabilities (sadness) are the peer that shows the bias."""
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 80, split="PublicTest")
    truth = [i % 4 for i in range(80)]  # neutral, happiness, surprise, sadness
    predictions_make(model_version_make(), items, [confident(t, p=0.7) for t in truth])
    honest, biased = people[:3], people[3]
    for i, item in enumerate(items[:24]):
        for person in honest:
            answer(item, person, LABELS[truth[i]])
        if truth[i] != 3:
            answer(item, biased, LABELS[truth[i]])
    for i, item in enumerate(items[24:64], start=24):
        answer(item, biased, "neutral" if truth[i] == 3 else LABELS[truth[i]])
    for i, item in enumerate(items[64:], start=64):
        answer(item, honest[0], LABELS[truth[i]])
    run = QualityRun.objects.get(pk=analyse(project).result["quality_run"])
    results = {r.annotator_id: r for r in QualityAnnotatorResult.objects.filter(run=run)}
    assert (results[biased.pk].bias_from, results[biased.pk].bias_to) == ("sadness", "neutral")
    assert results[biased.pk].bias > 0.2
    assert all(results[p.pk].bias == 0 for p in honest)
    assert min(results.values(), key=lambda r: r.quality).annotator_id == biased.pk
