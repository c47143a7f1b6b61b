"""One quality run over plain arrays: consensus, item issues, priorities, agreement and annotator scores together.

Conventions (as in cleanlab): N items, M annotators, K model classes, C answer categories, A answers.
The parts live in ml.crowd_sparse (CROWDLAB and ActiveLab over sparse answers, equal to cleanlab's dense
functions in ml.consensus, which stay as the reference), ml.consensus (single-label issues), ml.agreement (kappa,
alpha, specific agreement) and ml.annotator_bias (confusions, worst class, bias); ``analyse``
translates one row per answer into their inputs and combines their outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.agreement import fleiss_kappa, krippendorff_alpha, specific_agreement
from ml.annotator_bias import annotator_bias, annotator_confusions, worst_classes
from ml.consensus import active_learning_scores, single_label_issues
from ml.crowd_sparse import active_learning_scores as sparse_active_learning_scores
from ml.crowd_sparse import crowd_consensus

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
    annotator_quality: np.ndarray  # float (M,) crowdlab_quality * (1 - bias), NaN outside the consensus or without a shared face
    annotator_crowdlab_quality: np.ndarray  # float (M,) CROWDLAB's annotator quality, NaN likewise
    annotator_bias: np.ndarray  # float (M,) in [0, 1], see annotator_bias
    bias_cell: np.ndarray  # int (M, 2) (reference category, their answer) of the bias, -1 when bias is 0
    annotator_agreement: np.ndarray  # float (M,) share of their answers equal to the consensus, on shared faces; NaN without
    annotator_answers: np.ndarray  # int (M,)
    annotator_shared_items: np.ndarray  # int (M,) faces they answered that someone else answered too
    annotator_model_items: np.ndarray  # int (M,) faces they answered with one of the model's classes
    annotator_model_agree: np.ndarray  # int (M,) of those, faces where they gave the model's top class
    confusion: np.ndarray  # int (M, C, C) rows consensus, columns their answer
    worst_category: np.ndarray  # int (M,), -1 if none
    gold_answers: np.ndarray  # int (M,)
    gold_correct: np.ndarray  # int (M,)
    alpha: float
    kappa: float
    per_category_kappa: np.ndarray  # float (C,)
    per_category_alpha: np.ndarray  # float (C,) category-vs-rest alpha
    per_category_agreement: np.ndarray  # float (C,)
    method: str  # CROWDLAB's method, see ml.consensus.Consensus


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

    Annotator quality needs faces shared with someone else: an annotator alone on every face they answered
    has only consensuses of one (their own answers), so their quality is NaN however they answered; the
    evidence arrays (shared faces, agreement with the model's top class) say what does stand behind them.
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
    # Sparse answers (row, annotator, class): memory and time follow the answers, never rows x annotators.
    use = counted & (category_class[answer] >= 0) & (row_of[item_index] >= 0)
    crowd_item, crowd_annotator, crowd_class = row_of[item_index[use]], annotator_index[use], category_class[answer[use]]
    if len(crowd_rows):
        result = crowd_consensus(crowd_item, crowd_annotator, crowd_class, pred_probs[crowd_rows], num_annotators=m)
        consensus[crowd_rows] = class_category[result.label]
        consensus_quality[crowd_rows] = result.quality
        annotator_quality = result.annotator_quality
        method = result.method
        multi = crowd_rows[kind[crowd_rows] == CROWD]
        label_issue[multi] = consensus_quality[multi] < issue_threshold

    # Single given labels (one answer, or an imported reference): confident learning.
    single = np.flatnonzero((kind == SINGLE) | (kind == REFERENCE))
    if len(single):
        given = np.where(kind[single] == REFERENCE, category_class[np.maximum(reference[single], 0)], -1)
        one = kind[single] == SINGLE
        if one.any():
            only_answer = np.full(len(crowd_rows), -1, dtype=np.int64)
            only_answer[crowd_item] = crowd_class  # a SINGLE face has exactly one such answer
            given[one] = only_answer[row_of[single[one]]]
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

    # ActiveLab: answered items through their answers, items nobody answered through the model alone.
    unanswered = np.flatnonzero(total == 0)
    if len(crowd_rows):
        scores, scores_unlabeled = sparse_active_learning_scores(crowd_item, crowd_annotator, crowd_class, pred_probs[crowd_rows],
                                                                 pred_probs[unanswered], num_annotators=m)
    else:
        scores, scores_unlabeled = active_learning_scores(np.zeros((0, 1)), np.zeros((0, k)), pred_probs[unanswered])
    priority[crowd_rows] = 1 - scores
    priority[unanswered] = 1 - scores_unlabeled
    # An item settled as `unknown` / `not_a_face` by few answers still deserves another look: shrink the share.
    priority[other] = 1 - consensus_quality[other] * total[other] / (total[other] + 1)

    # Annotators, all of them (excluded ones too), against the consensus.
    confusion = annotator_confusions(item_index, annotator_index, answer, consensus, num_annotators=m, num_categories=c)
    # Agreement only on faces someone else answered too: on a face answered once the consensus leans on that answer.
    shared = np.bincount(item_index, minlength=n)[item_index] >= 2  # one live answer per (face, annotator)
    judged_answer = shared & (consensus[item_index] >= 0)
    judged = np.bincount(annotator_index[judged_answer], minlength=m)
    hits = np.bincount(annotator_index[judged_answer & (answer == consensus[item_index])], minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(judged > 0, hits / np.maximum(judged, 1), np.nan)
    category_probs = np.zeros((n, c))
    category_probs[:, is_model] = pred_probs[:, category_class[is_model]]
    bias, bias_cell = annotator_bias(item_index, annotator_index, answer, consensus, counts, in_consensus=in_consensus,
                                     pred_probs=category_probs)
    annotator_answers = np.bincount(annotator_index, minlength=m)
    shared_items = np.bincount(annotator_index[shared], minlength=m)
    answer_class = category_class[answer]
    in_model = answer_class >= 0
    model_items = np.bincount(annotator_index[in_model], minlength=m)
    model_agree = np.bincount(annotator_index[in_model & (answer_class == pred_probs.argmax(axis=1)[item_index])], minlength=m)
    annotator_quality = np.where(shared_items > 0, annotator_quality, np.nan)
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
        annotator_answers=annotator_answers, annotator_shared_items=shared_items, annotator_model_items=model_items,
        annotator_model_agree=model_agree, confusion=confusion, worst_category=worst_classes(confusion),
        gold_answers=gold_answers, gold_correct=gold_correct, alpha=krippendorff_alpha(counts), kappa=kappa,
        per_category_kappa=per_kappa, per_category_alpha=per_alpha, per_category_agreement=specific_agreement(counts),
        method=method,
    )
