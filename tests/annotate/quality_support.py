"""Helpers for the quality tests: a tiny checkpoint, crafted predictions and answers (no tests here)."""
import uuid

import numpy as np

from annotate.models import Annotation, ModelVersion, Prediction


def tiny_checkpoint(path) -> str:
    """A randomly initialised two-layer FerNet saved in ml's checkpoint format: loads in a blink."""
    import torch

    from ml.config import CLASSES, TrainConfig
    from ml.model import build_model

    torch.manual_seed(0)
    config = TrainConfig(widths=(4, 8), depths=(1, 1), fer2013_weight=0.0, out="")
    torch.save({"weights": build_model(config).state_dict(), "config": config.to_dict(), "classes": list(CLASSES)}, path)
    return str(path)


def model_version_make(*, checkpoint: str = "unused.pt", active: bool = True, **fields) -> ModelVersion:
    from ml.config import CLASSES

    return ModelVersion.objects.create(name=f"test-{uuid.uuid4().hex[:6]}", checkpoint=checkpoint, classes=list(CLASSES),
                                       is_active=active, **fields)


def predictions_make(model_version: ModelVersion, items, probs) -> None:
    """probs: (N, 8) rows, one per item, in ml.config.CLASSES order."""
    probs = np.asarray(probs, dtype=float)
    probs = probs / probs.sum(axis=1, keepdims=True)
    Prediction.objects.bulk_create([
        Prediction(item=item, model_version=model_version, probs=row.tolist(), label=model_version.classes[int(row.argmax())],
                   confidence=float(row.max()))
        for item, row in zip(items, probs)
    ])


def confident(label_index: int, *, p: float = 0.9, k: int = 8) -> np.ndarray:
    row = np.full(k, (1 - p) / (k - 1))
    row[label_index] = p
    return row


def answer(item, annotator, label: str, **fields) -> Annotation:
    return Annotation.objects.create(project_id=item.project_id, item=item, annotator=annotator, label=label,
                                     client_id=uuid.uuid4(), source="test", **fields)
