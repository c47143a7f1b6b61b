"""CROWDLAB and ActiveLab over sparse answers: one row per (item, annotator, class), never a dense items x annotators matrix.

cleanlab's ``get_label_quality_multiannotator`` and ``get_active_learning_scores`` take a dense (N, M) matrix
with NaN gaps: at a million faces and ten thousand annotators that is 80 GB of float64, though only the A given
answers carry information. The functions here compute the same numbers (consensus "best_quality", quality
"crowdlab", cleanlab 2.9.0's tie-breaking and temperature search) from the answers directly, in memory and time
proportional to A + N x K. ``tests/ml/test_crowd_sparse.py`` checks them against cleanlab on random crowds.

Conventions (as in cleanlab and ml.quality): N items, M annotators, K classes, A answers.
``item``, ``annotator``, ``answer``: int (A,), at most one answer per (item, annotator); ``pred_probs``: (N, K),
out-of-sample model probabilities. Every item needs an answer (score unanswered ones as ``pred_probs_unlabeled``).
Annotators without an answer are left out, as ml.consensus drops their empty columns, and get NaN.

Two differences from cleanlab, both where cleanlab is not deterministic or not right:
- a majority-vote tie that no rule of cleanlab's breaks goes to the lowest class index (cleanlab draws at random);
- the temperature search counts answers per class by class index, as ml.quality_cleanlab's stand-in does (cleanlab's
  ``value_counts`` packs the counts of float class indices into the first columns).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# cleanlab.internal.constants.CLIPPING_LOWER_BOUND and multiannotator_utils.SMALL_CONST in cleanlab 2.9.0.
CLIPPING_LOWER_BOUND = 1e-6
SMALL_CONST = 1e-30
COARSE_TEMPERATURES = (0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8)
FINE_SEARCH_SIZE = 4


@dataclass(frozen=True)
class Answers:
    """Validated sparse answers, annotators renumbered 0..M'-1 over those who answered (``active`` maps back)."""

    item: np.ndarray  # int (A,)
    annotator: np.ndarray  # int (A,) 0..M'-1
    answer: np.ndarray  # int (A,) 0..K-1
    num_items: int
    num_classes: int
    active: np.ndarray  # int (M',) original annotator index of each renumbered one
    num_annotators: int  # M, as given

    @property
    def num_active(self) -> int:
        return len(self.active)


@dataclass(frozen=True)
class SparseConsensus:
    """CROWDLAB's results; arrays over items (N,) or the original annotators (M,)."""

    label: np.ndarray  # int (N,) consensus class
    quality: np.ndarray  # float (N,) consensus quality score
    agreement: np.ndarray  # float (N,) share of the item's answers equal to the consensus
    annotator_quality: np.ndarray  # float (M,), NaN without answers on a face someone else answered
    annotator_agreement: np.ndarray  # float (M,) share of their answers equal to the consensus, NaN without answers
    annotator_weight: np.ndarray  # float (M,) CROWDLAB's weight, NaN without answers
    model_weight: float
    post_pred_probs: np.ndarray  # float (N, K)


def sparse_indices_check(item: np.ndarray, annotator: np.ndarray, *, num_items: int, num_annotators: int) -> None:
    """The checks every sparse answer table shares (classes, valence-arousal, action units): indices in range and
    at most one answer per (item, annotator). Raises ValueError saying which."""
    if len(item) and (item.min() < 0 or item.max() >= num_items):
        raise ValueError(f"item indices must lie in 0..{num_items - 1}")
    if len(annotator) and (annotator.min() < 0 or annotator.max() >= num_annotators):
        raise ValueError(f"annotator indices must lie in 0..{num_annotators - 1}")
    if len(np.unique(item * num_annotators + annotator)) != len(item):
        raise ValueError("at most one answer per (item, annotator)")


def answers_check(item, annotator, answer, pred_probs: np.ndarray, *, num_annotators: int) -> Answers:
    """The one place inputs are checked; returns them as int64 arrays with active annotators renumbered."""
    item, annotator, answer = (np.asarray(x, dtype=np.int64).ravel() for x in (item, annotator, answer))
    pred_probs = np.asarray(pred_probs)
    if pred_probs.ndim != 2:
        raise ValueError(f"pred_probs must be (N, K), got shape {pred_probs.shape}")
    n, k = pred_probs.shape
    if not len(item) == len(annotator) == len(answer):
        raise ValueError("item, annotator and answer must have one entry per answer")
    if len(answer) and (answer.min() < 0 or answer.max() >= k):
        raise ValueError(f"answers must be class indices 0..{k - 1}")
    sparse_indices_check(item, annotator, num_items=n, num_annotators=num_annotators)
    if np.bincount(item, minlength=n).min(initial=1) == 0:
        raise ValueError("every item needs at least one answer; score unanswered items with pred_probs_unlabeled")
    active, renumbered = np.unique(annotator, return_inverse=True)
    return Answers(item=item, annotator=renumbered.astype(np.int64), answer=answer, num_items=n, num_classes=k,
                   active=active, num_annotators=num_annotators)


