"""Tiny synthetic faces and a tiny training config shared by the ml tests."""
import numpy as np
import pytest

from ml.config import TrainConfig


@pytest.fixture
def faces():
    """(images uint8 (64, 48, 48), votes uint8 (64, 10), fer2013 int (64,)): two learnable classes."""
    rng = np.random.default_rng(0)
    n = 64
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, size=(n, 48, 48)).astype(np.uint8)
    images[labels == 1, 10:38, 10:38] += 150  # a bright square marks class "happiness"
    votes = np.zeros((n, 10), dtype=np.uint8)
    votes[np.arange(n), labels] = 8
    votes[:, 2] += 2
    fer2013 = np.where(labels == 1, 3, 6)  # Happy / Neutral
    return images, votes, fer2013


@pytest.fixture
def tiny_config(tmp_path):
    return TrainConfig(epochs=2, batch_size=16, widths=(4, 8), depths=(1, 1), threads=1,
                       out=str(tmp_path / "tiny.pt"))
