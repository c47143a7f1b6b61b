"""Audit reads: annotator-vs-consensus and model-vs-consensus confusion, confused pairs, per-class agreement.

The two matrices are a run's figures: the run records them in its summary when it is written (agreement_snapshot),
so the page does not sum 10,000 annotators' confusion JSON and group a million item results on each request (2.2 s
at a million faces). Runs from before, or a project whose labels changed since, are counted from the rows.
"""
import numpy as np
from django.db.models import Count

from annotate.models import Project, QualityAnnotatorResult, QualityItemResult, QualityRun
from annotate.selectors.run_numbers import quality_run_number


def _square(k: int) -> list[list[int]]:
    return [[0] * k for _ in range(k)]


def annotators_vs_consensus(*, project: Project, run: QualityRun) -> list[list[int]]:
    """The sum of every annotator's confusion matrix in the run (rows: consensus, columns: answer)."""
    k = len(project.labels)
    total = _square(k)
    for matrix in QualityAnnotatorResult.objects.filter(run=run).values_list("confusion", flat=True):
        if not matrix or len(matrix) != k or any(len(row) != k for row in matrix):
            continue  # a run over a different label schema: nothing comparable to add
        for i in range(k):
            for j in range(k):
                total[i][j] += int(matrix[i][j] or 0)
    return total


def model_vs_consensus(*, project: Project, run: QualityRun) -> list[list[int]]:
    """Items by (consensus label, model label), counted in SQL (rows: consensus, columns: model)."""
    index = {label: i for i, label in enumerate(project.labels)}
    matrix = _square(len(index))
    rows = (
        QualityItemResult.objects.filter(run=run).exclude(model_label="").exclude(consensus_label="")
        .values_list("consensus_label", "model_label").annotate(n=Count("id")).order_by()
    )
    for consensus, model, n in rows:
        if consensus in index and model in index:
            matrix[index[consensus]][index[model]] += n
    return matrix


def agreement_snapshot(*, labels: list[str], confusion: np.ndarray, consensus: np.ndarray, model_top: np.ndarray,
                       classes: list[str]) -> dict:
    """The run's two matrices as annotators_vs_consensus and model_vs_consensus count them from the rows it writes.

    confusion: int (M, C, C) per annotator; consensus: (N,) label index, -1 for none; model_top: (N,) index into
    classes (the model's classes that are labels), which is each item result's model_label.
    """
    k = len(labels)
    model = np.zeros((k, k), dtype=np.int64)
    has = consensus >= 0
    label_of_class = np.array([labels.index(c) for c in classes], dtype=np.int64)
    np.add.at(model, (consensus[has], label_of_class[model_top[has]]), 1)
    annotators = confusion.sum(axis=0, dtype=np.int64).reshape(k, k)
    return {"labels": list(labels), "annotators_vs_consensus": annotators.tolist(), "model_vs_consensus": model.tolist()}


def _recorded(summary: dict, labels: list[str]) -> tuple[list[list[int]], list[list[int]]] | None:
    recorded = summary.get("agreement")
    if not isinstance(recorded, dict) or recorded.get("labels") != labels:
        return None
    return recorded["annotators_vs_consensus"], recorded["model_vs_consensus"]


def confused_pairs(*, labels: list[str], matrix: list[list[int]], limit: int = 10) -> list[dict]:
    """Unordered label pairs by how often one was given where the other was the consensus."""
    total = sum(map(sum, matrix)) or 1
    pairs = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            n = matrix[i][j] + matrix[j][i]
            if n:
                pairs.append({"a": labels[i], "b": labels[j], "count": n, "a_as_b": matrix[i][j], "b_as_a": matrix[j][i], "share": n / total})
    pairs.sort(key=lambda p: -p["count"])
    return pairs[:limit]


def per_class_agreement(*, labels: list[str], annotators: list[list[int]], model: list[list[int]]) -> list[dict]:
    """Per consensus class: answers that agree with it, the model's recall of it, and its support."""
    rows = []
    for i, label in enumerate(labels):
        answers, items = sum(annotators[i]), sum(model[i])
        rows.append({
            "label": label,
            "answers": answers,
            "annotator_agreement": annotators[i][i] / answers if answers else None,
            "model_items": items,
            "model_agreement": model[i][i] / items if items else None,
        })
    return rows


def agreement_report(*, project: Project, run: QualityRun) -> dict:
    """Everything the agreement page draws, from one run."""
    labels = list(project.labels)
    summary = run.summary or {}
    annotators, model = _recorded(summary, labels) or (annotators_vs_consensus(project=project, run=run),
                                                        model_vs_consensus(project=project, run=run))
    return {
        "run": run.id,
        "run_number": quality_run_number(run=run),
        "labels": labels,
        "annotators_vs_consensus": annotators,
        "model_vs_consensus": model,
        "confused_pairs": confused_pairs(labels=labels, matrix=annotators),
        "model_confused_pairs": confused_pairs(labels=labels, matrix=model),
        "per_class": per_class_agreement(labels=labels, annotators=annotators, model=model),
        "run_per_class": summary.get("per_class") if isinstance(summary.get("per_class"), (dict, list)) else None,
        "krippendorff_alpha": summary.get("krippendorff_alpha") if isinstance(summary.get("krippendorff_alpha"), (int, float)) else None,
        "fleiss_kappa": summary.get("fleiss_kappa") if isinstance(summary.get("fleiss_kappa"), (int, float)) else None,
    }
