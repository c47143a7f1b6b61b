"""Pre-labelling: a model version's class probabilities for a project's items, in batches (the `prelabel` job)."""
from collections.abc import Callable

from django.db import transaction

from annotate.exceptions import ValidationFailed
from annotate.models import Item, Job, JobKind, ModelVersion, Prediction, Project
from annotate.services.images import item_images_load
from annotate.services.jobs import job_check, job_progress
from annotate.services.model_versions import model_version_for, model_version_predictor

PRELABEL_BATCH = 256


def predictions_create(*, project: Project, model_version: ModelVersion, job: Job | None = None,
                       batch_size: int | None = None, done_before: int = 0, total: int | None = None,
                       on_batch: Callable[[int, int], None] | None = None) -> int:
    """Score every item of the project that has no prediction from this model version yet; returns how many.

    Progress goes to the job's row (which is also where a cancel stops it) and, for commands and
    benchmarks, to ``on_batch(done, total)``. Each batch commits on its own, tagged with the job, so a
    killed worker loses at most one batch and a rerun picks up where it stopped (items already scored
    are skipped; the unique constraint makes a race harmless), and a cancelled job's rows can be removed.
    """
    todo = list(
        Item.objects.filter(project=project, erased_at__isnull=True).exclude(predictions__model_version=model_version)
        .order_by("id").values_list("id", "crop")
    )
    if not todo:
        return 0
    job_check(job=job)
    predictor = model_version_predictor(model_version=model_version)
    classes = list(predictor.classes)
    if model_version.classes and list(model_version.classes) != classes:
        raise ValidationFailed("The checkpoint's classes differ from the model version's.", code="model_classes")
    total = total if total is not None else done_before + len(todo)
    batch_size = batch_size or PRELABEL_BATCH
    done = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        probs = predictor.predict_proba(item_images_load(items=batch))
        top = probs.argmax(axis=1)
        rows = [
            Prediction(item_id=item_id, model_version=model_version, probs=[round(float(p), 6) for p in row],
                       label=classes[t], confidence=float(row[t]), job=job)
            for (item_id, _), row, t in zip(batch, probs, top)
        ]
        job_check(job=job)  # a cancel while this batch was scored: write nothing more
        with transaction.atomic():
            Prediction.objects.bulk_create(rows, ignore_conflicts=True)
        done += len(batch)
        if job is not None:
            job_progress(job=job, done=done_before + done, total=total)
        if on_batch is not None:
            on_batch(done_before + done, total)
    return done


def prelabel_execute(*, job: Job) -> dict:
    """Run a claimed pre-label job: the job's model version (default: the active one) over its project."""
    model_version = model_version_for(model_version_id=job.params.get("model_version"), project=job.project)
    missing = Item.objects.filter(project_id=job.project_id, erased_at__isnull=True).exclude(predictions__model_version=model_version).count()
    job_progress(job=job, done=0, total=missing, stage=f"scoring with {model_version.name}")
    scored = predictions_create(project=job.project, model_version=model_version, job=job)
    result = {"model_version": model_version.pk, "scored": scored}
    if job.params.get("then_analyse"):  # a promotion: the new model's probabilities reorder the queue
        from annotate.services.jobs import job_enqueue

        analyse = job_enqueue(kind=JobKind.ANALYSE, project=job.project, created_by=job.created_by,
                              params={"model_version": model_version.pk, "trigger": "promotion"})
        result["quality_job"] = analyse.pk
    return result


def prelabel_cleanup(*, job: Job) -> dict:
    """A cancelled job's predictions are removed: the next job scores those items again."""
    deleted, _ = Prediction.objects.filter(job=job).delete()
    return {"predictions_removed": deleted}
