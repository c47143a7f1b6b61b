"""The model registry: one fixed evaluation set per project, every model version scored on it, promotion and roll-back.

The evaluation set is chosen by a lead (an imported split, or the gold faces). Its truth is taken when an
`evaluate` job runs: each face's final label (a lead's review, else the latest quality run's consensus, else
the imported reference: versions.version_compute with reference labels allowed; gold faces: their gold label)
and its strict vote majority (ml.labels.majority_labels over the run's or the imported votes). The truth's hash
is stored on the project, and every version in the registry is scored against that same truth, so figures
compare like with like; a later `evaluate` job takes the truth again and rescores every version.

A face of the set that a model trained on, or that has the same content hash as one, or is a near duplicate
of one (perceptual hashes within NEAR_DUPLICATE_DISTANCE), is left out of that model's score and counted.

Promoting a version makes it the project's pre-labeller and starts a pre-label job with it, which then starts
a quality run (the quality run's ActiveLab priorities reorder the annotators' queue). Rolling back returns to
the version that was active before the latest promotion still in force.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from annotate.exceptions import ValidationFailed
from annotate.models import (
    Item, Job, JobKind, JobStatus, ModelEvaluation, ModelPromotion, ModelVersion, Project, PromotionAction,
)
from annotate.services.images import item_images_load
from annotate.services.jobs import job_enqueue, job_progress
from annotate.services.model_versions import model_version_active, model_version_ensure_default, model_version_predictor
from ml.config import CLASSES, VOTE_NAMES

NEAR_DUPLICATE_DISTANCE = 4
# Fewer faces with a final label than this, and the page says the figures are thin.
LOW_EVIDENCE_FACES = 100
EVALUATION_KINDS = ("split", "gold")
# A project's answer names for FER+'s two non-emotion votes.
_VOTE_NAME = {"not_a_face": "NF"}


def evaluation_set_choices(*, project: Project) -> list[dict]:
    """The sets a lead can choose: each imported split, and the gold faces, with their sizes.

    Each size is the faces in the split (or gold) less the few excluded ones: the first count reads only the split
    and gold indexes (index-only), the second finds the excluded faces by item_queue_idx; filtering `excluded` in one
    count walked every face's row once per split (over a second at a million faces).
    """
    items = Item.objects.filter(project=project).order_by()
    excluded = items.filter(excluded=True)

    def per_split(qs) -> dict[str, int]:
        return dict(qs.exclude(split="").values_list("split").annotate(n=Count("*")))

    kept = per_split(items)
    for split, n in per_split(excluded).items():
        kept[split] -= n
    choices = [{"kind": "split", "split": s, "items": n} for s, n in sorted(kept.items()) if n]
    gold = items.filter(is_gold=True).count() - excluded.filter(is_gold=True).count()
    if gold:
        choices.append({"kind": "gold", "split": None, "items": gold})
    return choices


def evaluation_items(*, project: Project):
    """The project's evaluation faces (an empty queryset until a lead chose a set); erased faces have no image to score."""
    chosen = project.evaluation_set or {}
    items = Item.objects.filter(project=project, excluded=False, erased_at__isnull=True)
    if chosen.get("kind") == "split":
        return items.filter(split=chosen.get("split", ""))
    if chosen.get("kind") == "gold":
        return items.filter(is_gold=True)
    return Item.objects.none()


def evaluation_set_choose(*, project: Project, kind: str, split: str | None = None, by=None) -> Job:
    """Fix the project's evaluation set and start scoring every version on it."""
    if kind not in EVALUATION_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(EVALUATION_KINDS)}.", code="invalid_evaluation_set")
    chosen = {"kind": kind, "split": split if kind == "split" else None}
    if kind == "split" and not split:
        raise ValidationFailed("Name the split to evaluate on.", code="invalid_evaluation_set")
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(evaluation_set=chosen)
        project.evaluation_set = chosen
        if not evaluation_items(project=project).exists():
            raise ValidationFailed("That set has no faces.", code="empty_evaluation_set")
        return registry_evaluate_start(project=project, created_by=by)


