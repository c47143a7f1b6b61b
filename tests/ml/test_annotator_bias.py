"""Annotator quality catches systematic bias (ml.annotator_bias), not only random errors, on crafted crowds."""
import numpy as np
import pytest

from ml import quality as q
from ml.annotator_bias import annotator_bias, worst_classes

K = 8


def _probs(truth, *, p=0.6, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), len(truth)) * (1 - p)
    probs[np.arange(len(truth)), truth] += p
    return probs


def _crowd(*, honest=(0.9,) * 6, n=480, per_item=3, biased=None, spammer=False, seed=0):
    """Annotators 0.. answer right with their accuracy (else a random other class); then, if given,
    biased = (accuracy, from, to, rate): right with that accuracy, but answers `to` for a `rate` share of
    the `from` faces; then a spammer (uniformly random). Returns truth, items, annotators, answers, accuracy."""
    rng = np.random.default_rng(seed)
    accuracy = list(honest) + ([biased[0]] if biased else []) + ([0.0] if spammer else [])
    m = len(accuracy)
    truth = rng.integers(0, K, n)
    items, annotators, answers = [], [], []
    for i in range(n):
        for a in rng.choice(m, per_item, replace=False):
            if spammer and a == m - 1:
                given = rng.integers(0, K)
            elif biased and a == len(honest) and truth[i] == biased[1] and rng.random() < biased[3]:
                given = biased[2]
            elif rng.random() < accuracy[a]:
                given = truth[i]
            else:
                given = (truth[i] + rng.integers(1, K)) % K
            items.append(i), annotators.append(a), answers.append(given)
    items, annotators, answers = np.array(items), np.array(annotators), np.array(answers)
    right = np.bincount(annotators, weights=answers == truth[items], minlength=m) / np.bincount(annotators, minlength=m)
    return truth, items, annotators, answers, right


def _analyse(truth, items, annotators, answers, m):
    return q.analyse(items, annotators, answers, _probs(truth), category_class=np.arange(K), num_annotators=m)


@pytest.mark.parametrize(("source", "target"), [(3, 0), (1, 2), (6, 2), (0, 7)])
def test_a_biased_annotator_ranks_below_honest_ones_who_make_more_errors(source, target):
    # Six good annotators, two weaker ones (random errors), one as good as the six who turns most `source` faces into `target`.
    honest = (0.95,) * 6 + (0.82, 0.82)
    truth, items, annotators, answers, right = _crowd(honest=honest, n=800, biased=(0.95, source, target, 0.8))
    biased = len(honest)
    assert right[biased] > right[6:8].max()  # more often right than the weaker honest ones...
    result = _analyse(truth, items, annotators, answers, biased + 1)
    assert result.annotator_crowdlab_quality[biased] > result.annotator_crowdlab_quality[6:8].min()  # CROWDLAB agrees...
    assert int(np.argmin(result.annotator_quality)) == biased  # ...yet with the bias term they rank last
    assert result.bias_cell[biased].tolist() == [source, target]
    assert result.annotator_bias[biased] > 0.3
    assert result.annotator_bias[:biased].max() < 0.05
    np.testing.assert_allclose(result.annotator_quality, result.annotator_crowdlab_quality * (1 - result.annotator_bias))


def test_a_spammer_ranks_last_and_a_biased_annotator_next():
    truth, items, annotators, answers, right = _crowd(honest=(0.9,) * 6 + (0.8,), biased=(0.9, 5, 1, 0.9), spammer=True)
    result = _analyse(truth, items, annotators, answers, 9)
    assert np.argsort(result.annotator_quality)[:2].tolist() == [8, 7]


def test_honest_annotators_with_few_answers_are_not_pushed_to_the_bottom_by_noise():
    truth, items, annotators, answers, right = _crowd(honest=(0.9,) * 6, biased=(0.9, 2, 4, 0.8), spammer=True, seed=4)
    # Annotator 8 joins late: five faces, one odd answer on a face the others agree on (1 of 1 in that cell).
    late = [i for i in range(len(truth)) if (answers[items == i] == truth[i]).all()][:5]
    odd = (truth[late[0]] + 3) % K
    items = np.r_[items, late]
    annotators = np.r_[annotators, [8] * 5]
    answers = np.r_[answers, odd, truth[late[1:]]]
    result = _analyse(truth, items, annotators, answers, 9)
    assert result.annotator_bias[8] < 0.01
    assert result.annotator_bias[:6].max() < 0.05
    ranked = np.argsort(result.annotator_quality).tolist()
    assert ranked[:2] == [7, 6]  # the spammer, then the biased annotator; the newcomer above both
    assert ranked.index(8) >= 2


def test_errors_that_their_co_annotators_make_on_the_same_faces_are_not_bias():
    # Half the class-3 faces look like class 0 to everyone: all annotators answer 0 there.
    rng = np.random.default_rng(7)
    truth = rng.integers(0, K, 400)
    hard = (truth == 3) & (rng.random(400) < 0.5)
    items, annotators, answers = [], [], []
    for i in range(400):
        for a in rng.choice(6, 3, replace=False):
            given = 0 if hard[i] and rng.random() < 0.5 else truth[i]
            items.append(i), annotators.append(a), answers.append(given)
    items, annotators, answers = np.array(items), np.array(annotators), np.array(answers)
    result = _analyse(truth, items, annotators, answers, 6)
    assert result.annotator_bias.max() < 0.05


