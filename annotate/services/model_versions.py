"""Model versions: the rows that name a checkpoint, which one pre-labels (the active one), and loading it in a worker.

The model is loaded in the worker only, once per process (ml.predict.load_predictor caches it); nothing
here imports torch at module level, so the web process never loads it.
"""
import functools
import hashlib
import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from annotate.models import ModelVersion, Project

# The shipped model trained on FER2013's Training rows only; items of any other split are unseen.
DEFAULT_TRAINED_ON_SPLITS = ["Training"]
SHIPPED_PREFIX = "shipped:"


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read once per file version (the shipped model is checked on every registry read)."""
    st = os.stat(path)
    return _sha256_of(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def storage_download(name: str, target: Path) -> None:
    """Copy a storage file to a local path, atomically (a half-copied file is never seen under its name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with default_storage.open(name, "rb") as src, open(partial, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    partial.replace(target)


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
    sha = file_sha256(path) if path.exists() else ""
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


def model_version_active(*, project: Project | None) -> ModelVersion:
    """The project's pre-labeller: the version a lead promoted there, else the shipped one."""
    if project is not None and project.model_version_id:
        return ModelVersion.objects.get(pk=project.model_version_id)
    return model_version_ensure_default()


def model_version_for(*, model_version_id: int | None, project: Project | None = None) -> ModelVersion:
    """The version a job asked for, or the project's active one."""
    return ModelVersion.objects.get(pk=model_version_id) if model_version_id else model_version_active(project=project)


def model_version_local_path(*, model_version: ModelVersion) -> Path:
    """A local file of the version's checkpoint: the shipped file itself, the storage file where storage is a
    folder, else a copy in settings.FERLAB_MODEL_CACHE_DIR named by its content hash (fetched once)."""
    name = model_version.checkpoint
    if Path(name).is_absolute():
        return Path(name)
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage (S3): keep a local copy per content hash
        cached = Path(settings.FERLAB_MODEL_CACHE_DIR) / f"{model_version.sha256 or Path(name).stem}.pt"
        if not cached.exists():
            storage_download(name, cached)
        return cached


def model_version_predictor(*, model_version: ModelVersion):
    """The loaded model for this version; ml.predict caches it per checkpoint file and process."""
    from ml.predict import load_predictor

    return load_predictor(model_version_local_path(model_version=model_version))
