"""Quality runs: CROWDLAB consensus, annotator quality, label issues and ActiveLab priorities, written once.

A run is computed in the worker (the `analyse` job) from a frozen input (live answers up to a watermark, the
project's included items, one model version's out-of-sample probabilities; see quality_inputs) and written in
one transaction at the end: a worker killed mid-run leaves no partial run, only its Job (resumed by the job
sweep once the heartbeat stops), and running the job again completes it. A cancel stops it at the next step
with nothing written but the predictions it made, which its cleanup removes. Inputs with the same fingerprint
as an earlier run return that run and change nothing.

Numbers: QualityItemResult.active_learning_score and Item.priority hold 1 - ActiveLab's score, so higher
means another answer is worth more (the assignment service serves the highest first). label_issue is
cleanlab's confident-learning flag for single labels and ``consensus_quality < issue_threshold`` for items
with two or more answers. QualityAnnotatorResult.quality, what annotators are ranked by, is CROWDLAB's
annotator quality (crowdlab_quality, random errors) times 1 - bias (systematic confusion of bias_from faces
into bias_to beyond what their peers on the same faces answer, the peers being the co-annotators and the run's
model probabilities as one more annotator, so faces answered once count too; ml.annotator_bias.annotator_bias).
"""
import math
import resource
import time
from collections.abc import Iterable, Iterator

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotate import fastpaths
from annotate.fastpaths.child_rows import child_rows_insert
from annotate.fastpaths.priorities import priorities_write_orm, priorities_write_postgres
from annotate.models import (
    Annotation, Item, Job, JobKind, JobStatus, Project, QualityAnnotatorResult, QualityItemResult, QualityRun,
)
from annotate.selectors.activity_snapshot import activity_snapshot
from annotate.selectors.audit_agreement import agreement_snapshot
from annotate.services.images import item_images_load
from annotate.services.jobs import job_enqueue, job_hold, job_progress
from annotate.services.model_versions import model_version_for
from annotate.services.prelabel import predictions_create
from annotate.services.priorities import BOOSTED_PRIORITY
from annotate.services.quality_dimensions import (
    dimension_annotator_figures, dimension_item_columns, dimension_summary, dimensions_analyse,
)
from annotate.services.quality_inputs import (
    answers_sha256, fingerprint, predictions_load, probabilities_out_of_sample, quality_inputs_load,
)

ISSUE_THRESHOLD = 0.5
REANALYSE_MIN_NEW_ANSWERS = 50
NEAR_DUPLICATE_DISTANCE = 4
WRITE_BATCH = 2000


def _run_params(job: Job) -> dict:
    """The options that shape the numbers (and so the fingerprint); test-only knobs are left out."""
    params = {"issue_threshold": float(job.params.get("issue_threshold", ISSUE_THRESHOLD))}
    for key in ("crossval", "crossval_min_items", "crossval_folds", "crossval_budget_s"):
        if key in job.params:
            params[key] = job.params[key]
    return params


