"""Out-of-sample probabilities: shape, folds and that no face is scored by a model that saw it."""
import dataclasses
import time

import numpy as np
import pytest

import ml.crossval as cv
from ml.config import CLASSES, TrainConfig

TINY = TrainConfig(epochs=1, batch_size=16, widths=(4, 8), depths=(1, 1), threads=1, fer2013_weight=0.0, out="")


def test_shapes_and_out_of_sample(faces, monkeypatch):
    images, votes, _ = faces
    labels = votes[:, :8].argmax(1)
    seen = []
    real = cv._train_fold

    def spy(imgs, targets, *, config, progress):
        seen.append({bytes(x) for x in imgs})
        return real(imgs, targets, config=config, progress=progress)

    monkeypatch.setattr(cv, "_train_fold", spy)
    probs = cv.out_of_sample_probs(images, labels, folds=4, config=TINY, seed=3)
    assert probs.shape == (len(images), len(CLASSES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert len(seen) == 4
    folds = cv.stratified_folds(labels, folds=4, seed=3)
    for f, trained_on in enumerate(seen):
        held_out = {bytes(x) for x in images[folds == f]}
        assert not held_out & trained_on
        assert len(trained_on) == int((folds != f).sum())


def test_soft_labels_and_time_budget(faces):
    images, votes, _ = faces
    soft = votes[:, :8] / votes[:, :8].sum(1, keepdims=True)
    t0 = time.monotonic()
    probs = cv.out_of_sample_probs(images, soft, folds=2, config=dataclasses.replace(TINY, epochs=50),
                                   time_budget_s=3.0)
    assert probs.shape == (len(images), len(CLASSES))
    assert time.monotonic() - t0 < 10  # 50 epochs would take far longer: the budget shortened it


def test_stratified_folds_balance():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    folds = cv.stratified_folds(labels, folds=5)
    for c in range(3):
        assert np.ptp(np.bincount(folds[labels == c], minlength=5)) <= 1


def test_bad_labels_raise(faces):
    with pytest.raises(ValueError):
        cv.out_of_sample_probs(faces[0], np.full(len(faces[0]), 8), folds=2, config=TINY)
    with pytest.raises(ValueError):
        cv.out_of_sample_probs(faces[0], np.zeros((len(faces[0]), 3)), folds=2, config=TINY)
