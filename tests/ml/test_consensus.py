"""ml.consensus on crafted numbers: confident-learning flags and ActiveLab priorities."""
import numpy as np

from ml import consensus
from tests.ml.crowd_support import K, answer_matrix, crowd, probs_for


def test_single_labels_get_confident_learning_flags():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, K, 400)
    given = truth.copy()
    flipped = rng.choice(400, 60, replace=False)
    given[flipped] = (truth[flipped] + 1) % K
    probs = probs_for(truth, p=0.8)
    quality, issues = consensus.single_label_issues(given, probs)
    assert issues[flipped].mean() > 0.8 and issues[np.setdiff1d(np.arange(400), flipped)].mean() < 0.05
    assert quality[flipped].max() < quality[np.setdiff1d(np.arange(400), flipped)].min()


def test_activelab_prefers_unlabelled_and_disputed_items():
    truth, items, annotators, answers = crowd(n=50, spammer=-1, seed=2)
    probs = probs_for(truth, p=0.6, seed=2)
    labelled, unlabelled = consensus.active_learning_scores(
        answer_matrix(items, annotators, answers),
        probs, probs[:5])
    assert labelled.shape == (50,) and unlabelled.shape == (5,)
    assert unlabelled.mean() < labelled.mean()