class _Stages:
    """Each stage's seconds and the process's peak resident memory when it ended (what the benchmarks print)."""

    def __init__(self):
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}

    def done(self, stage: str) -> None:
        self.seconds[stage] = time.monotonic() - self.started - sum(self.seconds.values())
        self.peak_rss_mb[stage] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def quality_run_execute(*, job: Job) -> dict:
    """Run a claimed analyse job over its project; returns the job result ({"quality_run": id, "reused": bool})."""
    import ml.quality as mlq

    stages = _Stages()
    project = job.project
    params = _run_params(job)
    if not project.labels:  # no expression class: valence-arousal and action units only, no model needed
        from annotate.services.quality_no_class import quality_run_without_classes

        return quality_run_without_classes(job=job, project=project, params=params, stages=stages)
    model_version = model_version_for(model_version_id=job.params.get("model_version"), project=job.project)
    job_progress(job=job, done=0, total=6, stage="pre-labelling items without a prediction")
    predictions_create(project=project, model_version=model_version, job=job)
    stages.done("prelabel")

    job_progress(job=job, done=1, stage="reading answers")
    watermark = Annotation.objects.filter(project=project).aggregate(w=Max("id"))["w"] or 0
    inputs = quality_inputs_load(project=project, model_version=model_version, watermark=watermark)
    probs, prediction_count = predictions_load(project=project, inputs=inputs, model_version=model_version)
    key = fingerprint(inputs, model_version=model_version, prediction_count=prediction_count, params=params)
    stages.done("read")
    existing = QualityRun.objects.filter(project=project, params__fingerprint=key).order_by("id").first()
    if existing is not None:
        return {"quality_run": existing.pk, "reused": True}

    job_progress(job=job, done=2, stage="out-of-sample probabilities")
    probs, source, per_item_source = probabilities_out_of_sample(
        inputs=inputs, probs=probs, model_version=model_version, params=params,
        images_for=lambda ids: item_images_load(items=list(Item.objects.filter(pk__in=list(ids.tolist())).order_by("id").values_list("id", "crop"))),
    )
    stages.done("probabilities")

    job_progress(job=job, done=3, stage="CROWDLAB, ActiveLab and agreement")
    result = mlq.analyse(
        inputs.item_index, inputs.annotator_index, inputs.answer, probs, category_class=inputs.category_class,
        num_annotators=len(inputs.annotator_ids), in_consensus=inputs.in_consensus, reference=inputs.reference,
        gold=inputs.gold, issue_threshold=params["issue_threshold"],
    )
    stages.done("analyse")
    dims = dimensions_analyse(inputs=inputs, consensus=result.consensus)
    if dims is not None:
        stages.done("dimensions")

    job_progress(job=job, done=4, stage="near duplicates and outliers")
    summary = _summary(inputs=inputs, result=result, probs=probs, source=source)
    summary["annotator_activity"] = activity_snapshot(project_id=project.pk, watermark=inputs.watermark)  # the annotators table reads it
    summary["agreement"] = agreement_snapshot(labels=inputs.labels, confusion=result.confusion, consensus=result.consensus,
                                            model_top=probs.argmax(axis=1), classes=inputs.classes)  # the agreement page
    if dims is not None:
        summary["dimensions"] = dimension_summary(dims, inputs=inputs, consensus=result.consensus)
    stages.done("summary")
    if job.params.get("test_delay_seconds") and job.attempts == 1:
        job_hold(job=job, seconds=float(job.params["test_delay_seconds"]), stage="test delay")

    job_progress(job=job, done=5, stage="writing results")
    run, created = _results_write(
        job=job, project=project, model_version=model_version, inputs=inputs, result=result, dims=dims, probs=probs,
        summary={**summary, "seconds": dict(stages.seconds), "peak_rss_mb": dict(stages.peak_rss_mb)},
        params={**params, "fingerprint": key}, source=source["source"], prediction_count=prediction_count,
        per_item_source=per_item_source,
    )
    stages.done("write")
    return {"quality_run": run.pk, "reused": not created, "seconds": round(time.monotonic() - stages.started, 3),
            "stages": {stage: round(t, 3) for stage, t in stages.seconds.items()}, "peak_rss_mb": stages.peak_rss_mb}


