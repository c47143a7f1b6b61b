"""Valence-arousal numbers (ml.valence_arousal) on worked examples and crafted crowds."""
import itertools

import numpy as np
import pytest

from ml.valence_arousal import (MIN_SHARED_FACES, icc_oneway, interval_alpha, va_agreement, va_answers_check,
                                va_consensus, va_spread_issues)

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders x 12 units example;
# the paper gives alpha_interval = 0.849.
KRIPPENDORFF = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]).T
# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(1,1) = 0.17 in their Table 4.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def _rows(matrix):
    item, annotator = np.nonzero(~np.isnan(matrix))
    return item, annotator, matrix[item, annotator]


def textbook_interval_alpha(matrix):
    """The coincidence-matrix recipe, written out: values x values matrix o, delta^2 = (c - k)^2."""
    units = [row[~np.isnan(row)] for row in matrix]
    units = [u for u in units if len(u) >= 2]
    values = sorted({v for u in units for v in u})
    at = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for u in units:
        for i, j in itertools.permutations(range(len(u)), 2):
            o[at[u[i]], at[u[j]]] += 1 / (len(u) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta = (np.array(values)[:, None] - np.array(values)[None, :]) ** 2
    d_o = (o * delta).sum() / n
    d_e = (np.outer(n_c, n_c) * delta).sum() / (n * (n - 1))
    return 1 - d_o / d_e


def anova_icc_1_1(matrix):
    """ICC(1,1) from the one-way ANOVA table of a complete targets x judges matrix (Shrout & Fleiss)."""
    n, k = matrix.shape
    bms = k * ((matrix.mean(axis=1) - matrix.mean()) ** 2).sum() / (n - 1)
    wms = ((matrix - matrix.mean(axis=1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    return (bms - wms) / (bms + (k - 1) * wms)


def test_interval_alpha_matches_krippendorffs_worked_example_and_the_textbook_recipe():
    item, _, value = _rows(KRIPPENDORFF)
    assert interval_alpha(item, value) == pytest.approx(0.849, abs=5e-4)
    assert interval_alpha(item, value) == pytest.approx(textbook_interval_alpha(KRIPPENDORFF), abs=1e-12)
    rng = np.random.default_rng(3)
    sparse = np.where(rng.random((40, 7)) < 0.4, np.round(rng.uniform(-1, 1, (40, 7)), 1), NAN)
    item, _, value = _rows(sparse)
    assert interval_alpha(item, value) == pytest.approx(textbook_interval_alpha(sparse), abs=1e-12)


def test_icc_is_shrout_and_fleiss_icc_1_1():
    item, _, value = _rows(SHROUT_FLEISS)
    assert icc_oneway(item, value) == pytest.approx(0.17, abs=5e-3)
    assert icc_oneway(item, value) == pytest.approx(anova_icc_1_1(SHROUT_FLEISS), abs=1e-12)
    rng = np.random.default_rng(1)
    random = rng.normal(0, 1, (30, 1)) + rng.normal(0, 0.5, (30, 3))
    item, _, value = _rows(random)
    assert icc_oneway(item, value) == pytest.approx(anova_icc_1_1(random), abs=1e-12)


def test_agreement_without_pairs_or_variance_is_nan_not_a_number_that_looks_real():
    assert np.isnan(interval_alpha(np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3])))  # one answer per face
    assert np.isnan(interval_alpha(np.array([0, 0, 1, 1]), np.full(4, 0.5)))
    assert np.isnan(icc_oneway(np.array([0, 0]), np.array([0.1, 0.3])))


def _crowd(*, n=400, annotators=10, per_face=3, offset=None, noisy=None, seed=0, sd=0.08):
    """True face values in -0.8..0.8; annotators answer with Gaussian noise sd; offset = {annotator: shift},
    noisy = {annotator: sd}. Returns truth, item, annotator, value."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(-0.6, 0.6, n)
    item = np.repeat(np.arange(n), per_face)
    who = np.concatenate([rng.choice(annotators, per_face, replace=False) for _ in range(n)])
    value = truth[item] + rng.normal(0, sd, len(item))
    for a, shift in (offset or {}).items():
        value[who == a] += shift
    for a, s in (noisy or {}).items():
        value[who == a] += rng.normal(0, s, (who == a).sum())
    return truth, item, who, np.clip(value, -1, 1)


def _consensus(item, who, value, n, m):
    a = va_answers_check(item, who, value, num_items=n, num_annotators=m)
    return a, va_consensus(a)


def test_an_annotator_offset_by_plus_0_4_is_found_with_the_right_sign_and_peers_stay_clean():
    truth, item, who, value = _crowd(offset={0: 0.4, 1: -0.3})
    _, c = _consensus(item, who, value, len(truth), 10)
    assert c.annotator_offset[0] == pytest.approx(0.4, abs=0.05)
    assert 0.25 < c.annotator_offset_bound[0] <= c.annotator_offset[0]
    assert c.annotator_offset[1] == pytest.approx(-0.3, abs=0.05) and c.annotator_offset_bound[1] < -0.15
    assert np.abs(c.annotator_offset_bound[2:]).max() == 0.0  # honest ones: not told apart from 0
    # The consensus takes the offsets out: closer to the truth than the plain mean of the answers.
    mean = np.bincount(item, weights=value) / np.bincount(item)
    assert np.abs(c.value - truth).mean() < 0.7 * np.abs(mean - truth).mean()


def test_thin_evidence_gives_nan_and_a_few_odd_answers_give_a_zero_bound():
    truth, item, who, value = _crowd(n=200)
    # Annotator 10 answers two shared faces, annotator 11 four, both far off on every one.
    extra = [(0, 10, 0.9), (1, 10, 0.9)] + [(i, 11, truth[i] + 0.3) for i in (2, 3, 4, 5)]
    item = np.append(item, [e[0] for e in extra])
    who = np.append(who, [e[1] for e in extra])
    value = np.clip(np.append(value, [e[2] for e in extra]), -1, 1)
    value[(who == 11)] += np.array([0.25, -0.3, 0.2, -0.25])  # noisy, so four answers cannot pin the shift down
    _, c = _consensus(item, who, np.clip(value, -1, 1), 200, 12)
    assert c.annotator_shared[10] == 2 < MIN_SHARED_FACES
    assert np.isnan(c.annotator_offset[10]) and np.isnan(c.annotator_noise[10])
    assert c.annotator_shared[11] == 4 and c.annotator_offset_bound[11] == 0.0


def test_noise_level_is_the_annotators_own_with_the_peers_share_taken_out():
    truth, item, who, value = _crowd(n=800, noisy={3: 0.3}, sd=0.08)
    _, c = _consensus(item, who, value, len(truth), 10)
    assert c.annotator_noise[3] == pytest.approx(np.hypot(0.3, 0.08), abs=0.04)
    honest = np.delete(c.annotator_noise, 3)
    assert np.abs(honest - 0.08).max() < 0.03  # not the ~0.1 the raw differences from peers would say
    assert c.annotator_noise_lower[3] > honest.max()
    assert (c.annotator_noise_lower <= c.annotator_noise + 1e-12).all()
    assert c.annotator_weight[3] < 0.2 * np.delete(c.annotator_weight, 3).min()


def test_consensus_resists_one_wild_answer_and_a_noisy_annotator():
    # Five answers near 0.5, one wild -1: the mean moves to 0.25, the consensus barely.
    item = np.zeros(6, dtype=int)
    who = np.arange(6)
    value = np.array([0.5, 0.48, 0.52, 0.5, 0.49, -1.0])
    _, c = _consensus(item, who, value, 1, 6)
    assert abs(c.value[0] - 0.5) < 0.1 < abs(value.mean() - 0.5)
    truth, item, who, value = _crowd(n=600, noisy={0: 0.5, 1: 0.5})
    _, c = _consensus(item, who, value, len(truth), 10)
    mean = np.bincount(item, weights=value) / np.bincount(item)
    assert np.abs(c.value - truth).mean() < 0.8 * np.abs(mean - truth).mean()
    assert np.abs(c.value).max() <= 1


def test_faces_whose_answers_spread_widely_are_issues_with_their_reason():
    truth, item, who, value = _crowd(n=50)
    value[item == 7] = [-0.8, 0.0, 0.9]
    a, c = _consensus(item, who, value, 50, 10)
    issues, reasons = va_spread_issues(a, c, dimension="arousal")
    assert issues.tolist() == [7]
    assert reasons[0] == "arousal answers spread ±0.69 around their mean (from -0.80 to +0.90, 3 answers)"
    assert c.spread[7] == pytest.approx(np.std([-0.8, 0.0, 0.9]))


def test_per_expression_agreement_separates_a_consistent_class_from_a_confused_one():
    truth, item, who, value = _crowd(n=600, seed=4)
    group = np.arange(600) % 2
    rng = np.random.default_rng(9)
    confused = group[item] == 1
    value[confused] = rng.uniform(-1, 1, confused.sum())
    a = va_answers_check(item, who, value, num_items=600, num_annotators=10)
    agreement = va_agreement(a, group=group, num_groups=3)
    assert agreement.group_alpha[0] > 0.9 and abs(agreement.group_alpha[1]) < 0.15
    assert agreement.group_faces.tolist() == [300, 300, 0] and agreement.group_answers.tolist() == [900, 900, 0]
    assert np.isnan(agreement.group_alpha[2]) and np.isnan(agreement.group_icc[2])
    assert agreement.group_icc[0] > 0.9 and agreement.faces == 600
    assert agreement.group_alpha[1] < agreement.alpha < agreement.group_alpha[0]


def test_bad_input_is_refused_and_missing_values_are_skipped():
    with pytest.raises(ValueError, match="-1..1"):
        va_answers_check([0, 0], [0, 1], [0.2, 1.5], num_items=1, num_annotators=2)
    with pytest.raises(ValueError, match="one answer per"):
        va_answers_check([0, 0], [1, 1], [0.2, 0.3], num_items=1, num_annotators=2)
    with pytest.raises(ValueError, match="item indices"):
        va_answers_check([3], [0], [0.2], num_items=2, num_annotators=1)
    a = va_answers_check([0, 0, 1], [0, 1, 0], [0.2, NAN, -0.4], num_items=2, num_annotators=2)
    assert a.item.tolist() == [0, 1] and a.value.tolist() == [0.2, -0.4]
    c = va_consensus(a)
    assert c.value.tolist() == [0.2, -0.4] and np.isnan(c.spread).all()
