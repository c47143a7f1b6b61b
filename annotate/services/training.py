"""Training jobs: a dataset version trains a model version with ml/'s own recipe (the `train` job, `ml` queue).

What is trained on: the version's faces in its training split(s) whose final label is one of the model's
expression classes (ml.config.CLASSES), never a face of the project's evaluation set (same item or same
content hash); targets are the version's soft labels (vote distributions) or its hard final labels.
Validation accuracy after every epoch is measured on the version's validation split (``validation`` or
``PrivateTest``) or, without one, on a seeded, class-stratified tenth carved out of the training faces.

Every epoch ends with a checkpoint in settings.FERLAB_TRAINING_DIR (ml.train saves it atomically) and a copy in
storage, so an attempt that takes over a job whose worker died, on this machine or another, resumes from the last
finished epoch; a cancel stops the run within 25 optimizer steps. Only a finished run becomes a ModelVersion (weights content-hashed in storage), in
one transaction with nothing before it: a failed or cancelled training leaves no version and no file behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotate.exceptions import Conflict, NotFound, ValidationFailed
from annotate.models import (
    DatasetVersion, DatasetVersionItem, Item, Job, JobKind, JobStatus, ModelVersion, Project,
)
from annotate.services.images import item_images_load
from annotate.services.jobs import (
    DATABASE_ERRORS, JobCancelled, JobLost, job_check, job_enqueue, job_hold, job_progress, job_report,
)
from annotate.services.model_versions import file_sha256, model_version_active, model_version_local_path, storage_download
from ml.config import CLASSES, TrainConfig

TARGETS = ("soft", "hard")
STARTS = ("scratch", "finetune")
DEVICES = ("auto", "cpu", "cuda")
TRAIN_SPLITS = ("train", "Training")
VALIDATION_SPLITS = ("validation", "PrivateTest")
VALIDATION_FRACTION = 0.1
# Below these a version cannot teach a model anything: training is refused before it starts.
MIN_TRAIN_FACES = 50
MIN_FACES_PER_CLASS = 10
MIN_LEARNABLE_CLASSES = 2
# Storage folder of the per-epoch checkpoint copies.
TRAINING_STORAGE = "training"
PAUSE_S = 60.0  # the longest a test-hook pause (the job parameter test_pause_after_epoch) waits

_RECIPE = TrainConfig()
DEFAULTS = {
    "targets": "soft", "start": "scratch", "epochs": _RECIPE.epochs, "lr": _RECIPE.lr, "batch_size": _RECIPE.batch_size,
    "weight_decay": _RECIPE.weight_decay, "label_smoothing": _RECIPE.label_smoothing, "dropout": _RECIPE.dropout,
    "augment": _RECIPE.augment, "seed": _RECIPE.seed, "device": "auto",
}
# Fine-tuning the active model is a quick round: a few epochs at a tenth of the learning rate.
FINETUNE_DEFAULTS = {"epochs": 5, "lr": round(_RECIPE.lr / 10, 6)}
LIMITS = {
    "epochs": (1, 200), "lr": (1e-5, 1.0), "batch_size": (8, 1024), "weight_decay": (0.0, 0.1),
    "label_smoothing": (0.0, 0.5), "dropout": (0.0, 0.9), "seed": (0, 2**31 - 1),
}
CHOICES = {"targets": TARGETS, "start": STARTS, "device": DEVICES}
def training_options() -> dict:
    """What the training form offers: defaults, the fine-tune defaults, limits and choices."""
    return {"defaults": dict(DEFAULTS), "finetune_defaults": dict(FINETUNE_DEFAULTS),
            "limits": {k: list(v) for k, v in LIMITS.items()}, "choices": {k: list(v) for k, v in CHOICES.items()}}


def _options_check(options: dict) -> dict:
    """The lead's options, range-checked, over the defaults (fine-tune defaults where fine-tuning)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValidationFailed(f"Unknown training option {', '.join(unknown)}.", code="invalid_option", details={"unknown": unknown})
    start = options.get("start", DEFAULTS["start"])
    merged = {**DEFAULTS, **(FINETUNE_DEFAULTS if start == "finetune" else {}), **options}
    for name, allowed in CHOICES.items():
        if merged[name] not in allowed:
            raise ValidationFailed(f"{name} must be one of {', '.join(allowed)}; got {merged[name]!r}.", code="invalid_option",
                                   details={"option": name})
    for name, (low, high) in LIMITS.items():
        value = merged[name]
        kind = int if isinstance(DEFAULTS[name], int) and not isinstance(DEFAULTS[name], bool) else float
        try:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or float(value).is_integer())
        except (TypeError, ValueError):
            ok = False
        if not ok or not low <= value <= high:
            raise ValidationFailed(f"{name} must be a number from {low} to {high}; got {value!r}.", code="option_out_of_range",
                                   details={"option": name, "min": low, "max": high})
        merged[name] = kind(value)
    if not isinstance(merged["augment"], bool):
        raise ValidationFailed("augment must be true or false.", code="invalid_option", details={"option": "augment"})
    return merged


