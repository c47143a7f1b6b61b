"""Crowd consensus and item issues through cleanlab: CROWDLAB, ActiveLab, single-label issues, low confidence.

``labels``: float (N, M), a class index 0..K-1 or NaN where the annotator did not answer; ``pred_probs``:
float (N, K), out-of-sample model probabilities (rows sum to 1). CROWDLAB and ActiveLab run with the
vectorised inner loops of ml.quality_cleanlab.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np

from ml.quality_cleanlab import cleanlab_speedups


@dataclass(frozen=True)
class Consensus:
    """CROWDLAB's output, with the same row/column order as the inputs."""

    label: np.ndarray  # int (N,) consensus class
    quality: np.ndarray  # float (N,) consensus quality in [0, 1]; low = likely wrong
    agreement: np.ndarray  # float (N,) share of the item's annotators who gave the consensus
    annotator_quality: np.ndarray  # float (M,), NaN for an annotator with no answer, and for all under "single-label"
    annotator_agreement: np.ndarray  # float (M,) share of their answers equal to the consensus
    method: str  # "crowdlab", or "single-label" when nobody overlaps


@contextlib.contextmanager
def _quiet():
    """cleanlab prints notes and warns about rare classes; a worker's log needs neither."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _check(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=float)
    pred_probs = np.asarray(pred_probs, dtype=float)
    if labels.ndim != 2 or pred_probs.ndim != 2 or len(labels) != len(pred_probs):
        raise ValueError(f"labels (N, M) and pred_probs (N, K) must share N, got {labels.shape} and {pred_probs.shape}")
    if np.isnan(labels).all(axis=1).any():
        raise ValueError("every item needs at least one answer; score unanswered items with pred_probs_unlabeled")
    given = labels[~np.isnan(labels)]
    if given.size and (given.min() < 0 or given.max() >= pred_probs.shape[1] or (given != np.round(given)).any()):
        raise ValueError("labels must be class indices 0..K-1 or NaN")
    return labels, pred_probs


def majority_vote(labels: np.ndarray, pred_probs: np.ndarray | None = None, *, num_classes: int | None = None) -> np.ndarray:
    """labels (N, M) -> int (N,) most frequent answer; ties go to the higher model probability, then the lower index."""
    labels = np.asarray(labels, dtype=float)
    k = num_classes or (pred_probs.shape[1] if pred_probs is not None else int(np.nanmax(labels)) + 1)
    counts = label_counts(labels, num_classes=k).astype(float)
    if pred_probs is not None:
        counts += 1e-3 * np.asarray(pred_probs, dtype=float)  # < one vote: only breaks ties
    return counts.argmax(axis=1)


def label_counts(labels: np.ndarray, *, num_classes: int) -> np.ndarray:
    """labels (N, M) with NaN gaps -> int (N, K) answers per class."""
    labels = np.asarray(labels, dtype=float)
    rows, cols = np.nonzero(~np.isnan(labels))
    counts = np.zeros((len(labels), num_classes), dtype=np.int64)
    np.add.at(counts, (rows, labels[rows, cols].astype(int)), 1)
    return counts


def crowdlab(labels: np.ndarray, pred_probs: np.ndarray) -> Consensus:
    """CROWDLAB (cleanlab.multiannotator.get_label_quality_multiannotator) on labels (N, M), pred_probs (N, K).

    Annotators without any answer are dropped before the call and get NaN quality. When no item has
    two answers (CROWDLAB cannot estimate annotator weights), the consensus is each item's majority
    and its quality cleanlab's single-label score (``method="single-label"``); annotator quality is then NaN,
    since a consensus of one is the annotator's own answer and agreeing with it is no evidence.
    """
    from cleanlab.multiannotator import get_label_quality_multiannotator
    from cleanlab.rank import get_label_quality_scores

    labels, pred_probs = _check(labels, pred_probs)
    n, m = labels.shape
    answered = ~np.isnan(labels)
    active = answered.any(axis=0)
    annotator_quality = np.full(m, np.nan)
    annotator_agreement = np.full(m, np.nan)
    if active.sum() < 2 or answered.sum(axis=1).max(initial=0) < 2:
        label = majority_vote(labels, pred_probs)
        quality = get_label_quality_scores(label, pred_probs) if n else np.zeros(0)
        method = "single-label"
    else:
        with _quiet(), cleanlab_speedups():
            info = get_label_quality_multiannotator(
                labels[:, active], pred_probs, consensus_method="best_quality", quality_method="crowdlab",
                return_detailed_quality=False, return_annotator_stats=True, verbose=False,
            )
        table = info["label_quality"]
        label = table["consensus_label"].to_numpy().astype(int)
        quality = table["consensus_quality_score"].to_numpy().astype(float)
        stats = info["annotator_stats"].sort_index()  # rows come back sorted by quality; restore column order
        annotator_quality[active] = stats["annotator_quality"].to_numpy()
        method = "crowdlab"
    hits = (labels == label[:, None]) & answered
    agreement = hits.sum(axis=1) / np.maximum(answered.sum(axis=1), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        annotator_agreement = np.where(active, hits.sum(axis=0) / np.maximum(answered.sum(axis=0), 1), np.nan)
    # Under "single-label" nobody shares a face, so each consensus is one annotator's own answer: agreeing with
    # it measures nothing (it read 1.000 for anyone, even for keys pressed in turn), and quality stays NaN.
    return Consensus(label=label, quality=np.asarray(quality, float), agreement=agreement,
                     annotator_quality=annotator_quality, annotator_agreement=annotator_agreement, method=method)


def active_learning_scores(labels: np.ndarray, pred_probs: np.ndarray, pred_probs_unlabeled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab (cleanlab.multiannotator.get_active_learning_scores): labels (N, M), pred_probs (N, K),
    pred_probs_unlabeled (U, K) for items nobody answered -> (scores (N,), scores (U,)).

    Scores lie in [0, 1] and are comparable across both sets; the lowest score is the item whose next
    answer is worth most. Empty annotator columns are dropped first (cleanlab rejects them).
    """
    from cleanlab.multiannotator import get_active_learning_scores

    labels, pred_probs = _check(labels, pred_probs)
    unlabeled = None if pred_probs_unlabeled is None or len(pred_probs_unlabeled) == 0 else np.asarray(pred_probs_unlabeled, float)
    if len(labels) == 0:
        if unlabeled is None:
            return np.zeros(0), np.zeros(0)
        with _quiet():
            return np.zeros(0), np.asarray(get_active_learning_scores(None, None, unlabeled)[1], float)
    labels = labels[:, ~np.isnan(labels).all(axis=0)]
    with _quiet(), cleanlab_speedups():
        scored, scored_unlabeled = get_active_learning_scores(labels, pred_probs, unlabeled)
    if unlabeled is None:
        scored_unlabeled = np.zeros(0)
    return np.asarray(scored, float), np.asarray(scored_unlabeled, float)


