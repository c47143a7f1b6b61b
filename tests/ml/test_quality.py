"""ml.quality.analyse on crafted crowds: consensus, issues, priorities and gold counts behave as promised."""
import numpy as np
import pytest

from ml import quality as q
from tests.ml.crowd_support import K, OTHER, crowd, probs_for


def test_a_known_spammer_ranks_last():
    truth, items, annotators, answers = crowd(spammer=3)
    result = q.analyse(items, annotators, answers, probs_for(truth), category_class=np.arange(K), num_annotators=8)
    assert result.method == "crowdlab"
    assert int(np.nanargmin(result.annotator_quality)) == 3
    assert int(np.argmin(result.annotator_agreement)) == 3
    assert (result.consensus == truth).mean() > 0.9


def test_a_two_one_split_against_a_confident_model_gets_low_consensus_quality():
    truth, items, annotators, answers = crowd(n=60, spammer=-1, seed=1)
    probs = probs_for(truth, p=0.8, seed=1)
    # Item 0: two annotators say class 1, one says class 2, and the model is sure it is class 2.
    keep = items != 0
    items, annotators, answers = items[keep], annotators[keep], answers[keep]
    items, annotators, answers = np.r_[items, 0, 0, 0], np.r_[annotators, 0, 1, 2], np.r_[answers, 1, 1, 2]
    probs[0] = np.full(K, 0.01 / 7)
    probs[0, 2] = 0.99
    result = q.analyse(items, annotators, answers, probs, category_class=np.arange(K), num_annotators=8)
    unanimous = [i for i in range(1, 60) if len(set(answers[items == i])) == 1]
    assert result.consensus_quality[0] < 0.65
    assert result.consensus_quality[0] < result.consensus_quality[unanimous].min() - 0.1
    assert 0 in np.argsort(result.consensus_quality)[:3]  # among the worst three of sixty
    assert 0 in np.argsort(-result.priority)[:3]  # and ActiveLab wants another answer for it


def test_gold_accuracy_counts_answers_on_gold_items_only():
    items = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    annotators = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    answers = np.array([1, 1, 2, 3, 4, 4, 5, 5])
    gold = np.array([1, 2, -1, 5])
    result = q.analyse(items, annotators, answers, probs_for(np.array([1, 2, 4, 5])), category_class=np.arange(K),
                       num_annotators=2, gold=gold)
    assert result.gold_answers.tolist() == [3, 3]
    assert result.gold_correct.tolist() == [3, 2]  # annotator 1 answered 3 on gold item 1 (gold 2)


def test_answers_outside_the_model_classes_are_votes_and_can_be_the_consensus():
    items = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    annotators = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    answers = np.array([9, 9, 3, 1, 1, 8, 2, 2, 2])  # 9 = not_a_face, 8 = unknown
    result = q.analyse(items, annotators, answers, probs_for(np.array([3, 1, 2])), category_class=OTHER, num_annotators=3)
    assert result.kind.tolist() == [q.OTHER_ANSWER, q.CROWD, q.CROWD]
    assert result.consensus.tolist() == [9, 1, 2]
    assert result.consensus_quality[0] == pytest.approx(2 / 3)
    assert result.counts[1].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 1, 0]


def test_reference_labels_are_scored_when_nobody_answered():
    truth = np.arange(40) % K
    reference = truth.copy()
    reference[:5] = (truth[:5] + 1) % K
    result = q.analyse(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), probs_for(truth, p=0.85), category_class=np.arange(K),
                       num_annotators=0, reference=reference)
    assert set(result.kind) == {q.REFERENCE}
    assert result.consensus.tolist() == reference.tolist()
    assert result.label_quality[:5].max() < result.label_quality[5:].min()
    assert np.isfinite(result.priority).all()