def class_counts(a: Answers) -> np.ndarray:
    """int (N, K) answers per class."""
    flat = np.bincount(a.item * a.num_classes + a.answer, minlength=a.num_items * a.num_classes)
    return flat.reshape(a.num_items, a.num_classes)


def majority_vote(a: Answers, pred_probs: np.ndarray) -> np.ndarray:
    """cleanlab's get_majority_vote_label: the most frequent answer; ties go to the higher model probability, then
    the class answered least often overall, then the answer of the annotators who agree more with the untied
    majority, then (instead of cleanlab's random draw) the lowest class index."""
    counts = class_counts(a)
    modes = counts == counts.max(axis=1, keepdims=True)
    label = modes.argmax(axis=1)
    untied = modes.sum(axis=1) == 1
    tied = np.flatnonzero(~untied)
    if len(tied) == 0:
        return label
    candidates = modes[tied]
    for score in (pred_probs[tied], -counts.sum(axis=0)[None, :].astype(float)):
        candidates = _keep_best(candidates, np.broadcast_to(score, candidates.shape))
    still = candidates.sum(axis=1) > 1
    if still.any():
        on_untied = untied[a.item]
        hits = np.bincount(a.annotator[on_untied], weights=a.answer[on_untied] == label[a.item[on_untied]],
                           minlength=a.num_active)
        seen = np.bincount(a.annotator[on_untied], minlength=a.num_active)
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement = np.where(seen > 0, hits / np.where(seen > 0, seen, 1), np.nan)
        agreement[np.isnan(agreement)] = np.nanmean(agreement) if (~np.isnan(agreement)).any() else np.nan
        rows = np.flatnonzero(still)
        position = np.full(a.num_items, -1)
        position[tied[rows]] = np.arange(len(rows))
        mine = position[a.item] >= 0
        cell = position[a.item[mine]] * a.num_classes + a.answer[mine]
        total = np.bincount(cell, weights=agreement[a.annotator[mine]], minlength=len(rows) * a.num_classes)
        number = np.bincount(cell, minlength=len(rows) * a.num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total / np.where(number > 0, number, 1)).reshape(len(rows), a.num_classes)
        candidates[rows] = _keep_best(candidates[rows], mean)
    label[tied] = candidates.argmax(axis=1)
    return label


