"""FER+ label rules (majority, soft vote distribution) and the FER2013 label map.

The rules follow the FER+ authors' ``src/ferplus.py`` (microsoft/FERPlus):

* A single vote for a class is treated as annotator noise and removed before any rule
  (``drop_single_votes=True``, their "outlier removal"). Rows need not sum to 10: the shared
  data has one 9-vote row and every rule works on fractions of the row's own total.
* ``majority``: the class with strictly more than half of the remaining votes; a face without
  one (a tie or a plurality) gets no label. This is the FER+ test protocol.
* A face whose winning answer is ``unknown`` or ``NF`` (not a face) is dropped from FER+
  training and evaluation, as FER+ does. Where an emotion ties with unknown/NF for the most
  votes the emotion wins (the emotion columns come first, as in their code).
* ``soft``: the remaining votes over the eight emotions, normalised to sum to one (FER+'s
  "probability"/"crossentropy" target without their top-3 truncation). Faces whose plurality
  is unknown/NF, or with no emotion vote left, are dropped.
* ``fer2013``: the original single label mapped onto the FER+ eight (FER2013_TO_FERPLUS);
  FER2013 has no contempt, so that class never occurs.

Every function returns ``(targets, keep)``: targets for all rows plus a bool mask of usable rows.
"""
from __future__ import annotations

import numpy as np

from ml.config import CLASSES, FER2013_TO_FERPLUS, LABEL_MODES

K = len(CLASSES)


def _clean_votes(votes: np.ndarray, *, drop_single_votes: bool) -> np.ndarray:
    """votes: (N, 10) counts -> float64 (N, 10) with single votes zeroed if asked."""
    v = np.asarray(votes, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != K + 2:
        raise ValueError(f"votes must be (N, {K + 2}), got {v.shape}")
    if drop_single_votes:
        v = np.where(v <= 1, 0.0, v)
    return v


def majority_labels(votes: np.ndarray, *, drop_single_votes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """votes: (N, 10) -> (labels int64 (N,) in 0..7 or -1, keep bool (N,)); FER+ majority rule."""
    v = _clean_votes(votes, drop_single_votes=drop_single_votes)
    total = v.sum(1)
    top = v.argmax(1)  # first maximum: an emotion beats unknown/NF on a tie
    has_majority = (v.max(1) > 0.5 * total) & (total > 0)
    keep = has_majority & (top < K)
    return np.where(keep, top, -1).astype(np.int64), keep


def soft_labels(votes: np.ndarray, *, drop_single_votes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """votes: (N, 10) -> (probs float32 (N, 8) rows summing to 1 where kept, keep bool (N,))."""
    v = _clean_votes(votes, drop_single_votes=drop_single_votes)
    emo = v[:, :K]
    s = emo.sum(1)
    keep = (v.argmax(1) < K) & (s > 0)
    probs = np.where(keep[:, None], emo / np.maximum(s, 1e-12)[:, None], 0.0)
    return probs.astype(np.float32), keep


def fer2013_to_ferplus(labels: np.ndarray) -> np.ndarray:
    """labels: int (N,) FER2013 0..6 -> int64 (N,) FER+ class index 0..7 (never contempt)."""
    lab = np.asarray(labels, dtype=np.int64)
    if lab.size and (lab.min() < 0 or lab.max() > 6):
        raise ValueError("FER2013 labels must be in 0..6")
    return np.asarray(FER2013_TO_FERPLUS, dtype=np.int64)[lab]


def targets_for(mode: str, *, votes: np.ndarray | None = None, fer2013: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """-> (targets float32 (N, 8) one-hot or soft, keep bool (N,)) for a label mode."""
    if mode not in LABEL_MODES:
        raise ValueError(f"mode must be one of {LABEL_MODES}")
    if mode == "fer2013":
        if fer2013 is None:
            raise ValueError("fer2013 mode needs fer2013 labels")
        lab = fer2013_to_ferplus(fer2013)
        keep = np.ones(len(lab), dtype=bool)
        if votes is not None:  # a FER2013 label on a face the crowd calls not-a-face is noise
            keep = _clean_votes(votes, drop_single_votes=True).argmax(1) != K + 1
        return np.eye(K, dtype=np.float32)[lab], keep
    if votes is None:
        raise ValueError(f"{mode} mode needs FER+ votes")
    if mode == "soft":
        return soft_labels(votes)
    lab, keep = majority_labels(votes)
    return np.where(keep[:, None], np.eye(K, dtype=np.float32)[np.maximum(lab, 0)], 0.0).astype(np.float32), keep


def ferplus_to_fer2013_probs(probs: np.ndarray) -> np.ndarray:
    """probs: (N, 8) over CLASSES -> (N, 7) over FER2013 classes; contempt's mass -> Angry."""
    from ml.config import CONTEMPT_TO_FER2013

    p = np.asarray(probs, dtype=np.float32)
    out = p[:, list(FER2013_TO_FERPLUS)].copy()
    out[:, CONTEMPT_TO_FER2013] += p[:, CLASSES.index("contempt")]
    return out
