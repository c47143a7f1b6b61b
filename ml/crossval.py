"""K-fold out-of-sample class probabilities for a labelled set (what Cleanlab needs)."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ml.config import CLASSES, TrainConfig

# Cross-validation trains K models, so its default is a shorter run than the shipped model's.
# Short runs on small sets: the lighter net and stronger regularisation of the first shipped
# recipe, which the quality benchmarks were measured with (the shipped model's recipe fits
# 28,709 faces over 60 epochs; it is not what 12 epochs on a few thousand faces want).
CROSSVAL_CONFIG = TrainConfig(epochs=12, fer2013_weight=0.0, depths=(1, 2, 2, 2), dropout=0.3, label_smoothing=0.05,
                              out="")
# Small sets have few batches per epoch; below this many optimizer steps a net learns little.
MIN_STEPS = 300


def stratified_folds(labels: np.ndarray, *, folds: int, seed: int = 0) -> np.ndarray:
    """labels: int (N,) -> fold index int64 (N,) in 0..folds-1, each class spread evenly."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)  # keeps fold sizes balanced across classes
    return fold


def out_of_sample_probs(images: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                        config: TrainConfig | None = None, time_budget_s: float | None = None,
                        seed: int = 0, progress: bool = False) -> np.ndarray:
    """Probabilities for every face from a model that never saw it.

    images: uint8 (N, 48, 48) (other sizes are resized); labels: int (N,) in 0..K-1 or soft
    float (N, K) rows summing to 1, with K = len(CLASSES). Returns float32 (N, K).
    ``time_budget_s`` caps the whole run: each fold gets an equal share of what is left and
    trains fewer epochs to fit (ml.train's ``max_seconds``, which also stops mid-epoch). The
    default config (CROSSVAL_CONFIG) trains from scratch, so no fold's model has seen its faces,
    for at least MIN_STEPS optimizer steps on small sets.
    """
    import torch

    from ml.model import build_model
    from ml.predict import images_to_tensor

    labels = np.asarray(labels)
    n, k = len(images), len(CLASSES)
    if labels.ndim == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"integer labels must be in 0..{k - 1}")
        targets = np.eye(k, dtype=np.float32)[labels]
    elif labels.ndim == 2 and labels.shape[1] == k:
        targets = labels.astype(np.float32)
    else:
        raise ValueError(f"labels must be int (N,) or soft (N, {k}), got shape {labels.shape}")
    if len(targets) != n:
        raise ValueError("images and labels differ in length")
    if not 2 <= folds <= n:
        raise ValueError("need 2 <= folds <= N")
    if np.ndim(images) != 3 or np.shape(images)[1:] != (48, 48):
        images = (images_to_tensor(images) * 255).round().byte().squeeze(1).numpy()
    base = dataclasses.replace(config or CROSSVAL_CONFIG, out="", seed=seed)
    if config is None:
        steps = max(1, (n - n // folds) // base.batch_size)
        base = dataclasses.replace(base, epochs=max(base.epochs, -(-MIN_STEPS // steps)))
    fold_of = stratified_folds(targets.argmax(1), folds=folds, seed=seed)
    out = np.zeros((n, k), dtype=np.float32)
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    for f in range(folds):
        cfg = base
        if deadline is not None:  # 0.9: leave room for scoring the held-out fold
            share = max(1.0, (deadline - time.monotonic()) / (folds - f) * 0.9)
            cfg = dataclasses.replace(base, max_seconds=share)
        train_idx, test_idx = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        ckpt = _train_fold(images[train_idx], targets[train_idx], config=cfg, progress=progress)
        model = build_model(cfg)
        model.load_state_dict(ckpt["weights"])
        model.eval()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images[test_idx])).unsqueeze(1).float() / 255
            probs = [model(x[i:i + 512]).softmax(1) for i in range(0, len(x), 512)]
        out[test_idx] = torch.cat(probs).numpy() if probs else 0
    return out


def _train_fold(images: np.ndarray, targets: np.ndarray, *, config: TrainConfig, progress: bool) -> dict:
    from ml.train import train

    return train(images, targets, config=config, progress=progress, log=lambda s: None)
