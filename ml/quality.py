"""Label quality over plain arrays: CROWDLAB consensus, ActiveLab scores, single-label issues, agreement, bias.

Conventions (as in cleanlab): N items, M annotators, K model classes, C answer categories.
``labels``: float (N, M), a class index 0..K-1 or NaN where the annotator did not answer;
``pred_probs``: float (N, K), out-of-sample model probabilities (rows sum to 1);
``counts``: int (N, C), answers per category for each item. Data positional, options keyword-only.
cleanlab's CROWDLAB and ActiveLab run with the vectorised inner loops of ml.quality_cleanlab.
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
    annotator_quality: np.ndarray  # float (M,), NaN for an annotator with no answer
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
    and its quality cleanlab's single-label score (``method="single-label"``).
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
    if method == "single-label":
        annotator_quality = annotator_agreement.copy()
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


def krippendorff_alpha(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from counts (N, C); items with fewer than 2 answers are ignored.

    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k, with o the coincidence matrix
    o_ck = sum_u n_uc (n_uk - [c = k]) / (n_u - 1). NaN when undefined (no pairable answers or one category).
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    m = m[m >= 2]
    if len(counts) == 0:
        return float("nan")
    o = (counts / (m - 1)[:, None]).T @ counts - np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    observed_disagreement = o.sum() - np.trace(o)
    expected = n_c.sum() ** 2 - (n_c ** 2).sum()
    if expected <= 0:
        return float("nan")
    return float(1 - (n - 1) * observed_disagreement / expected)


def fleiss_kappa(counts: np.ndarray) -> tuple[float, np.ndarray]:
    """Fleiss' kappa from counts (N, C), allowing a different number of answers per item
    -> (overall kappa, per-category kappa (C,), NaN for a category nobody chose). Items with < 2 answers are ignored.
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    c = counts.shape[1] if counts.ndim == 2 else 0
    if len(counts) == 0:
        return float("nan"), np.full(c, np.nan)
    p = counts.sum(axis=0) / m.sum()
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))
    p_e = (p ** 2).sum()
    overall = float((p_item.mean() - p_e) / (1 - p_e)) if p_e < 1 else float("nan")
    disagreement = (counts * (m[:, None] - counts) / (m - 1)[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(p * (1 - p) > 0, 1 - disagreement / (m.sum() * p * (1 - p)), np.nan)
    return overall, per_class


def specific_agreement(counts: np.ndarray) -> np.ndarray:
    """counts (N, C) -> (C,): for an answer of category c, the chance that another annotator of the same
    item also answered c (positive specific agreement); NaN for a category nobody chose. Items with < 2 answers ignored."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    agree = (counts * (counts - 1) / (m - 1)[:, None]).sum(axis=0)
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, agree / total, np.nan)


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
    out = np.full(len(confusions), -1, dtype=np.int64)
    for a in range(len(confusions)):
        eligible = total[a] >= min_count
        if not eligible.any():
            eligible = total[a] > 0
        if not eligible.any() or errors[a][eligible].sum() == 0:
            continue
        r = np.where(eligible, recall[a], np.inf)
        candidates = np.flatnonzero(r == r.min())
        out[a] = candidates[np.argmax(errors[a][candidates])]
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


def near_duplicate_pairs(hashes: np.ndarray, *, max_distance: int = 4, max_pairs: int = 1000) -> np.ndarray:
    """64-bit perceptual hashes int64 (N,) -> int (P, 3) rows (i, j, Hamming distance), i < j, closest first.

    Multi-index hashing: split the 64 bits into max_distance + 1 chunks; two hashes within the distance
    agree exactly on at least one chunk (pigeonhole), so only items sharing a chunk value are compared.
    """
    h = np.asarray(hashes, dtype=np.int64).view(np.uint64)
    n = len(h)
    if n < 2:
        return np.zeros((0, 3), dtype=np.int64)
    chunks = max_distance + 1
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts, ends):
            if e - s < 2 or e - s > 2000:  # a huge bucket is a degenerate hash (blank images), not a duplicate signal
                continue
            group = order[s:e]
            gi, gj = np.triu_indices(len(group), 1)
            a, b = group[gi], group[gj]
            dist = np.bitwise_count(h[a] ^ h[b])
            for x, y in zip(a[dist <= max_distance], b[dist <= max_distance]):
                found.add((int(min(x, y)), int(max(x, y))))
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.array(sorted(found), dtype=np.int64)
    dist = np.bitwise_count(h[pairs[:, 0]] ^ h[pairs[:, 1]]).astype(np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], dist))[:max_pairs]
    return np.column_stack([pairs[order], dist[order]])


def low_confidence_outliers(pred_probs: np.ndarray, *, share: float = 0.01, limit: int = 200) -> np.ndarray:
    """pred_probs (N, K) -> int indices of the least confident items (lowest top probability), least first."""
    pred_probs = np.asarray(pred_probs, dtype=float)
    if len(pred_probs) == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(limit, int(np.ceil(share * len(pred_probs)))))
    confidence = pred_probs.max(axis=1)
    return np.argsort(confidence, kind="stable")[:k]


# Item kinds in an Analysis, by what decided the item's consensus.
CROWD, SINGLE, REFERENCE, OTHER_ANSWER, UNLABELED = "crowd", "single", "reference", "other-answer", "unlabeled"


@dataclass(frozen=True)
class Analysis:
    """One quality analysis. N items, M annotators, C answer categories, K model classes."""

    counts: np.ndarray  # int (N, C) answers per category (consensus annotators only)
    kind: np.ndarray  # str (N,) CROWD / SINGLE / REFERENCE / OTHER_ANSWER / UNLABELED
    consensus: np.ndarray  # int (N,) category, -1 when there is none
    consensus_quality: np.ndarray  # float (N,), NaN when there is no consensus
    label_quality: np.ndarray  # float (N,) single-label quality score, NaN unless SINGLE / REFERENCE
    label_issue: np.ndarray  # bool (N,)
    priority: np.ndarray  # float (N,) 1 - ActiveLab score: higher = another answer is worth more
    annotator_quality: np.ndarray  # float (M,) crowdlab_quality * (1 - bias), NaN for annotators outside the consensus
    annotator_crowdlab_quality: np.ndarray  # float (M,) CROWDLAB's annotator quality, NaN likewise
    annotator_bias: np.ndarray  # float (M,) in [0, 1], see annotator_bias
    bias_cell: np.ndarray  # int (M, 2) (reference category, their answer) of the bias, -1 when bias is 0
    annotator_agreement: np.ndarray  # float (M,) share of their answers equal to the consensus
    annotator_answers: np.ndarray  # int (M,)
    confusion: np.ndarray  # int (M, C, C) rows consensus, columns their answer
    worst_category: np.ndarray  # int (M,), -1 if none
    gold_answers: np.ndarray  # int (M,)
    gold_correct: np.ndarray  # int (M,)
    alpha: float
    kappa: float
    per_category_kappa: np.ndarray  # float (C,)
    per_category_alpha: np.ndarray  # float (C,) category-vs-rest alpha
    per_category_agreement: np.ndarray  # float (C,)
    method: str  # CROWDLAB's method, see Consensus


def analyse(item_index: np.ndarray, annotator_index: np.ndarray, answer: np.ndarray, pred_probs: np.ndarray, *,
            category_class: np.ndarray, num_annotators: int, in_consensus: np.ndarray | None = None,
            reference: np.ndarray | None = None, gold: np.ndarray | None = None,
            issue_threshold: float = 0.5) -> Analysis:
    """Everything a quality run computes, from one row per live answer.

    item_index, annotator_index, answer: int (A,), answer a category 0..C-1; pred_probs: (N, K);
    category_class: int (C,) the model class of each category, -1 for answers outside the model's
    classes (``unknown``, ``not_a_face``); in_consensus: bool (M,) False for annotators whose answers are
    left out (they are still scored against the consensus); reference, gold: int (N,) category or -1.

    Answers outside the model's classes count in the votes and the agreement figures. An item whose
    most frequent answer is one of them (strictly more often than any model class) takes it as its
    consensus, with the answer's share as quality (OTHER_ANSWER); otherwise only its model-class
    answers go to CROWDLAB. Items with one answer, or none but a reference label, also get cleanlab's
    single-label quality and issue flag; items with two or more are issues when their consensus
    quality is below ``issue_threshold``. Items without an answer get ActiveLab's unlabeled score;
    OTHER_ANSWER items get 1 - share * n / (n + 1) as priority, so one `unknown` does not settle a face.

    Annotator quality is CROWDLAB's, which sees random errors (few answers equal to the consensus or to
    the others'), times 1 - annotator_bias, which sees systematic ones: an annotator who turns most sad
    faces into neutral is right on most faces and keeps a fair CROWDLAB quality, but loses the share of
    sad faces they divert beyond what their peers on the same faces do: the co-annotators and the model,
    counted as one more annotator, so faces they answered alone count too. Honest annotators have bias 0.
    """
    item_index, annotator_index, answer = (np.asarray(a, dtype=np.int64) for a in (item_index, annotator_index, answer))
    pred_probs = np.asarray(pred_probs, dtype=float)
    category_class = np.asarray(category_class, dtype=np.int64)
    n, k = pred_probs.shape
    c, m = len(category_class), num_annotators
    in_consensus = np.ones(m, bool) if in_consensus is None else np.asarray(in_consensus, bool)
    reference = np.full(n, -1) if reference is None else np.asarray(reference, dtype=np.int64)
    gold = np.full(n, -1) if gold is None else np.asarray(gold, dtype=np.int64)
    class_category = np.full(k, -1, dtype=np.int64)
    class_category[category_class[category_class >= 0]] = np.flatnonzero(category_class >= 0)

    counted = in_consensus[annotator_index]
    counts = np.zeros((n, c), dtype=np.int64)
    np.add.at(counts, (item_index[counted], answer[counted]), 1)
    is_model = category_class >= 0
    model_max = counts[:, is_model].max(axis=1, initial=0)
    other_max = counts[:, ~is_model].max(axis=1, initial=0)
    total = counts.sum(axis=1)
    kind = np.full(n, UNLABELED, dtype=object)
    kind[(total > 0) & (other_max > model_max)] = OTHER_ANSWER
    crowd = (total > 0) & (other_max <= model_max)
    model_answers = counts[:, is_model].sum(axis=1)
    kind[crowd & (model_answers >= 2)] = CROWD
    kind[crowd & (model_answers == 1)] = SINGLE
    has_reference = (total == 0) & (reference >= 0)
    has_reference[has_reference] &= category_class[reference[has_reference]] >= 0
    kind[has_reference] = REFERENCE

    consensus = np.full(n, -1, dtype=np.int64)
    consensus_quality = np.full(n, np.nan)
    label_quality = np.full(n, np.nan)
    label_issue = np.zeros(n, dtype=bool)
    priority = np.zeros(n)
    annotator_quality = np.full(m, np.nan)
    method = "none"

    # CROWDLAB over the items with model-class answers, consensus annotators only.
    crowd_rows = np.flatnonzero(crowd)
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[crowd_rows] = np.arange(len(crowd_rows))
    use = counted & (category_class[answer] >= 0) & (row_of[item_index] >= 0)
    columns = np.unique(annotator_index[use])
    col_of = np.full(m, -1, dtype=np.int64)
    col_of[columns] = np.arange(len(columns))
    matrix = np.full((len(crowd_rows), len(columns)), np.nan)
    matrix[row_of[item_index[use]], col_of[annotator_index[use]]] = category_class[answer[use]]
    if len(crowd_rows):
        result = crowdlab(matrix, pred_probs[crowd_rows])
        consensus[crowd_rows] = class_category[result.label]
        consensus_quality[crowd_rows] = result.quality
        annotator_quality[columns] = result.annotator_quality
        method = result.method
        multi = crowd_rows[kind[crowd_rows] == CROWD]
        label_issue[multi] = consensus_quality[multi] < issue_threshold

    # Single given labels (one answer, or an imported reference): confident learning.
    single = np.flatnonzero((kind == SINGLE) | (kind == REFERENCE))
    if len(single):
        given = np.where(kind[single] == REFERENCE, category_class[np.maximum(reference[single], 0)], -1)
        one = kind[single] == SINGLE
        if one.any():
            given[one] = np.nanmax(matrix[row_of[single[one]]], axis=1).astype(np.int64)
        quality, issues = single_label_issues(given, pred_probs[single])
        label_quality[single] = quality
        label_issue[single] = issues
        ref = single[kind[single] == REFERENCE]
        consensus[ref] = reference[ref]
        consensus_quality[ref] = label_quality[ref]

    other = np.flatnonzero(kind == OTHER_ANSWER)
    if len(other):
        consensus[other] = np.flatnonzero(~is_model)[counts[other][:, ~is_model].argmax(axis=1)]
        consensus_quality[other] = counts[other, consensus[other]] / total[other]

    # ActiveLab: answered items through the matrix, items nobody answered through the model alone.
    unanswered = np.flatnonzero(total == 0)
    scores, scores_unlabeled = active_learning_scores(matrix, pred_probs[crowd_rows], pred_probs[unanswered]) \
        if len(crowd_rows) else active_learning_scores(np.zeros((0, 1)), np.zeros((0, k)), pred_probs[unanswered])
    priority[crowd_rows] = 1 - scores
    priority[unanswered] = 1 - scores_unlabeled
    # An item settled as `unknown` / `not_a_face` by few answers still deserves another look: shrink the share.
    priority[other] = 1 - consensus_quality[other] * total[other] / (total[other] + 1)

    # Annotators, all of them (excluded ones too), against the consensus.
    confusion = annotator_confusions(item_index, annotator_index, answer, consensus, num_annotators=m, num_categories=c)
    judged = confusion.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(judged > 0, np.trace(confusion, axis1=1, axis2=2) / np.maximum(judged, 1), np.nan)
    category_probs = np.zeros((n, c))
    category_probs[:, is_model] = pred_probs[:, category_class[is_model]]
    bias, bias_cell = annotator_bias(item_index, annotator_index, answer, consensus, counts, in_consensus=in_consensus,
                                     pred_probs=category_probs)
    annotator_answers = np.bincount(annotator_index, minlength=m)
    on_gold = gold[item_index] >= 0
    gold_answers = np.bincount(annotator_index[on_gold], minlength=m)
    gold_correct = np.bincount(annotator_index[on_gold & (answer == gold[item_index])], minlength=m)

    kappa, per_kappa = fleiss_kappa(counts)
    per_alpha = np.array([krippendorff_alpha(np.column_stack([counts[:, j], total - counts[:, j]])) for j in range(c)])
    return Analysis(
        counts=counts, kind=kind, consensus=consensus, consensus_quality=consensus_quality, label_quality=label_quality,
        label_issue=label_issue, priority=priority, annotator_quality=annotator_quality * (1 - bias),
        annotator_crowdlab_quality=annotator_quality, annotator_bias=bias, bias_cell=bias_cell,
        annotator_agreement=agreement,
        annotator_answers=annotator_answers, confusion=confusion, worst_category=worst_classes(confusion),
        gold_answers=gold_answers, gold_correct=gold_correct, alpha=krippendorff_alpha(counts), kappa=kappa,
        per_category_kappa=per_kappa, per_category_alpha=per_alpha, per_category_agreement=specific_agreement(counts),
        method=method,
    )