def _summary(*, inputs, result, probs: np.ndarray, source: dict) -> dict:
    from ml.consensus import low_confidence_outliers
    from ml.faces import near_duplicate_pairs

    labels = inputs.labels
    per_class = {
        label: {"kappa": _num(result.per_category_kappa[j]), "alpha": _num(result.per_category_alpha[j]),
                "agreement": _num(result.per_category_agreement[j]), "answers": int(result.counts[:, j].sum())}
        for j, label in enumerate(labels)
    }
    balance = np.bincount(result.consensus[result.consensus >= 0], minlength=len(labels))
    hashed = np.flatnonzero(inputs.has_hash)
    pairs = near_duplicate_pairs(inputs.perceptual_hash[hashed], max_distance=NEAR_DUPLICATE_DISTANCE)
    outliers: dict[int, str] = {}
    if "not_a_face" in labels:
        for i in np.flatnonzero(result.consensus == labels.index("not_a_face")):
            outliers[int(inputs.item_ids[i])] = "not_a_face consensus"
    for i in low_confidence_outliers(probs):
        outliers.setdefault(int(inputs.item_ids[i]), "low model confidence")
    kinds, kind_counts = np.unique(result.kind.astype(str), return_counts=True)
    return {
        "krippendorff_alpha": _num(result.alpha), "fleiss_kappa": _num(result.kappa), "per_class": per_class,
        "class_balance": {label: int(balance[j]) for j, label in enumerate(labels)},
        "near_duplicates": [[int(inputs.item_ids[hashed[a]]), int(inputs.item_ids[hashed[b]])] for a, b, _ in pairs],
        "near_duplicate_distances": [int(d) for d in pairs[:, 2]],
        "outliers": list(outliers), "outlier_reasons": {str(k): v for k, v in outliers.items()},
        "probability_source": source, "consensus_method": result.method,
        "items": len(inputs.item_ids), "answers": len(inputs.answer_ids), "annotators": len(inputs.annotator_ids),
        "item_kinds": {str(k): int(n) for k, n in zip(kinds, kind_counts)},
        "label_issues": int(result.label_issue.sum()), "labels": labels,
        "annotator_evidence": _annotator_evidence(inputs=inputs, result=result),
    }


def _annotator_evidence(*, inputs, result) -> dict[str, dict]:
    """Per annotator id: what stands behind their quality (co-annotated faces, agreement with the model's top
    class). Kept in the summary because QualityAnnotatorResult has no columns for it (no migration now)."""
    return {
        str(annotator_id): {"shared_items": int(result.annotator_shared_items[a]), "model_items": int(result.annotator_model_items[a]),
                            "model_agree": int(result.annotator_model_agree[a])}
        for a, annotator_id in enumerate(inputs.annotator_ids.tolist())
    }


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _label(labels: list[str], index: int) -> str:
    return labels[index] if index >= 0 else ""


def _results_write(*, job, project, model_version, inputs, result, dims, probs, summary, params, source,
                   prediction_count, per_item_source):
    """Write the run, its item and annotator rows and the items' priorities in one transaction."""
    labels = inputs.labels
    with transaction.atomic():
        # One writer per project at a time: a concurrent run with the same inputs finds this one and stops.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        existing = QualityRun.objects.filter(project=project, params__fingerprint=params["fingerprint"]).first()
        if existing is not None:
            return existing, False
        run = QualityRun.objects.create(
            project=project, job=job if not QualityRun.objects.filter(job=job).exists() else None,
            model_version=model_version, probability_source=source,
            annotation_watermark=inputs.watermark, annotation_count=len(inputs.answer_ids),
            annotations_sha256=answers_sha256(inputs), prediction_count=prediction_count, params=params,
            summary=summary, finished_at=timezone.now(),
        )
        rows = _item_rows(inputs=inputs, result=result, dims=dims, probs=probs, per_item_source=per_item_source)
        _item_results_insert(run=run, rows=rows)
        QualityAnnotatorResult.objects.bulk_create([
            QualityAnnotatorResult(
                run=run, annotator_id=annotator_id, num_answers=int(result.annotator_answers[a]),
                quality=_num(result.annotator_quality[a]), crowdlab_quality=_num(result.annotator_crowdlab_quality[a]),
                bias=_num(result.annotator_bias[a]), bias_from=_label(labels, result.bias_cell[a, 0]),
                bias_to=_label(labels, result.bias_cell[a, 1]), agreement=_num(result.annotator_agreement[a]),
                gold_accuracy=_num(result.gold_correct[a] / result.gold_answers[a]) if result.gold_answers[a] else None,
                gold_answers=int(result.gold_answers[a]),
                worst_class=labels[result.worst_category[a]] if result.worst_category[a] >= 0 else "",
                confusion=result.confusion[a].tolist(), dimensions=dimension_annotator_figures(dims, a),
            )
            for a, annotator_id in enumerate(inputs.annotator_ids.tolist())
        ], batch_size=WRITE_BATCH)
        priority = result.priority if dims is None else np.maximum(result.priority, dims.dispute_priority)
        _priorities_write(project=project, item_ids=inputs.item_ids, priority=priority)
    return run, True


