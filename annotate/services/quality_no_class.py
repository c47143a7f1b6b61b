"""The quality run of a project that asks no expression class (labels [], #18): valence-arousal and action units only.

There is no class to analyse, so CROWDLAB, ActiveLab, the model's probabilities, class agreement and bias are not
computed (no consensus label, no model columns); the dimensions are, as on any project, over every live answer.
The cross-checks compare answers with their expression, so they are skipped and the summary says so. Faces are
prioritised by their AU disputes alone (ml.dimensions' dispute_priority, on ActiveLab's scale). The run is written
like a class run (one transaction, same fingerprint rule), so every page that lists runs reads it.
"""
import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Annotation, Project, QualityAnnotatorResult, QualityRun
from annotate.selectors.activity_snapshot import activity_snapshot
from annotate.services.jobs import job_progress
from annotate.services.quality_dimensions import (
    dimension_annotator_figures, dimension_item_columns, dimension_summary, dimensions_analyse,
)
from annotate.services.quality_inputs import answers_sha256, fingerprint, quality_inputs_load

CROSS_CHECKS_SKIPPED = ("Cross-checks (expression against action units and against valence) need an expression "
                        "class; this project asks none, so they were not made.")
SOURCE = "none"  # no model probabilities: QualityRun.probability_source


def quality_run_without_classes(*, job, project: Project, params: dict, stages) -> dict:
    """quality_run_execute for a project without expression classes; the same result shape. No model version is
    read or recorded (QualityRun.model_version stays null): nothing here uses its probabilities."""
    from annotate.services.quality import WRITE_BATCH, _item_results_insert, _priorities_write

    job_progress(job=job, done=1, total=4, stage="reading answers")
    watermark = Annotation.objects.filter(project=project).aggregate(w=Max("id"))["w"] or 0
    inputs = quality_inputs_load(project=project, model_version=None, watermark=watermark)
    key = fingerprint(inputs, model_version=None, prediction_count=0, params=params)
    stages.done("read")
    existing = QualityRun.objects.filter(project=project, params__fingerprint=key).order_by("id").first()
    if existing is not None:
        return {"quality_run": existing.pk, "reused": True}

    job_progress(job=job, done=2, stage="valence-arousal and action units")
    n, m = len(inputs.item_ids), len(inputs.annotator_ids)
    none = np.full(n, -1, dtype=np.int64)
    dims = dimensions_analyse(inputs=inputs, consensus=none)
    dimensions = dimension_summary(dims, inputs=inputs, consensus=none)
    dimensions["checks"] = {k: v for k, v in dimensions["checks"].items() if not k.startswith("expression_vs_")}
    dimensions["cross_checks"] = CROSS_CHECKS_SKIPPED
    answers = np.bincount(inputs.item_index, minlength=n)
    per_annotator = np.bincount(inputs.annotator_index, minlength=m)
    summary = {
        "krippendorff_alpha": None, "fleiss_kappa": None, "per_class": {}, "class_balance": {}, "labels": [],
        "near_duplicates": [], "near_duplicate_distances": [], "outliers": [], "outlier_reasons": {},
        "probability_source": {"source": SOURCE}, "consensus_method": "none (no expression class)",
        "items": n, "answers": len(inputs.answer_ids), "annotators": m, "item_kinds": {}, "label_issues": 0,
        "annotator_evidence": {}, "dimensions": dimensions,
        "annotator_activity": activity_snapshot(project_id=project.pk, watermark=inputs.watermark),
        "seconds": dict(stages.seconds), "peak_rss_mb": dict(stages.peak_rss_mb),
    }
    stages.done("dimensions")

    job_progress(job=job, done=3, stage="writing results")
    priority = dims.dispute_priority
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        existing = QualityRun.objects.filter(project=project, params__fingerprint=key).first()
        if existing is not None:
            return {"quality_run": existing.pk, "reused": True}
        run = QualityRun.objects.create(
            project=project, job=job if not QualityRun.objects.filter(job=job).exists() else None,
            model_version=None, probability_source=SOURCE, annotation_watermark=inputs.watermark,
            annotation_count=len(inputs.answer_ids), annotations_sha256=answers_sha256(inputs), prediction_count=0,
            params={**params, "fingerprint": key}, summary=summary, finished_at=timezone.now(),
        )
        _item_results_insert(run=run, rows=_item_rows(inputs=inputs, dims=dims, answers=answers, priority=priority))
        QualityAnnotatorResult.objects.bulk_create([
            QualityAnnotatorResult(run=run, annotator_id=annotator_id, num_answers=int(per_annotator[a]),
                                   confusion=[], dimensions=dimension_annotator_figures(dims, a))
            for a, annotator_id in enumerate(inputs.annotator_ids.tolist())
        ], batch_size=WRITE_BATCH)
        _priorities_write(project=project, item_ids=inputs.item_ids, priority=priority)
    stages.done("write")
    return {"quality_run": run.pk, "reused": False, "stages": {s: round(t, 3) for s, t in stages.seconds.items()}}


def _item_rows(*, inputs, dims, answers: np.ndarray, priority: np.ndarray, slice_size: int = 20_000):
    """QualityItemResult rows with the class columns empty and the dimension columns filled (COPY sends only the
    columns named, so the text columns without a database default are given)."""
    for start in range(0, len(inputs.item_ids), slice_size):
        rows = slice(start, start + slice_size)
        ids = inputs.item_ids[rows].tolist()
        columns = {
            "item_id": ids, "num_answers": answers[rows].tolist(), "votes": [{} for _ in ids],
            "consensus_label": [""] * len(ids), "model_label": [""] * len(ids), "probability_source": [""] * len(ids),
            "label_issue": [False] * len(ids), "active_learning_score": [round(float(p), 6) for p in priority[rows]],
            **dimension_item_columns(dims, rows),
        }
        keys = list(columns)
        for values in zip(*columns.values()):
            yield dict(zip(keys, values))