def _keep_best(candidates: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Among each row's candidate classes, those with the highest score (exact ties kept)."""
    masked = np.where(candidates, score, -np.inf)
    return candidates & (masked == masked.max(axis=1, keepdims=True))


def _agreement_with_annotators(a: Answers, counts: np.ndarray, num_annotations: np.ndarray) -> np.ndarray:
    """Per annotator, the share of the other answers on their faces that equal theirs, weighted by (answers - 1);
    annotators who share no face get the mean of the others (cleanlab's rule)."""
    agree = np.bincount(a.annotator, weights=counts[a.item, a.answer] - 1, minlength=a.num_active)
    pairs = np.bincount(a.annotator, weights=num_annotations[a.item] - 1, minlength=a.num_active)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(pairs > 0, agree / np.where(pairs > 0, pairs, 1), np.nan)
    lonely = np.isnan(agreement)
    if lonely.any() and (~lonely).any():
        agreement[lonely] = agreement[~lonely].mean()
    return agreement


def _consensus_stats(a: Answers, pred_probs: np.ndarray, consensus: np.ndarray, counts: np.ndarray,
                     num_annotations: np.ndarray):
    """cleanlab's _get_consensus_stats for quality_method="crowdlab": (item agreement (N,), quality (N,),
    post_pred_probs (N, K), model weight, annotator weights (M',))."""
    k = a.num_classes
    agreement = counts[np.arange(a.num_items), consensus] / num_annotations
    multi = num_annotations != 1
    consensus_likelihood = agreement[multi].mean()
    non_consensus_likelihood = (1 - consensus_likelihood) / (k - 1)
    subset = consensus[multi]
    most_likely_class_error = max(np.mean(subset != np.argmax(np.bincount(subset, minlength=k))), CLIPPING_LOWER_BOUND)
    annotator_agreement = _agreement_with_annotators(a, counts, num_annotations)
    weight = np.clip(1 - (1 - annotator_agreement) / most_likely_class_error, a_min=CLIPPING_LOWER_BOUND, a_max=None)
    model_error = np.mean(np.argmax(pred_probs[multi], axis=1) != subset)
    model_weight = max(1 - model_error / most_likely_class_error, CLIPPING_LOWER_BOUND) * np.sqrt(num_annotations.mean())
    answer_weight = weight[a.annotator]
    item_weight = np.bincount(a.item, weights=answer_weight, minlength=a.num_items)
    voted = np.bincount(a.item * k + a.answer, weights=answer_weight, minlength=a.num_items * k).reshape(a.num_items, k)
    post = (pred_probs * model_weight + non_consensus_likelihood * item_weight[:, None]
            + (consensus_likelihood - non_consensus_likelihood) * voted) / (item_weight + model_weight)[:, None]
    quality = post[np.arange(a.num_items), consensus]  # cleanlab.rank's self-confidence score
    return agreement, quality, post, float(model_weight), weight


def _crowdlab(a: Answers, pred_probs: np.ndarray):
    counts = class_counts(a)
    num_annotations = counts.sum(axis=1)
    majority = majority_vote(a, pred_probs)
    _, _, post, _, _ = _consensus_stats(a, pred_probs, majority, counts, num_annotations)
    top = post.max(axis=1, keepdims=True)
    unique_top = (post == top).sum(axis=1) == 1
    consensus = np.where(unique_top, post.argmax(axis=1), majority)
    return (consensus, counts, num_annotations) + _consensus_stats(a, pred_probs, consensus, counts, num_annotations)


def crowdlab(item, annotator, answer, pred_probs: np.ndarray, *, num_annotators: int) -> SparseConsensus:
    """get_label_quality_multiannotator(consensus_method="best_quality", quality_method="crowdlab") with its
    annotator stats, from sparse answers. Needs some face with two answers (as cleanlab does)."""
    pred_probs = np.asarray(pred_probs, dtype=float)
    a = answers_check(item, annotator, answer, pred_probs, num_annotators=num_annotators)
    if a.num_active < 2 or np.bincount(a.item, minlength=a.num_items).max() < 2:
        raise ValueError("CROWDLAB needs more than one annotator on some item")
    consensus, counts, num_annotations, agreement, quality, post, model_weight, weight = _crowdlab(a, pred_probs)
    own = post[a.item, a.answer]  # each answer's self-confidence under the posterior
    seen = np.bincount(a.annotator, minlength=a.num_active)
    label_quality = np.bincount(a.annotator, weights=own, minlength=a.num_active) / seen
    hit = a.answer == consensus[a.item]
    multi = num_annotations[a.item] != 1
    multi_seen = np.bincount(a.annotator[multi], minlength=a.num_active)
    multi_hits = np.bincount(a.annotator[multi], weights=hit[multi], minlength=a.num_active)
    with np.errstate(invalid="ignore", divide="ignore"):
        multi_agreement = np.where(multi_seen > 0, multi_hits / np.where(multi_seen > 0, multi_seen, 1), np.nan)
    weight_adjusted = weight.sum() * num_annotations.mean() / a.num_active
    w = model_weight / (model_weight + weight_adjusted)
    quality_active = w * label_quality + (1 - w) * multi_agreement

    def spread(values: np.ndarray) -> np.ndarray:
        out = np.full(a.num_annotators, np.nan)
        out[a.active] = values
        return out

    return SparseConsensus(
        label=consensus, quality=quality, agreement=agreement, annotator_quality=spread(quality_active),
        annotator_agreement=spread(np.bincount(a.annotator, weights=hit, minlength=a.num_active) / seen),
        annotator_weight=spread(weight), model_weight=model_weight, post_pred_probs=post,
    )


def temperature_scale(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """cleanlab's temp_scale_pred_probs: clip, renormalise, softmax(log p / T), renormalise."""
    p = np.clip(pred_probs, a_min=SMALL_CONST, a_max=None)
    p = p / p.sum(axis=1, keepdims=True)
    scaled = _softmax(np.log(p), temperature)
    return scaled / scaled.sum(axis=1, keepdims=True)


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    e = np.exp(logits / temperature)
    return e / e.sum(axis=1, keepdims=True)


def best_temperature(counts: np.ndarray, pred_probs: np.ndarray) -> float:
    """cleanlab's find_best_temp_scaler: the temperature (coarse grid, then a finer one around the best) with the
    lowest mean soft cross-entropy between the answers' class shares and the scaled probabilities."""
    empirical = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        logits = np.log(pred_probs, where=pred_probs > 0, out=np.full(pred_probs.shape, -np.inf))
    k = pred_probs.shape[1]

    def entropy(temperature: float) -> float:
        scaled = np.clip(_softmax(logits, temperature), a_min=SMALL_CONST, a_max=None)
        return float(np.mean(-np.sum(empirical * np.log(scaled), axis=1) / np.log(k)))

    coarse = list(COARSE_TEMPERATURES)
    best = int(np.argmin([entropy(t) for t in coarse]))
    fine = np.array([])
    if best != 0:
        fine = np.append(np.linspace(coarse[best - 1], coarse[best], FINE_SEARCH_SIZE, endpoint=False), fine)
    if best != len(coarse) - 1:
        fine = np.append(fine, np.linspace(coarse[best], coarse[best + 1], FINE_SEARCH_SIZE + 1, endpoint=True))
    return float(fine[int(np.argmin([entropy(t) for t in fine]))])


def active_learning_scores(item, annotator, answer, pred_probs: np.ndarray, pred_probs_unlabeled: np.ndarray | None = None,
                           *, num_annotators: int) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's get_active_learning_scores from sparse answers -> (scores (N,), scores of unlabeled items (U,)).
    The lowest score is the item whose next answer is worth most."""
    pred_probs = np.asarray(pred_probs, dtype=float)
    a = answers_check(item, annotator, answer, pred_probs, num_annotators=num_annotators)
    k = a.num_classes
    counts = class_counts(a)
    num_annotations = counts.sum(axis=1)
    if (num_annotations == 1).all():
        temperature, model_weight = 1.0, 1.0
        weight = np.ones(a.num_active)
        consensus = majority_vote(a, pred_probs)
        quality = pred_probs[np.arange(a.num_items), consensus]
    else:
        temperature = best_temperature(counts, pred_probs)
        scaled = temperature_scale(pred_probs, temperature)
        _, _, _, _, quality, _, model_weight, weight = _crowdlab(a, scaled)
    mean_weight = weight.mean()
    item_weight = np.bincount(a.item, weights=weight[a.annotator], minlength=a.num_items) + model_weight
    scores = (quality * item_weight + mean_weight / k) / (item_weight + mean_weight)
    unlabeled = np.zeros(0)
    if pred_probs_unlabeled is not None and len(pred_probs_unlabeled):
        top = temperature_scale(np.asarray(pred_probs_unlabeled, dtype=float), temperature).max(axis=1)
        unlabeled = (top * model_weight + mean_weight / k) / (model_weight + mean_weight)
    return scores, unlabeled


def crowd_consensus(item, annotator, answer, pred_probs: np.ndarray, *, num_annotators: int):
    """ml.consensus.crowdlab's contract from sparse answers -> ml.consensus.Consensus: CROWDLAB when some face has
    two answers from two annotators; otherwise each face's answer, scored by cleanlab's single-label quality
    (``method="single-label"``), with NaN annotator quality (a consensus of one is no evidence about its author)."""
    from cleanlab.rank import get_label_quality_scores

    from ml.consensus import Consensus

    pred_probs = np.asarray(pred_probs, dtype=float)
    a = answers_check(item, annotator, answer, pred_probs, num_annotators=num_annotators)
    if a.num_active >= 2 and np.bincount(a.item, minlength=a.num_items).max(initial=0) >= 2:
        r = crowdlab(a.item, a.active[a.annotator], a.answer, pred_probs, num_annotators=num_annotators)
        return Consensus(label=r.label, quality=r.quality, agreement=r.agreement, annotator_quality=r.annotator_quality,
                         annotator_agreement=r.annotator_agreement, method="crowdlab")
    label = majority_vote(a, pred_probs)
    quality = get_label_quality_scores(label, pred_probs) if a.num_items else np.zeros(0)
    hit = a.answer == label[a.item]
    seen = np.bincount(a.annotator, minlength=a.num_active)
    agreement_active = np.bincount(a.annotator, weights=hit, minlength=a.num_active) / np.maximum(seen, 1)
    annotator_agreement = np.full(num_annotators, np.nan)
    annotator_agreement[a.active] = agreement_active
    per_item = np.bincount(a.item, weights=hit, minlength=a.num_items) / np.bincount(a.item, minlength=a.num_items)
    return Consensus(label=label, quality=np.asarray(quality, float), agreement=per_item,
                     annotator_quality=np.full(num_annotators, np.nan), annotator_agreement=annotator_agreement,
                     method="single-label")