def _nums(values: np.ndarray) -> list[float | None]:
    """_num over an array, as one list."""
    return [round(x, 6) if math.isfinite(x) else None for x in values.tolist()]


def _item_rows(*, inputs, result, dims, probs, per_item_source, slice_size: int = 20_000) -> Iterator[dict]:
    """The run's QualityItemResult rows, made a slice of faces at a time from column lists, so a million faces
    never stand in memory as a million dicts at once."""
    labels = inputs.labels
    names = np.array(labels + [""], dtype=object)  # -1 (no consensus) reads as ""
    classes = np.array(inputs.classes, dtype=object)
    model_top = probs.argmax(axis=1)
    for start in range(0, len(inputs.item_ids), slice_size):
        rows = slice(start, start + slice_size)
        counts = result.counts[rows]
        columns = {
            "item_id": inputs.item_ids[rows].tolist(), "num_answers": counts.sum(axis=1).tolist(),
            "votes": [{labels[j]: n for j, n in enumerate(row) if n} for row in counts.tolist()],
            "consensus_label": names[result.consensus[rows]].tolist(),
            "consensus_quality": _nums(result.consensus_quality[rows]),
            "label_quality": _nums(result.label_quality[rows]),
            "label_issue": result.label_issue[rows].tolist(), "active_learning_score": _nums(result.priority[rows]),
            "model_label": classes[model_top[rows]].tolist(),
            "model_confidence": _nums(probs[np.arange(rows.start, rows.start + len(counts)), model_top[rows]]),
            "probability_source": [str(x) for x in per_item_source[rows].tolist()],
            **dimension_item_columns(dims, rows),
        }
        keys = list(columns)
        for values in zip(*columns.values()):
            yield dict(zip(keys, values))


def _item_results_insert(*, run: QualityRun, rows: Iterable[dict]) -> None:
    """Insert a run's item rows: by COPY on PostgreSQL, bulk_create elsewhere (annotate.fastpaths.child_rows)."""
    child_rows_insert(model=QualityItemResult, parent="run", parent_id=run.pk, rows=rows, batch_size=WRITE_BATCH)


def _priorities_write(*, project: Project, item_ids: np.ndarray, priority: np.ndarray) -> None:
    """Set Item.priority in bulk, sparing items a lead boosted that still wait for answers (annotate.fastpaths.priorities)."""
    write = priorities_write_postgres if fastpaths.enabled() else priorities_write_orm
    write(project=project, item_ids=item_ids.tolist(), priorities=np.nan_to_num(priority, nan=0.0).round(6).tolist(),
          boosted=BOOSTED_PRIORITY)


def projects_reanalyse(*, min_new_answers: int = REANALYSE_MIN_NEW_ANSWERS) -> list[int]:
    """Start an analyse job for each project with enough answers since its last run and none queued or running."""
    started = []
    for project in Project.objects.all():
        busy = Job.objects.filter(project=project, kind=JobKind.ANALYSE, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()
        if busy:
            continue
        last = QualityRun.objects.filter(project=project).order_by("-annotation_watermark").first()
        new = Annotation.objects.filter(project=project, id__gt=last.annotation_watermark if last else 0).count()
        if new >= min_new_answers:
            with transaction.atomic():
                started.append(job_enqueue(kind=JobKind.ANALYSE, project=project, params={"trigger": "periodic"}).pk)
    return started
