"""ml.quality on crafted numbers: CROWDLAB and ActiveLab behave as promised, agreement statistics match published values."""
import numpy as np
import pytest

from ml import quality as q

K = 8
OTHER = np.r_[np.arange(K), -1, -1]  # eight model classes, then unknown and not_a_face


def _probs(truth, *, p=0.7, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), len(truth)) * (1 - p)
    probs[np.arange(len(truth)), truth] += p
    return probs


def _crowd(n=80, m=8, per_item=3, spammer=0, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    items, annotators, answers = [], [], []
    for i in range(n):
        for a in rng.choice(m, per_item, replace=False):
            good = a != spammer and rng.random() < 0.9
            items.append(i), annotators.append(a), answers.append(truth[i] if good else rng.integers(0, K))
    return truth, np.array(items), np.array(annotators), np.array(answers)


def test_a_known_spammer_ranks_last():
    truth, items, annotators, answers = _crowd(spammer=3)
    result = q.analyse(items, annotators, answers, _probs(truth), category_class=np.arange(K), num_annotators=8)
    assert result.method == "crowdlab"
    assert int(np.nanargmin(result.annotator_quality)) == 3
    assert int(np.argmin(result.annotator_agreement)) == 3
    assert (result.consensus == truth).mean() > 0.9


def test_a_two_one_split_against_a_confident_model_gets_low_consensus_quality():
    truth, items, annotators, answers = _crowd(n=60, spammer=-1, seed=1)
    probs = _probs(truth, p=0.8, seed=1)
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
    result = q.analyse(items, annotators, answers, _probs(np.array([1, 2, 4, 5])), category_class=np.arange(K),
                       num_annotators=2, gold=gold)
    assert result.gold_answers.tolist() == [3, 3]
    assert result.gold_correct.tolist() == [3, 2]  # annotator 1 answered 3 on gold item 1 (gold 2)


def test_answers_outside_the_model_classes_are_votes_and_can_be_the_consensus():
    items = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    annotators = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    answers = np.array([9, 9, 3, 1, 1, 8, 2, 2, 2])  # 9 = not_a_face, 8 = unknown
    result = q.analyse(items, annotators, answers, _probs(np.array([3, 1, 2])), category_class=OTHER, num_annotators=3)
    assert result.kind.tolist() == [q.OTHER_ANSWER, q.CROWD, q.CROWD]
    assert result.consensus.tolist() == [9, 1, 2]
    assert result.consensus_quality[0] == pytest.approx(2 / 3)
    assert result.counts[1].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 1, 0]


def test_single_labels_get_confident_learning_flags():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, K, 400)
    given = truth.copy()
    flipped = rng.choice(400, 60, replace=False)
    given[flipped] = (truth[flipped] + 1) % K
    probs = _probs(truth, p=0.8)
    quality, issues = q.single_label_issues(given, probs)
    assert issues[flipped].mean() > 0.8 and issues[np.setdiff1d(np.arange(400), flipped)].mean() < 0.05
    assert quality[flipped].max() < quality[np.setdiff1d(np.arange(400), flipped)].min()


def test_reference_labels_are_scored_when_nobody_answered():
    truth = np.arange(40) % K
    reference = truth.copy()
    reference[:5] = (truth[:5] + 1) % K
    result = q.analyse(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), _probs(truth, p=0.85), category_class=np.arange(K),
                       num_annotators=0, reference=reference)
    assert set(result.kind) == {q.REFERENCE}
    assert result.consensus.tolist() == reference.tolist()
    assert result.label_quality[:5].max() < result.label_quality[5:].min()
    assert np.isfinite(result.priority).all()


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210.
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    overall, per_class = q.fleiss_kappa(counts)
    assert overall == pytest.approx(0.210, abs=5e-4)
    # Category 5 by Fleiss' per-category formula: 1 - sum n(m - n) / (N m (m - 1) p q), p = 32/140.
    assert per_class[4] == pytest.approx(1 - 158 / (10 * 14 * 13 * (32 / 140) * (108 / 140)))


def test_krippendorff_alpha_matches_krippendorffs_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, nominal alpha 0.743.
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    counts = np.zeros((len(units), 6), dtype=int)
    for u, values in enumerate(units):
        for v in values:
            counts[u, v] += 1
    assert q.krippendorff_alpha(counts) == pytest.approx(0.743, abs=5e-4)


def test_near_duplicates_are_found_by_hamming_distance():
    rng = np.random.default_rng(0)
    hashes = rng.integers(-2**63, 2**63 - 1, 500, dtype=np.int64)
    hashes[10] = hashes[20] ^ np.int64(0b1011)  # 3 bits apart
    hashes[30] = hashes[40] ^ np.int64(0b1111111)  # 7 bits apart: too far
    pairs = q.near_duplicate_pairs(hashes, max_distance=4)
    assert pairs.tolist() == [[10, 20, 3]]


def test_worst_class_is_the_consensus_class_they_get_wrong_most():
    confusion = np.zeros((1, 3, 3), dtype=int)
    confusion[0] = [[5, 0, 0], [1, 4, 0], [3, 0, 2]]
    assert q.worst_classes(confusion).tolist() == [2]


def test_activelab_prefers_unlabelled_and_disputed_items():
    truth, items, annotators, answers = _crowd(n=50, spammer=-1, seed=2)
    probs = _probs(truth, p=0.6, seed=2)
    labelled, unlabelled = q.active_learning_scores(
        _matrix(items, annotators, answers),
        probs, probs[:5])
    assert labelled.shape == (50,) and unlabelled.shape == (5,)
    assert unlabelled.mean() < labelled.mean()


def _matrix(items, annotators, answers, n=None, m=None):
    matrix = np.full((n or items.max() + 1, m or annotators.max() + 1), np.nan)
    matrix[items, annotators] = answers
    return matrix


def test_the_vectorised_stand_ins_give_cleanlabs_own_numbers():
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    from ml.quality_cleanlab import cleanlab_speedups

    truth, items, annotators, answers = _crowd(n=120, m=9, spammer=4, seed=5)
    keep = np.random.default_rng(5).random(len(items)) < 0.8  # uneven numbers of answers, some single
    matrix = _matrix(items[keep], annotators[keep], answers[keep], n=120, m=9)
    matrix = matrix[~np.isnan(matrix).all(axis=1)]
    probs = _probs(np.nan_to_num(np.nanmax(matrix, axis=1)).astype(int), p=0.5, seed=5)
    options = dict(return_detailed_quality=False, verbose=False, return_weights=True)
    stock = get_label_quality_multiannotator(matrix, probs, **options)
    with cleanlab_speedups(exact=True):
        fast = get_label_quality_multiannotator(matrix, probs, **options)
        fast_scores = get_active_learning_scores(matrix, probs, probs[:7])
    stock_scores = get_active_learning_scores(matrix, probs, probs[:7])
    assert (fast["label_quality"]["consensus_label"] == stock["label_quality"]["consensus_label"]).all()
    np.testing.assert_allclose(fast["label_quality"]["consensus_quality_score"], stock["label_quality"]["consensus_quality_score"])
    np.testing.assert_allclose(fast["annotator_stats"].sort_index()["annotator_quality"], stock["annotator_stats"].sort_index()["annotator_quality"])
    np.testing.assert_allclose(fast["annotator_weight"], stock["annotator_weight"])
    assert fast["model_weight"] == pytest.approx(stock["model_weight"])
    for a, b in zip(fast_scores, stock_scores):
        np.testing.assert_allclose(a, b)