@dataclasses.dataclass
class TrainingSet:
    """The faces a training job learns from and validates on, as arrays (over ml.config.CLASSES)."""

    train_ids: np.ndarray
    train_targets: np.ndarray  # float32 (N, 8)
    train_labels: np.ndarray  # int (N,)
    validation_ids: np.ndarray
    validation_labels: np.ndarray  # int (V,)
    train_splits: list[str]
    validation_source: str  # a split's name, or "carved"
    left_out: dict


def _eval_exclusions(project: Project) -> tuple[set[int], set[str]]:
    from annotate.services.registry import evaluation_items

    rows = evaluation_items(project=project).values_list("id", "content_hash")
    return {r[0] for r in rows}, {r[1] for r in rows if r[1]}


def training_set(*, version: DatasetVersion, targets: str, seed: int) -> TrainingSet:
    """Select and label the faces (reads only); ValidationFailed when too few are left to learn from."""
    entries = list(DatasetVersionItem.objects.filter(version=version).order_by("item_id").values_list(
        "item_id", "content_hash", "label", "soft_label", "split", "item__erased_at"))
    splits = sorted({e[4] for e in entries})
    train_splits = [s for s in splits if s in TRAIN_SPLITS] or [s for s in splits if s not in VALIDATION_SPLITS]
    validation_splits = [s for s in splits if s in VALIDATION_SPLITS]
    eval_ids, eval_hashes = _eval_exclusions(version.project)
    index = {c: i for i, c in enumerate(CLASSES)}
    left_out = {"evaluation set": 0, "label not an expression class": 0, "other split": 0, "erased (no image)": 0}
    train, validation = [], []
    for item_id, content_hash, label, soft, split, erased_at in entries:
        if erased_at is not None:
            left_out["erased (no image)"] += 1
            continue
        if item_id in eval_ids or (content_hash and content_hash in eval_hashes):
            left_out["evaluation set"] += 1
            continue
        if label not in index:
            left_out["label not an expression class"] += 1
            continue
        if split in train_splits:
            train.append((item_id, label, soft))
        elif split in validation_splits:
            validation.append((item_id, index[label]))
        else:
            left_out["other split"] += 1
    labels = np.array([index[label] for _, label, _ in train], dtype=np.int64)
    if targets == "soft":
        vectors = np.array([[float((soft or {}).get(c, 0.0)) for c in CLASSES] for _, _, soft in train], dtype=np.float32).reshape(-1, len(CLASSES))
        empty = vectors.sum(axis=1) <= 0
        vectors[empty] = np.eye(len(CLASSES), dtype=np.float32)[labels[empty]]
        vectors /= vectors.sum(axis=1, keepdims=True)
    else:
        vectors = np.eye(len(CLASSES), dtype=np.float32)[labels]
    ids = np.array([t[0] for t in train], dtype=np.int64)
    source = validation_splits[0] if validation else "carved"
    if validation:
        val_ids = np.array([v[0] for v in validation], dtype=np.int64)
        val_labels = np.array([v[1] for v in validation], dtype=np.int64)
    else:
        from ml.crossval import stratified_folds

        folds = max(2, round(1 / VALIDATION_FRACTION))
        carved = stratified_folds(labels, folds=folds, seed=seed) == 0 if len(labels) >= folds else np.zeros(len(labels), bool)
        val_ids, val_labels = ids[carved], labels[carved]
        ids, vectors, labels = ids[~carved], vectors[~carved], labels[~carved]
    _learnable_check(labels)
    return TrainingSet(ids, vectors, labels, val_ids, val_labels, train_splits, source, left_out)


