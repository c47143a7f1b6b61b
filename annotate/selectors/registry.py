"""Reads of the model registry: every version with its figures on the project's evaluation set, and comparisons."""
from __future__ import annotations

from django.urls import reverse

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import Item, Job, JobKind, JobStatus, ModelEvaluation, ModelPromotion, ModelVersion, Project
from annotate.services.model_versions import model_version_active
from annotate.services.registry import evaluation_set_choices, registry_versions, roll_back_target
from annotate.signing import item_image_link

COMPARE_FACES = 60


def _dataset(version) -> dict | None:
    if version is None:
        return None
    return {"id": version.pk, "number": version.number, "name": version.name, "sha256": version.sha256}


def model_version_output(*, model_version: ModelVersion, active_id: int, evaluation: ModelEvaluation | None,
                         has_set: bool) -> dict:
    return {
        "id": model_version.pk, "name": model_version.name, "shipped": model_version.project_id is None,
        "active": model_version.pk == active_id, "created_at": model_version.created_at,
        "dataset_version": _dataset(model_version.dataset_version), "dataset_sha256": model_version.dataset_sha256,
        "recipe": model_version.recipe or {"source": (model_version.config or {}).get("source", "")},
        "device": model_version.device, "machine": model_version.machine, "train_seconds": model_version.train_seconds,
        "curves": model_version.curves, "size": model_version.size, "sha256": model_version.sha256,
        "classes": model_version.classes,
        "download_url": reverse("api-model-version-download", args=[model_version.pk]),
        "evaluation": evaluation.metrics if evaluation else None,
        "evaluation_state": "none" if not has_set else ("current" if evaluation else "stale"),
    }


def _evaluations(*, project: Project, versions: list[ModelVersion]) -> dict[int, ModelEvaluation]:
    sha = (project.evaluation_set or {}).get("sha256")
    if not sha:
        return {}
    rows = ModelEvaluation.objects.filter(project=project, evaluation_sha256=sha, model_version__in=versions).defer("predictions")
    return {row.model_version_id: row for row in rows}


def registry_overview(*, project: Project) -> dict:
    """What the registry page shows (one read)."""
    from annotate.selectors.jobs import jobs_for_project

    versions = list(registry_versions(project=project).select_related("dataset_version"))
    active = model_version_active(project=project)  # registry_versions holds it: the promoted or the shipped one
    evaluations = _evaluations(project=project, versions=versions)
    chosen = project.evaluation_set or {}
    has_set = bool(chosen.get("kind"))
    evaluating = Job.objects.filter(project=project, kind=JobKind.EVALUATE, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
    target = roll_back_target(project=project)
    promotions = ModelPromotion.objects.filter(project=project).select_related("model_version", "previous", "by").order_by("-id")[:50]
    return {
        "active": active.pk,
        "evaluation_set": {"kind": chosen.get("kind"), "split": chosen.get("split"), "items": chosen.get("items"),
                           "sha256": chosen.get("sha256"), "taken_at": chosen.get("taken_at"),
                           "choices": evaluation_set_choices(project=project)},
        "evaluating": evaluating.pk if evaluating else None,
        "trainings": list(jobs_for_project(project_id=project.pk, kind=JobKind.TRAIN).filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING])),
        "promotions": [{
            "action": p.action, "model_version": p.model_version_id, "model_name": p.model_version.name,
            "previous": p.previous_id, "previous_name": p.previous.name if p.previous else None,
            "by": p.by.username if p.by else None, "at": p.created_at,
        } for p in promotions],
        "can_roll_back": target is not None,
        "roll_back_to": {"id": target.pk, "name": target.name} if target else None,
        "results": [model_version_output(model_version=v, active_id=active.pk, evaluation=evaluations.get(v.pk), has_set=has_set)
                    for v in versions],
    }


def registry_version(*, project: Project, model_version_id: int) -> ModelVersion:
    """A version the project's registry holds (its own, or the shipped one), else NotFound."""
    version = registry_versions(project=project).filter(pk=model_version_id).first()
    if version is None and project.model_version_id == model_version_id:
        version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None:
        raise NotFound("No such model version in this project's registry.")
    return version


def registry_compare(*, project: Project, a_id: int, b_id: int, holder) -> dict:
    """Two versions side by side on the same truth: per-class recall and the faces on which they disagree."""
    a, b = registry_version(project=project, model_version_id=a_id), registry_version(project=project, model_version_id=b_id)
    sha = (project.evaluation_set or {}).get("sha256")
    rows = {e.model_version_id: e for e in ModelEvaluation.objects.filter(project=project, evaluation_sha256=sha or "-",
                                                                          model_version__in=[a, b])}
    if a.pk not in rows or b.pk not in rows:
        raise ValidationFailed("Both versions need a score on the current evaluation set: score them first.", code="not_evaluated")
    ea, eb = rows[a.pk], rows[b.pk]
    active = model_version_active(project=project).pk
    classes = ea.metrics["classes"]
    per_class = []
    for c in classes:
        ra, rb = ea.metrics["per_class_recall"].get(c), eb.metrics["per_class_recall"].get(c)
        per_class.append({"class": c, "recall_a": ra, "recall_b": rb, "support": ea.metrics["support"].get(c, 0),
                          "diff": None if ra is None or rb is None else round(rb - ra, 4)})
    pa = dict(zip(ea.predictions["item_ids"], zip(ea.predictions["predicted"], ea.predictions["confidence"], ea.predictions["truth"])))
    pb = dict(zip(eb.predictions["item_ids"], zip(eb.predictions["predicted"], eb.predictions["confidence"])))
    differ = [i for i in pa if i in pb and pa[i][0] != pb[i][0]]
    crops = dict(Item.objects.filter(pk__in=differ[:COMPARE_FACES]).values_list("id", "crop"))
    return {
        "a": model_version_output(model_version=a, active_id=active, evaluation=ea, has_set=True),
        "b": model_version_output(model_version=b, active_id=active, evaluation=eb, has_set=True),
        "classes": classes, "per_class": per_class,
        "disagreements": {"count": len(differ), "compared": sum(1 for i in pa if i in pb), "items": [{
            "item": i, "image_url": item_image_link(item_id=i, crop=crops[i], holder=holder) if crops.get(i) else None,  # erased: none
            "truth": classes[pa[i][2]] if pa[i][2] >= 0 else "",
            "a_label": classes[pa[i][0]], "a_confidence": pa[i][1],
            "b_label": classes[pb[i][0]], "b_confidence": pb[i][1],
        } for i in differ[:COMPARE_FACES]]},
    }
