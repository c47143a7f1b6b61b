"""What each annotator gets wrong: confusions against the consensus, worst class, bias beyond their peers."""
from __future__ import annotations

import numpy as np


def annotator_confusions(item_index: np.ndarray, annotator_index: np.ndarray, answer: np.ndarray, consensus: np.ndarray,
                         *, num_annotators: int, num_categories: int) -> np.ndarray:
    """One row per answer (item_index, annotator_index, answer category, all int (A,)) and consensus int (N,)
    (-1 = none) -> int (M, C, C): rows the consensus category, columns the annotator's answer."""
    item_index, annotator_index, answer = (np.asarray(a, dtype=np.int64) for a in (item_index, annotator_index, answer))
    truth = np.asarray(consensus, dtype=np.int64)[item_index]
    keep = truth >= 0
    out = np.zeros((num_annotators, num_categories, num_categories), dtype=np.int64)
    np.add.at(out, (annotator_index[keep], truth[keep], answer[keep]), 1)
    return out


def worst_classes(confusions: np.ndarray, *, min_count: int = 3) -> np.ndarray:
    """confusions (M, C, C) -> int (M,): the consensus category each annotator gets right least often
    (among categories they answered at least ``min_count`` times, else any they answered); -1 if none."""
    confusions = np.asarray(confusions)
    total = confusions.sum(axis=2)
    right = np.diagonal(confusions, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(total > 0, right / np.maximum(total, 1), np.inf)
    errors = total - right
    # Vectorised over annotators (10,000 of them at crowd scale): the eligible categories, their lowest recall,
    # and among the categories at that recall the first with the most errors.
    eligible = total >= min_count
    few = ~eligible.any(axis=1)
    eligible[few] = total[few] > 0
    r = np.where(eligible, recall, np.inf)
    candidates = r == r.min(axis=1, initial=np.inf, keepdims=True)
    out = np.argmax(np.where(candidates, errors, -1), axis=1).astype(np.int64)
    out[~eligible.any(axis=1) | ((errors * eligible).sum(axis=1) == 0)] = -1
    return out


BIAS_ALPHA = 1e-3
# The model counts as one co-annotator in annotator_bias: its top probability is below 1, so where anyone else
# answered a face their answers decide its reference class and the model only breaks ties between them.
BIAS_MODEL_WEIGHT = 1.0


def annotator_bias(item_index: np.ndarray, annotator_index: np.ndarray, answer: np.ndarray, consensus: np.ndarray,
                   counts: np.ndarray, *, in_consensus: np.ndarray, pred_probs: np.ndarray | None = None,
                   model_weight: float = BIAS_MODEL_WEIGHT, alpha: float = BIAS_ALPHA,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Systematic confusion: how much more often than their peers an annotator turns one class into another.

    One row per answer (item_index, annotator_index, answer category, all int (A,)), consensus int (N,)
    (-1 = none), counts int (N, C) answers per category from the annotators with in_consensus bool (M,)
    True, pred_probs float (N, C) out-of-sample model probabilities over the answer categories (0 for those
    outside the model's classes) or None -> (bias float (M,) in [0, 1], cell int (M, 2) (reference
    category, answer category) of the bias, -1 where the bias is 0).

    A Dawid-Skene view, with the annotator's peers as the reference instead of a fitted model. The peers on
    a face are its other answers plus, given pred_probs, the model as ``model_weight`` pseudo-annotator
    answering its probability vector, so faces nobody else answered count too (under ActiveLab most faces
    have one or two answers). The face's reference category t is the peers' most frequent answer (others +
    model_weight * probs; with a weight <= 1 any other answer outweighs the model, which only breaks ties);
    never the consensus, which holds the annotator's own vote and on a one-answer face is that vote.
    Without pred_probs, t is ``consensus`` and only faces someone else answered count. For reference t and
    another answer j, O[t, j] is how often the annotator answered j on their n_t reference-t faces, and
    E[t, j] the sum over the same faces of the share of the peers' answers that were j (the model's share
    its probability; what a peer on those very faces said, so hard faces excuse errors), with one
    pseudo-answer spread like all answers on reference-t faces (one other answer is a poor guess of a face's
    answers). The cell's bias is the one-sided (1 - alpha) Clopper-Pearson lower bound of the rate
    O / n_t minus the peers' rate E / n_t, clipped at 0; the annotator's bias is the largest over cells
    t != j, so any class pair counts. The lower bound keeps noise out: one odd answer among few has a bound
    near alpha, so honest annotators (above all those with few answers) get ~0, while one who answers
    neutral on 60% of 30 sad faces where peers do 20% gets ~0.1. Random errors spread over many cells and
    stay near 0; CROWDLAB's quality counts those.
    """
    from scipy.stats import beta

    item_index, annotator_index, answer = (np.asarray(a, dtype=np.int64) for a in (item_index, annotator_index, answer))
    in_consensus = np.asarray(in_consensus, dtype=bool)
    counts = np.asarray(counts, dtype=float)
    m, c = len(in_consensus), counts.shape[1]
    others = counts[item_index]
    own = np.flatnonzero(in_consensus[annotator_index])
    others[own, answer[own]] -= 1  # the counts hold their own answer; leave it out
    peers = others.sum(axis=1)
    if pred_probs is None or model_weight <= 0:
        truth = np.asarray(consensus, dtype=np.int64)[item_index]
        keep = (truth >= 0) & (peers > 0)
    else:
        others += model_weight * np.asarray(pred_probs, dtype=float)[item_index]
        peers = peers + model_weight
        truth = others.argmax(axis=1)
        keep = np.ones(len(truth), dtype=bool)
    others, truth, answer, peers = others[keep], truth[keep], answer[keep], peers[keep]
    crowd = np.bincount(truth * c + answer, minlength=c * c).reshape(c, c).astype(float)
    crowd /= np.maximum(crowd.sum(axis=1, keepdims=True), 1)
    share = (others + crowd[truth]) / (peers + 1)[:, None]
    row = annotator_index[keep] * c + truth  # (annotator, reference category), flattened
    observed = np.bincount(row * c + answer, minlength=m * c * c).reshape(m, c, c).astype(float)
    expected = np.stack([np.bincount(row, weights=share[:, j], minlength=m * c) for j in range(c)], axis=1)
    expected = expected.reshape(m, c, c)
    n = np.broadcast_to(observed.sum(axis=2, keepdims=True), observed.shape)
    lower = np.zeros_like(observed)
    hit = observed > 0
    lower[hit] = beta.ppf(alpha, observed[hit], n[hit] - observed[hit] + 1)
    excess = np.where(n > 0, lower - expected / np.maximum(n, 1), 0.0)
    excess[:, np.arange(c), np.arange(c)] = 0.0
    flat = np.clip(excess, 0.0, None).reshape(m, c * c)
    best = flat.argmax(axis=1)
    bias = flat[np.arange(m), best]
    cell = np.where((bias > 0)[:, None], np.column_stack([best // c, best % c]), -1)
    return bias, cell
