"""The sparse CROWDLAB and ActiveLab give cleanlab's numbers on crowds small enough for cleanlab's dense matrix."""
import warnings

import numpy as np
import pytest

from ml import consensus, crowd_sparse
from tests.ml.crowd_support import K, answer_matrix, crowd, probs_for


def random_crowd(seed: int, *, n=300, m=25, lonely=2, singles=0.3, empty=3):
    """A crowd with uneven work: 1 to 5 answers per face, a spammer, annotators alone on their faces, and annotator
    columns that answered nothing -> (items, annotators, answers, pred_probs, M)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    skill = rng.uniform(0.3, 0.95, m)
    skill[0] = 1 / K
    rows = []
    for i in range(n):
        per_item = 1 if rng.random() < singles else rng.integers(2, 6)
        for a in rng.choice(m - lonely, per_item, replace=False):
            rows.append((i, a, truth[i] if rng.random() < skill[a] else rng.integers(0, K)))
    for j, i in enumerate(rng.choice(n, 4 * lonely, replace=False)):  # lonely annotators: faces nobody else answered
        if not any(r[0] == i for r in rows):
            rows.append((i, m - lonely + j % lonely, rng.integers(0, K)))
    items, annotators, answers = map(np.array, zip(*rows))
    pred_probs = probs_for(truth, p=rng.uniform(0.2, 0.8), seed=seed)
    return items, annotators, answers, pred_probs, m + empty


@pytest.mark.parametrize("seed", range(6))
def test_crowdlab_matches_cleanlab(seed):
    items, annotators, answers, pred_probs, m = random_crowd(seed)
    dense = consensus.crowdlab(answer_matrix(items, annotators, answers, len(pred_probs), m), pred_probs)
    sparse = crowd_sparse.crowdlab(items, annotators, answers, pred_probs, num_annotators=m)
    assert dense.method == "crowdlab"
    np.testing.assert_array_equal(sparse.label, dense.label)
    np.testing.assert_allclose(sparse.quality, dense.quality, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.agreement, dense.agreement, rtol=1e-12)
    np.testing.assert_allclose(sparse.annotator_quality, dense.annotator_quality, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.annotator_agreement, dense.annotator_agreement, rtol=1e-12)
    assert np.isnan(sparse.annotator_quality[-3:]).all()  # annotators without answers


def test_crowdlab_matches_cleanlab_itself_without_the_speedups():
    from cleanlab.multiannotator import get_label_quality_multiannotator

    items, annotators, answers, pred_probs, m = random_crowd(11, m=12, lonely=0, empty=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = get_label_quality_multiannotator(answer_matrix(items, annotators, answers), pred_probs, verbose=False,
                                                return_detailed_quality=False, return_weights=True)
    sparse = crowd_sparse.crowdlab(items, annotators, answers, pred_probs, num_annotators=m)
    np.testing.assert_array_equal(sparse.label, info["label_quality"]["consensus_label"].to_numpy())
    np.testing.assert_allclose(sparse.quality, info["label_quality"]["consensus_quality_score"], rtol=1e-9)
    np.testing.assert_allclose(sparse.annotator_quality, info["annotator_stats"].sort_index()["annotator_quality"], rtol=1e-9)
    np.testing.assert_allclose(sparse.annotator_weight, info["annotator_weight"], rtol=1e-9)
    assert sparse.model_weight == pytest.approx(info["model_weight"], rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_active_learning_scores_match_cleanlab(seed):
    items, annotators, answers, pred_probs, m = random_crowd(seed + 20)
    unlabeled = probs_for(np.arange(40) % K, p=0.4, seed=seed)
    dense, dense_unlabeled = consensus.active_learning_scores(answer_matrix(items, annotators, answers, len(pred_probs), m),
                                                              pred_probs, unlabeled)
    sparse, sparse_unlabeled = crowd_sparse.active_learning_scores(items, annotators, answers, pred_probs, unlabeled,
                                                                   num_annotators=m)
    np.testing.assert_allclose(sparse, dense, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse_unlabeled, dense_unlabeled, rtol=1e-9, atol=1e-12)


def test_active_learning_with_one_answer_per_face_matches_cleanlab():
    items = np.arange(50)
    annotators = np.arange(50) % 5
    answers = np.random.default_rng(3).integers(0, K, 50)
    pred_probs = probs_for(answers, p=0.5, seed=3)
    dense = consensus.active_learning_scores(answer_matrix(items, annotators, answers), pred_probs, pred_probs[:7])
    sparse = crowd_sparse.active_learning_scores(items, annotators, answers, pred_probs, pred_probs[:7], num_annotators=5)
    for d, s in zip(dense, sparse):
        np.testing.assert_allclose(s, d, rtol=1e-12)


def test_majority_vote_breaks_ties_as_cleanlab_does():
    from cleanlab.multiannotator import get_majority_vote_label

    rng = np.random.default_rng(5)
    n, m = 400, 6
    items = np.repeat(np.arange(n), 2)
    annotators = np.concatenate([rng.choice(m, 2, replace=False) for _ in range(n)])
    answers = rng.integers(0, 3, 2 * n)  # two answers over three classes: many ties
    pred_probs = np.full((n, K), 1 / K)  # no help from the model: frequency and annotator agreement decide
    pred_probs[: n // 2] = probs_for(np.zeros(n // 2, int), p=0.3, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = get_majority_vote_label(answer_matrix(items, annotators, answers), pred_probs, verbose=False)
    drawn = set()
    for w in caught:  # ties cleanlab broke at random: compared only for being one of the tied answers
        text = str(w.message)
        if "random selection" in text:
            drawn = set(eval(text[text.index("["): text.index("]") + 1]))
    a = crowd_sparse.answers_check(items, annotators, answers, pred_probs, num_annotators=m)
    got = crowd_sparse.majority_vote(a, pred_probs)
    decided = np.array([i not in drawn for i in range(n)])
    assert decided.sum() > n * 0.9
    np.testing.assert_array_equal(got[decided], expected[decided])


def test_bad_input_is_refused_with_a_reason():
    _, items, annotators, answers = crowd(n=10, m=4)
    probs = probs_for(np.zeros(10, int))
    with pytest.raises(ValueError, match="one answer per"):
        crowd_sparse.crowdlab(np.r_[items, items[:1]], np.r_[annotators, annotators[:1]], np.r_[answers, answers[:1]], probs,
                              num_annotators=4)
    with pytest.raises(ValueError, match="every item needs"):
        crowd_sparse.crowdlab(items, annotators, answers, np.vstack([probs, probs[:1]]), num_annotators=4)
    with pytest.raises(ValueError, match="class indices"):
        crowd_sparse.crowdlab(items, annotators, answers + K, probs, num_annotators=4)
    with pytest.raises(ValueError, match="more than one annotator"):
        crowd_sparse.crowdlab(np.arange(10), np.zeros(10, int), np.zeros(10, int), probs, num_annotators=4)