def test_annotator_bias_reads_plain_arrays():
    # Faces 0-9 have consensus 3; annotators 1 and 2 answer 3 there, annotator 0 answers 0 on all ten.
    items = np.repeat(np.arange(10), 3)
    annotators = np.tile([0, 1, 2], 10)
    answers = np.tile([0, 3, 3], 10)
    counts = np.zeros((10, K), dtype=int)
    np.add.at(counts, (items, answers), 1)
    bias, cell = annotator_bias(items, annotators, answers, np.full(10, 3), counts, in_consensus=np.ones(3, bool))
    assert cell.tolist() == [[3, 0], [-1, -1], [-1, -1]]
    assert bias[1] == bias[2] == 0
    # 10 of 10: the 99.9% lower bound is 0.501; the peers' rate is their pseudo-answer's (1/3 of answers on
    # consensus-3 faces are 0) spread over 2 answers + 1: 0.111.
    assert bias[0] == pytest.approx(0.501 - 0.111, abs=0.002)
    # Left out of the consensus counts, their own answers are not in `counts`: the same result.
    counts_without = counts.copy()
    counts_without[:, 0] -= 1
    again, cell_again = annotator_bias(items, annotators, answers, np.full(10, 3), counts_without,
                                         in_consensus=np.array([False, True, True]))
    assert cell_again.tolist() == cell.tolist() and again[0] == pytest.approx(bias[0])


def _mostly_alone(*, seed=0, shared=300, alone=400):
    """Eight honest annotators (six at 0.9, two at 0.82) answer the `shared` faces three at a time; a ninth, right
    90% of the time but answering 0 for 80% of the class-3 faces, joins 30 of them and takes 60% of the `alone`
    faces, which get one answer each (the honest ones take the rest). Returns truth, items, annotators, answers, m."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, shared + alone)
    accuracy = (0.9,) * 6 + (0.82, 0.82, 0.9)
    biased = len(accuracy) - 1
    rows = [(i, a) for i in range(shared) for a in rng.choice(biased, 3, replace=False)]
    rows += [(i, biased) for i in rng.choice(shared, 30, replace=False)]
    rows += [(i, biased if rng.random() < 0.6 else rng.integers(0, biased)) for i in range(shared, shared + alone)]
    items, annotators, answers = [], [], []
    for i, a in rows:
        if a == biased and truth[i] == 3 and rng.random() < 0.8:
            given = 0
        elif rng.random() < accuracy[a]:
            given = truth[i]
        else:
            given = (truth[i] + rng.integers(1, K)) % K
        items.append(i), annotators.append(a), answers.append(given)
    return truth, np.array(items), np.array(annotators), np.array(answers), len(accuracy)


def test_a_biased_annotator_who_mostly_answers_alone_is_caught_through_the_model():
    truth, items, annotators, answers, m = _mostly_alone()
    biased = m - 1
    alone = np.bincount(items, minlength=len(truth))[items] == 1
    assert alone[annotators == biased].mean() > 0.85  # 229 of their 259 answers are the face's only one
    result = _analyse(truth, items, annotators, answers, m)
    assert result.bias_cell[biased].tolist() == [3, 0] and result.annotator_bias[biased] > 0.2
    assert result.annotator_bias[:biased].max() < 0.05
    assert int(np.argmin(result.annotator_quality)) == biased
    # CROWDLAB alone ranks them above the weaker honest ones.
    assert result.annotator_crowdlab_quality[biased] > result.annotator_crowdlab_quality[6:8].min()
    # Without the model only their 30 shared faces count (one of them class 3): no bias can be shown.
    without, _ = annotator_bias(items, annotators, answers, result.consensus, result.counts,
                                  in_consensus=np.ones(m, bool))
    assert without[biased] < 0.05


def test_where_co_annotators_answered_they_outweigh_a_model_that_is_wrong_on_a_class():
    # The model calls every class-3 face class 0 (0.9); three of six annotators answer each face, right 90% of
    # the time.
    rng = np.random.default_rng(3)
    truth = rng.integers(0, K, 480)
    probs = _probs(truth)
    wrong = truth == 3
    probs[wrong] = _probs(np.zeros(wrong.sum(), dtype=int), p=0.9, seed=1)
    items = np.repeat(np.arange(480), 3)
    annotators = np.concatenate([rng.choice(6, 3, replace=False) for _ in range(480)])
    right = rng.random(len(items)) < 0.9
    answers = np.where(right, truth[items], (truth[items] + rng.integers(1, K, len(items))) % K)
    result = q.analyse(items, annotators, answers, probs, category_class=np.arange(K), num_annotators=6)
    assert (result.consensus[wrong] == 3).mean() > 0.9
    assert result.annotator_bias.max() < 0.01
    # The same faces with the model counted as ten annotators: it sets the reference, and everyone "turns 0 into 3".
    heavy, cell = annotator_bias(items, annotators, answers, result.consensus, result.counts,
                                   in_consensus=np.ones(6, bool), pred_probs=probs, model_weight=10)
    assert heavy.min() > 0.05 and (cell == [0, 3]).all()


def test_worst_class_is_the_consensus_class_they_get_wrong_most():
    confusion = np.zeros((1, 3, 3), dtype=int)
    confusion[0] = [[5, 0, 0], [1, 4, 0], [3, 0, 2]]
    assert worst_classes(confusion).tolist() == [2]