def _learnable_check(labels: np.ndarray) -> None:
    counts = np.bincount(labels, minlength=len(CLASSES))
    learnable = [c for c, n in zip(CLASSES, counts) if n >= MIN_FACES_PER_CLASS]
    if len(labels) < MIN_TRAIN_FACES or len(learnable) < MIN_LEARNABLE_CLASSES:
        raise ValidationFailed(
            f"Too few faces to learn from: {len(labels)} training faces, and {len(learnable)} classes with at least "
            f"{MIN_FACES_PER_CLASS} faces (need {MIN_TRAIN_FACES} faces and {MIN_LEARNABLE_CLASSES} such classes).",
            code="too_few_faces", details={"train_faces": int(len(labels)), "per_class": {c: int(n) for c, n in zip(CLASSES, counts)}},
        )


def training_start(*, project: Project, version_id: int, options: dict, created_by=None) -> Job:
    """Check everything a training needs, then queue it; every refusal happens here, before a job exists."""
    version = DatasetVersion.objects.filter(pk=version_id).first()
    if version is None or version.project_id != project.pk:
        raise NotFound("No such dataset version in this project.")
    params = _options_check(options)  # device "cuda" is checked by the worker, which is where a GPU would be
    training_set(version=version, targets=params["targets"], seed=params["seed"])
    if params["start"] == "finetune":
        _finetune_base(project=project)
    with transaction.atomic():
        DatasetVersion.objects.select_for_update().filter(pk=version.pk).first()  # one start per version at a time
        busy = Job.objects.filter(kind=JobKind.TRAIN, project=project, params__dataset_version=version.pk,
                                  status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if busy is not None:
            raise Conflict(f"Version v{version.number} is already training (job {busy.pk}).", code="already_training",
                           details={"job": busy.pk})
        return job_enqueue(kind=JobKind.TRAIN, project=project, params={"dataset_version": version.pk, **params},
                           created_by=created_by)


def _finetune_base(*, project: Project) -> ModelVersion:
    base = model_version_active(project=project)
    if list(base.classes) != list(CLASSES):
        raise ValidationFailed(f"The active model {base.name} predicts {base.classes}, not the FER+ classes; train from scratch.",
                               code="model_classes")
    return base


def _config(params: dict, *, out: Path, init: Path | None) -> TrainConfig:
    """The ml.train config: the shipped recipe, the lead's options, no FER2013 head (a version has no such labels)."""
    from ml.checkpoint import load_checkpoint, members_of

    arch = {}
    if init is not None:  # fine-tuning keeps the base model's architecture
        base = TrainConfig.from_dict(members_of(load_checkpoint(init))[0]["config"])
        arch = {"widths": base.widths, "depths": base.depths}
    return dataclasses.replace(
        TrainConfig(), fer2013_weight=0.0, epochs=params["epochs"], lr=params["lr"], batch_size=params["batch_size"],
        weight_decay=params["weight_decay"], label_smoothing=params["label_smoothing"], dropout=params["dropout"],
        augment=params["augment"], seed=params["seed"], threads=int(getattr(settings, "FERLAB_TRAIN_THREADS", 2)),
        init=str(init) if init else "", out=str(out), **arch,
    )


def _machine(device: str) -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"host": platform.node(), "cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _checkpoint_name(job: Job) -> str:
    # The creation time too: databases of several deployments or test runs may share a folder or a bucket.
    return f"job-{job.pk}-{job.created_at:%Y%m%d%H%M%S%f}"


def checkpoint_path(job: Job) -> Path:
    """The job's per-epoch checkpoint on this worker (ml.train writes it after every epoch)."""
    return Path(settings.FERLAB_TRAINING_DIR) / f"{_checkpoint_name(job)}.pt"


def checkpoint_stored(job: Job) -> list[str]:
    """The job's checkpoint copies in storage (newest epoch last), which a worker on another machine resumes from."""
    folder = f"{TRAINING_STORAGE}/{_checkpoint_name(job)}"
    if not default_storage.exists(folder):
        return []
    return sorted(f"{folder}/{name}" for name in default_storage.listdir(folder)[1])


def _checkpoint_publish(job: Job, epoch: int) -> None:
    """Copy this epoch's checkpoint to storage, then drop the older copies (so one always exists)."""
    older = checkpoint_stored(job)
    with open(checkpoint_path(job), "rb") as f:
        default_storage.save(f"{TRAINING_STORAGE}/{_checkpoint_name(job)}/epoch-{epoch:04d}.pt", File(f))
    for name in older:
        default_storage.delete(name)


def _checkpoint_fetch(job: Job) -> None:
    """A resumed job on a worker without the local checkpoint: the newest stored copy, if any."""
    local, stored = checkpoint_path(job), checkpoint_stored(job)
    if local.exists() or not stored:
        return
    storage_download(stored[-1], local)


def _checkpoint_remove(job: Job) -> bool:
    local = checkpoint_path(job)
    existed = local.exists() or bool(checkpoint_stored(job))
    local.unlink(missing_ok=True)
    for name in checkpoint_stored(job):
        default_storage.delete(name)
    return existed


def train_execute(*, job: Job) -> dict:
    """Run a claimed train job: build the arrays, train (resuming from the job's checkpoint), register the model.

    A failure ends the job with its checkpoint removed; a lost database or a take-over keeps it for the attempt
    that continues (a cancel is cleaned up by train_cleanup)."""
    try:
        return _train(job=job)
    except (JobCancelled, JobLost, *DATABASE_ERRORS):
        raise
    except Exception:
        _checkpoint_remove(job)
        raise


def _train(*, job: Job) -> dict:
    from ml.checkpoint import load_checkpoint
    from ml.data import arrays_sha256
    from ml.train import pick_device, train

    params = job.params
    version = DatasetVersion.objects.get(pk=params["dataset_version"])
    job_progress(job=job, done=0, total=params["epochs"], stage="reading faces")
    chosen = training_set(version=version, targets=params["targets"], seed=params["seed"])
    crops = dict(Item.objects.filter(pk__in=np.concatenate([chosen.train_ids, chosen.validation_ids]).tolist()).values_list("id", "crop"))
    images = item_images_load(items=[(i, crops[i]) for i in chosen.train_ids.tolist()])
    val_images = item_images_load(items=[(i, crops[i]) for i in chosen.validation_ids.tolist()])
    device = pick_device(params["device"])
    base = _finetune_base(project=job.project) if params["start"] == "finetune" else None
    out = checkpoint_path(job)
    config = _config(params, out=out, init=model_version_local_path(model_version=base) if base else None)
    data_sha = arrays_sha256(images, chosen.train_targets, val_images, chosen.validation_labels)

    resume = None
    _checkpoint_fetch(job)
    if out.exists():  # an earlier attempt of this job got this far
        state = load_checkpoint(out)
        if state.get("training_state") is not None and state.get("data_sha256") == data_sha and \
                TrainConfig.from_dict(state["config"]) == config:
            resume = state
    curves = list(resume["metrics"].get("history", [])) if resume else []
    report = {"dataset_version": version.pk, "device": device, "epochs": params["epochs"], "curves": curves,
              "eta_seconds": None, "resumed_from_epoch": resume["epoch"] if resume else None,
              "train_faces": int(len(chosen.train_ids)), "validation_faces": int(len(chosen.validation_ids))}
    job_progress(job=job, done=len(curves), total=params["epochs"],
                 stage=f"resumed at epoch {resume['epoch'] + 1}" if resume else f"training on {device}")
    job_report(job=job, result=report)
    # A test hook: the first attempt waits after this epoch (up to PAUSE_S, stopping at once on a cancel), so a
    # test can kill or cancel the worker between two epochs without slowing every epoch down.
    pause_after = int(params.get("test_pause_after_epoch") or 0) if job.attempts == 1 else 0

    def on_epoch(entry: dict, ckpt: dict) -> None:
        if ckpt["training_state"] is not None:  # the last epoch's weights become the model version instead
            _checkpoint_publish(job, entry["epoch"])
        report["curves"] = list(ckpt["metrics"]["history"])
        total = ckpt["metrics"]["epochs"]
        report["epochs"] = total
        per_epoch = entry["seconds"] / max(entry["epoch"], 1)
        report["eta_seconds"] = round(per_epoch * (total - entry["epoch"]), 1)
        job_report(job=job, result=report)
        accuracy = entry.get("val_accuracy")
        job_progress(job=job, done=entry["epoch"], total=total,
                     stage=f"epoch {entry['epoch']}/{total}" + (f", validation accuracy {accuracy:.1%}" if accuracy is not None else ""))
        if entry["epoch"] == pause_after:
            job_hold(job=job, seconds=PAUSE_S)

    started = time.monotonic()
    ckpt = train(images, chosen.train_targets, config=config, data_sha256=data_sha, resume=resume, progress=False,
                 log=lambda s: None, validation=(val_images, chosen.validation_labels), on_epoch=on_epoch,
                 on_step=lambda epoch, step, steps: job_check(job=job), device=device)
    job_progress(job=job, done=ckpt["epoch"], stage="saving the model version")
    recipe = {
        "targets": params["targets"], "start": params["start"], "init_model": base.pk if base else None,
        "train_splits": chosen.train_splits, "validation": chosen.validation_source,
        "train_faces": int(len(chosen.train_ids)), "validation_faces": int(len(chosen.validation_ids)),
        "left_out": chosen.left_out, "config": {k: v for k, v in config.to_dict().items() if k not in ("out", "init")},
        "attempt_seconds": round(time.monotonic() - started, 1),
    }
    model_version = _model_version_create(job=job, version=version, ckpt=ckpt, recipe=recipe, device=device,
                                          machine=_machine(device), train_ids=chosen.train_ids)
    _checkpoint_remove(job)
    result = {**report, "model_version": model_version.pk, "evaluation": None}
    from annotate.services.registry import evaluation_for, registry_evaluate

    job_progress(job=job, done=ckpt["epoch"], stage="scoring on the evaluation set")
    try:  # the new version, and any other the truth has moved for, on the project's evaluation set
        registry_evaluate(project=job.project)
        evaluation = evaluation_for(project=job.project, model_version=model_version)
        result["evaluation"] = evaluation.metrics if evaluation else None
    except ValidationFailed as error:  # no evaluation set yet: the registry scores it once there is one
        result["evaluation_error"] = error.message
    return result


def _model_version_create(*, job: Job, version: DatasetVersion, ckpt: dict, recipe: dict, device: str, machine: dict,
                          train_ids: np.ndarray) -> ModelVersion:
    """Store the finished weights under their content hash and register them, in one step."""
    from ml.checkpoint import save_checkpoint

    ckpt = {**ckpt, "training_state": None,
            "dataset": {"project": version.project_id, "version": version.number, "sha256": version.sha256},
            "trained_items_sha256": hashlib.sha256(np.sort(train_ids).astype(np.int64).tobytes()).hexdigest()}
    Path(settings.FERLAB_TRAINING_DIR).mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".pt", dir=settings.FERLAB_TRAINING_DIR)
    os.close(fd)
    try:
        save_checkpoint(ckpt, tmp)
        sha, size = file_sha256(tmp), os.path.getsize(tmp)
        name = f"models/{sha}.pt"
        with transaction.atomic():
            job_check(job=job)  # cancelled at the last moment: register nothing
            if not default_storage.exists(name):
                with open(tmp, "rb") as f:
                    stored = default_storage.save(name, File(f))
                if stored != name:
                    raise RuntimeError(f"storage renamed {name} to {stored}")
            history = ckpt["metrics"]["history"]
            return ModelVersion.objects.create(
                name=f"{version.project.slug}-v{version.number}-{recipe['targets']}-job{job.pk}", project=version.project,
                job=job, checkpoint=name, sha256=sha, size=size, classes=list(CLASSES), config=ckpt["config"],
                metrics=ckpt["metrics"], data_hash=ckpt["data_sha256"], dataset_version=version,
                dataset_sha256=version.sha256, recipe=recipe, device=device, machine=machine,
                train_seconds=ckpt["metrics"]["train_seconds"], curves=history, trained_items=train_ids.tolist(),
            )
    finally:
        Path(tmp).unlink(missing_ok=True)


def train_cleanup(*, job: Job) -> dict:
    """A cancelled training: its checkpoint is removed, and a version registered in the moment before the cancel
    (while it was being scored) is removed with its file, unless a project already uses it."""
    removed = 0
    for version in ModelVersion.objects.filter(job=job, active_in_projects__isnull=True):
        shared = ModelVersion.objects.filter(checkpoint=version.checkpoint).exclude(pk=version.pk).exists()
        name = version.checkpoint
        version.delete()
        removed += 1
        if not shared and default_storage.exists(name):
            default_storage.delete(name)
    return {"checkpoint_removed": _checkpoint_remove(job), "model_versions_removed": removed}