def registry_evaluate_start(*, project: Project, created_by=None) -> Job:
    """The project's queued or running evaluate job, or a new one."""
    busy = Job.objects.filter(project=project, kind=JobKind.EVALUATE, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
    return busy or job_enqueue(kind=JobKind.EVALUATE, project=project, created_by=created_by)


@dataclass
class EvaluationSet:
    item_ids: np.ndarray
    crops: list[str]
    content_hashes: list[str]
    perceptual_hash: np.ndarray  # int64, 0 where missing
    final: np.ndarray  # int (N,) index in CLASSES or -1
    majority: np.ndarray  # int (N,) index in CLASSES or -1
    sha256: str


def _majority(votes: dict) -> int:
    from ml.labels import majority_labels

    vector = np.zeros((1, len(VOTE_NAMES)))
    for label, n in (votes or {}).items():
        name = _VOTE_NAME.get(label, label)
        if name in VOTE_NAMES:
            vector[0, VOTE_NAMES.index(name)] += n
    labels, keep = majority_labels(vector)
    return int(labels[0]) if keep[0] else -1


def evaluation_set_load(*, project: Project) -> EvaluationSet:
    """The chosen faces with their truth as of now (reads only)."""
    from annotate.services.versions import LabelPolicy, version_compute

    rows = list(evaluation_items(project=project).order_by("id").values_list(
        "id", "crop", "content_hash", "perceptual_hash", "gold_label", "reference_votes"))
    if not rows:
        raise ValidationFailed("Choose the project's evaluation set first (a split, or the gold faces).", code="no_evaluation_set")
    entries = {}
    try:
        entries = {e["item_id"]: e for e in version_compute(project=project, policy=LabelPolicy(use_reference=True)).entries}
    except ValidationFailed:
        pass  # no run and no reference labels: gold labels and imported votes are all there is
    index = {c: i for i, c in enumerate(CLASSES)}
    gold = (project.evaluation_set or {}).get("kind") == "gold"
    final, majority = [], []
    for item_id, _, _, _, gold_label, reference_votes in rows:
        entry = entries.get(item_id)
        label = gold_label if gold else (entry["label"] if entry else "")
        final.append(index.get(label, -1))
        majority.append(_majority(entry["votes"] if entry and entry["votes"] else reference_votes))
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    final_a, majority_a = np.array(final, dtype=np.int64), np.array(majority, dtype=np.int64)
    digest = hashlib.sha256()
    for a in (ids, final_a, majority_a):
        digest.update(a.tobytes())
    digest.update(repr(sorted((project.evaluation_set or {}).items())).encode())
    return EvaluationSet(
        item_ids=ids, crops=[r[1] for r in rows], content_hashes=[r[2] for r in rows],
        perceptual_hash=np.array([r[3] or 0 for r in rows], dtype=np.int64), final=final_a, majority=majority_a,
        sha256=digest.hexdigest(),
    )


def registry_versions(*, project: Project):
    """The versions the project's registry shows: its own, the shipped one, and whichever is active there."""
    shipped = model_version_ensure_default()
    ids = Q(project=project) | Q(pk=shipped.pk)
    if project.model_version_id:
        ids |= Q(pk=project.model_version_id)
    shipped_last = F("project_id").desc(nulls_last=True)
    return ModelVersion.objects.filter(ids).defer("trained_items").order_by(shipped_last, "-created_at", "-id")


def trained_faces_mask(*, project: Project, model_version: ModelVersion, evaluation: EvaluationSet) -> np.ndarray:
    """bool (N,): faces of the set the model trained on, or equal to / near duplicates of a face it trained on."""
    from ml.faces import near_duplicate_pairs

    if model_version.project_id == project.pk or model_version.trained_items:
        trained = Item.objects.filter(project=project, pk__in=list(model_version.trained_items))
    else:  # shipped or foreign: the splits it names as its training data
        splits = (model_version.config or {}).get("trained_on_splits", []) if isinstance(model_version.config, dict) else []
        trained = Item.objects.filter(project=project, split__in=splits)
    rows = list(trained.values_list("id", "content_hash", "perceptual_hash"))
    trained_ids = {r[0] for r in rows}
    trained_hashes = {r[1] for r in rows if r[1]}
    mask = np.array([i in trained_ids or h in trained_hashes for i, h in zip(evaluation.item_ids.tolist(), evaluation.content_hashes)],
                    dtype=bool)
    trained_phash = np.array([r[2] for r in rows if r[2] is not None], dtype=np.int64)
    has = evaluation.perceptual_hash != 0
    if len(trained_phash) and has.any():
        ours = np.flatnonzero(has)
        hashes = np.concatenate([evaluation.perceptual_hash[ours], trained_phash])
        pairs = near_duplicate_pairs(hashes, max_distance=NEAR_DUPLICATE_DISTANCE, max_pairs=len(hashes) * 50)
        cross = (pairs[:, 0] < len(ours)) & (pairs[:, 1] >= len(ours))
        mask[ours[pairs[cross, 0]]] = True
    return mask


def _score(probs: np.ndarray, evaluation: EvaluationSet, excluded: np.ndarray) -> dict:
    from ml.evaluate import score_labels

    scored = ~excluded
    has_final = scored & (evaluation.final >= 0)
    has_majority = scored & (evaluation.majority >= 0)
    figures = score_labels(probs[has_final], evaluation.final[has_final])
    pred = probs.argmax(1)
    return {
        "n_total": int(len(evaluation.item_ids)), "n": int(scored.sum()), "excluded_trained": int(excluded.sum()),
        "n_final": figures["n"], "accuracy_final": figures["accuracy"],
        "n_majority": int(has_majority.sum()),
        "accuracy_majority": round(float((pred[has_majority] == evaluation.majority[has_majority]).mean()), 4) if has_majority.any() else None,
        **{k: figures[k] for k in ("macro_f1", "ece", "per_class_recall", "support", "confusion")},
        "classes": list(CLASSES), "low_evidence": figures["n"] < LOW_EVIDENCE_FACES,
    }


def model_version_evaluate(*, project: Project, model_version: ModelVersion, evaluation: EvaluationSet,
                           job: Job | None = None) -> ModelEvaluation:
    """Score one version on the set (once per truth: an existing evaluation is returned as it is)."""
    existing = ModelEvaluation.objects.filter(model_version=model_version, project=project,
                                              evaluation_sha256=evaluation.sha256).first()
    if existing is not None:
        return existing
    if list(model_version.classes) != list(CLASSES):
        raise ValidationFailed(f"{model_version.name} predicts {model_version.classes}, not {list(CLASSES)}.", code="model_classes")
    images = item_images_load(items=list(zip(evaluation.item_ids.tolist(), evaluation.crops)))
    probs = model_version_predictor(model_version=model_version).predict_proba(images)
    excluded = trained_faces_mask(project=project, model_version=model_version, evaluation=evaluation)
    scored = ~excluded
    predictions = {
        "item_ids": evaluation.item_ids[scored].tolist(), "predicted": probs[scored].argmax(1).tolist(),
        "confidence": [round(float(c), 4) for c in probs[scored].max(1)],
        "truth": evaluation.final[scored].tolist(),
    }
    evaluation_row, _ = ModelEvaluation.objects.get_or_create(
        model_version=model_version, project=project, evaluation_sha256=evaluation.sha256,
        defaults={"metrics": _score(probs, evaluation, excluded), "predictions": predictions, "job": job},
    )
    return evaluation_row


def registry_evaluate(*, project: Project, job: Job | None = None) -> dict:
    """Take the set's truth now and score every version of the registry that has no score on it."""
    evaluation = evaluation_set_load(project=project)
    chosen = {**(project.evaluation_set or {}), "sha256": evaluation.sha256, "items": int(len(evaluation.item_ids)),
              "taken_at": timezone.now().isoformat()}
    Project.objects.filter(pk=project.pk).update(evaluation_set=chosen)
    project.evaluation_set = chosen
    versions = list(registry_versions(project=project).defer(None))
    scored = []
    for n, version in enumerate(versions):
        if job is not None:
            job_progress(job=job, done=n, total=len(versions), stage=f"scoring {version.name}")
        try:
            model_version_evaluate(project=project, model_version=version, evaluation=evaluation, job=job)
            scored.append(version.pk)
        except ValidationFailed:
            continue  # a version of other classes cannot be scored on this set; the page says so
    return {"evaluation_sha256": evaluation.sha256, "scored": scored, "faces": int(len(evaluation.item_ids))}


def evaluate_execute(*, job: Job) -> dict:
    """The `evaluate` job."""
    return registry_evaluate(project=job.project, job=job)


def evaluation_for(*, project: Project, model_version: ModelVersion) -> ModelEvaluation | None:
    """The version's evaluation on the project's current truth, if it has one."""
    sha = (project.evaluation_set or {}).get("sha256")
    if not sha:
        return None
    return ModelEvaluation.objects.filter(model_version=model_version, project=project, evaluation_sha256=sha).first()


def _check_promotable(*, project: Project, model_version: ModelVersion) -> None:
    if model_version.project_id not in (None, project.pk):
        raise ValidationFailed("That model version belongs to another project.", code="other_project")
    missing = [c for c in model_version.classes if c not in project.labels]
    if missing or not model_version.classes:
        raise ValidationFailed(
            f"{model_version.name} predicts {', '.join(missing) or 'no classes'}, which the project's labels do not have; "
            "it cannot pre-label this project.", code="model_classes", details={"missing": missing},
        )


def _activate(*, project: Project, model_version: ModelVersion, previous: ModelVersion, action: str, by) -> Job:
    shipped = model_version.project_id is None and model_version.is_active
    Project.objects.filter(pk=project.pk).update(model_version=None if shipped else model_version)
    project.model_version = None if shipped else model_version
    ModelPromotion.objects.create(project=project, model_version=model_version, previous=previous, action=action, by=by)
    return job_enqueue(kind=JobKind.PRELABEL, project=project, created_by=by,
                       params={"model_version": model_version.pk, "then_analyse": True})


def model_version_promote(*, project: Project, model_version: ModelVersion, by=None) -> Job:
    """Make the version the project's pre-labeller; returns the pre-label job that leads to a quality run."""
    _check_promotable(project=project, model_version=model_version)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        previous = model_version_active(project=project)
        if previous.pk == model_version.pk:
            raise ValidationFailed(f"{model_version.name} is already the active model.", code="already_active")
        return _activate(project=project, model_version=model_version, previous=previous, action=PromotionAction.PROMOTE, by=by)


def roll_back_target(*, project: Project) -> ModelVersion | None:
    """The version active before the latest promotion still in force (each roll-back undoes one promotion)."""
    undo = 0
    for row in ModelPromotion.objects.filter(project=project).order_by("-id").select_related("previous"):
        if row.action == PromotionAction.ROLLBACK:
            undo += 1
        elif undo:
            undo -= 1
        else:
            return row.previous or model_version_ensure_default()
    return None


def model_version_roll_back(*, project: Project, by=None) -> Job:
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        target = roll_back_target(project=project)
        if target is None:
            raise ValidationFailed("No promotion to roll back.", code="nothing_to_roll_back")
        _check_promotable(project=project, model_version=target)
        current = model_version_active(project=project)
        return _activate(project=project, model_version=target, previous=current, action=PromotionAction.ROLLBACK, by=by)
