"""Quality reads: runs, and a run's item and annotator results with filters, sorting and paging."""
from django.db.models import F, QuerySet

from annotate import fastpaths
from annotate.exceptions import NotFound, ValidationFailed
from annotate.fastpaths.annotator_results import annotator_results_json_orm, annotator_results_json_postgres
from annotate.models import Annotation, QualityAnnotatorResult, QualityItemResult, QualityRun

ITEM_SORTS = {
    "consensus_quality": ("consensus_quality", "id"),
    "-consensus_quality": ("-consensus_quality", "id"),
    "active_learning_score": ("active_learning_score", "id"),
    "-active_learning_score": ("-active_learning_score", "id"),
    "label_quality": ("label_quality", "id"),
    "-label_quality": ("-label_quality", "id"),
}


def quality_run_get(*, run_id: int) -> QualityRun:
    run = QualityRun.objects.select_related("model_version", "job").filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such quality run.")
    return run


def quality_runs_for_project(*, project_id: int) -> QuerySet[QualityRun]:
    return QualityRun.objects.filter(project_id=project_id).select_related("model_version").order_by("-created_at", "-id")


def quality_run_latest(*, project_id: int) -> QualityRun | None:
    """The project's newest quality run: the one every dashboard figure, stat and review default is read from.

    Runs are written only when their job succeeds, so every row is a finished run.
    """
    return QualityRun.objects.filter(project_id=project_id).order_by("-created_at", "-id").first()


def quality_item_results(*, run: QualityRun, label: str | None = None, label_issue: bool | None = None, split: str | None = None,
                         annotator_id: int | None = None, confused: tuple[str, str] | None = None,
                         sort: str = "consensus_quality") -> QuerySet[QualityItemResult]:
    """A run's item results. ``confused=(a, b)``: consensus a with at least one answer b; ``annotator_id``:
    items that annotator answered among the run's answers; ``sort`` one of ITEM_SORTS (nulls last)."""
    if sort not in ITEM_SORTS:
        raise ValidationFailed(f"Sort by one of {', '.join(ITEM_SORTS)}.", code="invalid_sort")
    results = QualityItemResult.objects.filter(run=run).select_related("item")
    if label:
        results = results.filter(consensus_label=label)
    if label_issue is not None:
        results = results.filter(label_issue=label_issue)
    if split:
        results = results.filter(item__split=split)
    if annotator_id is not None:
        answered = Annotation.objects.filter(project_id=run.project_id, annotator_id=annotator_id, id__lte=run.annotation_watermark)
        results = results.filter(item_id__in=answered.values("item_id"))
    if confused:
        consensus, answer = confused
        results = results.filter(consensus_label=consensus, votes__has_key=answer)
    field, tie = ITEM_SORTS[sort]
    name = field.lstrip("-")
    ordering = F(name).desc(nulls_last=True) if field.startswith("-") else F(name).asc(nulls_last=True)
    return results.order_by(ordering, tie)


def quality_annotator_result_count(*, run: QualityRun) -> int:
    return QualityAnnotatorResult.objects.filter(run=run).count()


def quality_annotator_results_json(*, run: QualityRun, offset: int = 0, limit: int | None = None) -> str:
    """A run's annotator results as the API's JSON body (AnnotatorResultOutput rows), lowest quality (CROWDLAB's
    times 1 - bias) first, annotators without one last (annotate.fastpaths.annotator_results)."""
    write = annotator_results_json_postgres if fastpaths.enabled() else annotator_results_json_orm
    return write(run=run, offset=offset, limit=limit)
