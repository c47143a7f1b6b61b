"""Pre-labelling: the active model version's class probabilities for a project's items, in batches.

The model is loaded in the worker only, once per process (ml.predict.load_predictor caches it);
nothing here imports torch at module level, so the web process never loads it.
"""
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from annotate.exceptions import ValidationFailed
from annotate.models import Item, Job, JobKind, ModelVersion, Prediction, Project
from annotate.services.jobs import job_create, job_progress

# The shipped model trained on FER2013's Training rows only; items of any other split are unseen.
DEFAULT_TRAINED_ON_SPLITS = ["Training"]
PRELABEL_BATCH = 256


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SHIPPED_PREFIX = "shipped:"


def model_version_ensure_default() -> ModelVersion:
    """The active model version. On first use, and whenever the shipped checkpoint
    (settings.FERLAB_MODEL_PATH) has changed since its version row was made (new weights in a
    release), a row for the file as it is now is created and made active, so predictions are never
    filed under weights that did not make them. A version a lead made active stays active."""
    from ml.config import CLASSES

    path = Path(settings.FERLAB_MODEL_PATH)
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is not None and not (active.name.startswith(SHIPPED_PREFIX) and active.checkpoint == str(path)):
        return active  # a version a lead made active: no need to read the shipped file
    sha = _file_sha256(path) if path.exists() else ""
    stale = active is not None and bool(sha) and active.sha256 != sha
    if active is not None and not stale:
        return active
    try:
        with transaction.atomic():
            version, _ = ModelVersion.objects.get_or_create(
                name=f"{SHIPPED_PREFIX}{path.name}" + (f"@{sha[:12]}" if sha else ""),
                defaults={
                    "checkpoint": str(path), "classes": list(CLASSES), "sha256": sha,
                    "config": {"trained_on_splits": DEFAULT_TRAINED_ON_SPLITS, "source": "FER2013 Training rows with FER+ votes"},
                },
            )
            if stale:
                ModelVersion.objects.filter(pk=active.pk, is_active=True).update(is_active=False)
            if not ModelVersion.objects.filter(is_active=True).exists():
                ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    except IntegrityError:  # another worker created or activated one at the same moment
        pass
    return ModelVersion.objects.get(is_active=True)


def prelabel_start(*, project: Project, created_by=None, model_version: ModelVersion | None = None) -> Job:
    """Create a pre-label job and enqueue it once the surrounding transaction commits."""
    from annotate.tasks.quality import prelabel

    params = {"model_version": model_version.pk} if model_version else {}
    job = job_create(kind=JobKind.PRELABEL, project=project, params=params, created_by=created_by)
    transaction.on_commit(lambda: prelabel.delay(job.pk))
    return job


def item_images_load(*, items: list[tuple[int, str]]) -> np.ndarray:
    """(item id, crop storage name) pairs -> uint8 (N, 48, 48) grey faces, resized if stored larger."""
    from django.core.files.storage import default_storage
    from PIL import Image

    out = np.zeros((len(items), 48, 48), dtype=np.uint8)
    for i, (item_id, name) in enumerate(items):
        if not name:
            raise ValidationFailed(f"Item {item_id} has no stored crop to score.", code="no_crop")
        with default_storage.open(name, "rb") as f:
            image = Image.open(io.BytesIO(f.read())).convert("L")
        if image.size != (48, 48):
            image = image.resize((48, 48), Image.BILINEAR)
        out[i] = np.asarray(image, dtype=np.uint8)
    return out


def _predictor(model_version: ModelVersion):
    """The loaded model for this version; ml.predict caches it per checkpoint file and process."""
    from ml.predict import load_predictor

    return load_predictor(model_version.checkpoint)


def predictions_create(*, project: Project, model_version: ModelVersion, job: Job | None = None,
                       batch_size: int = PRELABEL_BATCH, done_before: int = 0, total: int | None = None,
                       on_batch: Callable[[int, int], None] | None = None) -> int:
    """Score every item of the project that has no prediction from this model version yet; returns how many.

    Progress goes to the job's row and, for commands and benchmarks, to ``on_batch(done, total)``.

    Each batch commits on its own, so a killed worker loses at most one batch and a rerun picks up
    where it stopped (items already scored are skipped; the unique constraint makes a race harmless).
    """
    todo = list(
        Item.objects.filter(project=project).exclude(predictions__model_version=model_version)
        .order_by("id").values_list("id", "crop")
    )
    if not todo:
        return 0
    predictor = _predictor(model_version)
    classes = list(predictor.classes)
    if model_version.classes and list(model_version.classes) != classes:
        raise ValidationFailed("The checkpoint's classes differ from the model version's.", code="model_classes")
    total = total if total is not None else done_before + len(todo)
    done = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        probs = predictor.predict_proba(item_images_load(items=batch))
        top = probs.argmax(axis=1)
        rows = [
            Prediction(item_id=item_id, model_version=model_version, probs=[round(float(p), 6) for p in row],
                       label=classes[t], confidence=float(row[t]))
            for (item_id, _), row, t in zip(batch, probs, top)
        ]
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
    version_id = job.params.get("model_version")
    model_version = ModelVersion.objects.get(pk=version_id) if version_id else model_version_ensure_default()
    missing = Item.objects.filter(project_id=job.project_id).exclude(predictions__model_version=model_version).count()
    job_progress(job=job, done=0, total=missing, stage=f"scoring with {model_version.name}")
    scored = predictions_create(project=job.project, model_version=model_version, job=job)
    return {"model_version": model_version.pk, "scored": scored}