def single_label_issues(labels: np.ndarray, pred_probs: np.ndarray, *, method: str = "self_confidence") -> tuple[np.ndarray, np.ndarray]:
    """One given label per item: labels int (N,), pred_probs (N, K) -> (label quality (N,), is issue bool (N,)).

    Quality is cleanlab.rank.get_label_quality_scores; issues are cleanlab.filter.find_label_issues
    (confident learning), which needs enough items per class to estimate the noise rates, so small sets
    (< 2 items per class seen) fall back to "the model gives the label less than half of its top class".
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=int)
    pred_probs = np.asarray(pred_probs, dtype=float)
    if len(labels) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    quality = get_label_quality_scores(labels, pred_probs, method=method)
    seen = np.bincount(labels, minlength=pred_probs.shape[1])
    issues = None
    if len(labels) >= 2 * pred_probs.shape[1] and (seen[seen > 0] >= 2).all():
        with _quiet():
            try:
                issues = find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)
            except (ValueError, IndexError):  # degenerate class structure: use the simple rule below
                issues = None
    if issues is None:
        given = pred_probs[np.arange(len(labels)), labels]
        issues = given < 0.5 * pred_probs.max(axis=1)
    return np.asarray(quality, float), np.asarray(issues, bool)


def low_confidence_outliers(pred_probs: np.ndarray, *, share: float = 0.01, limit: int = 200) -> np.ndarray:
    """pred_probs (N, K) -> int indices of the least confident items (lowest top probability), least first."""
    pred_probs = np.asarray(pred_probs, dtype=float)
    if len(pred_probs) == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(limit, int(np.ceil(share * len(pred_probs)))))
    confidence = pred_probs.max(axis=1)
    return np.argsort(confidence, kind="stable")[:k]
