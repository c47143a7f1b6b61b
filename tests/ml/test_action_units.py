"""Action-unit numbers (ml.action_units) on worked examples and crafted crowds."""
import numpy as np
import pytest

from ml.action_units import (AU_CATALOGUE, AU_NAMES, EMFACS_PROTOTYPES, PRESETS, au_agreement, au_answers_check,
                             au_consensus, au_disputes)

DISFA = np.array(PRESETS["disfa"])
AU12 = int(np.flatnonzero(DISFA == 12)[0])


def _crowd(*, n=600, annotators=10, per_face=3, flip=0.06, prevalence=0.3, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, len(DISFA))) < prevalence
    item = np.repeat(np.arange(n), per_face)
    who = np.concatenate([rng.choice(annotators, per_face, replace=False) for _ in range(n)])
    present = (truth[item] ^ (rng.random((len(item), len(DISFA))) < flip)).astype(int)
    return truth, item, who, present


def _check(item, who, present, intensity=None, *, n, m, aus=DISFA):
    return au_answers_check(item, who, present, intensity, au_numbers=aus, num_items=n, num_annotators=m)


def test_catalogue_presets_and_prototypes_are_consistent():
    numbers = [number for number, _, _ in AU_CATALOGUE]
    assert len(numbers) == len(set(numbers)) and all(name and text for _, name, text in AU_CATALOGUE)
    assert AU_NAMES[12] == "Lip corner puller" and AU_NAMES[6] == "Cheek raiser"
    for preset in PRESETS.values():
        assert len(preset) == 12 and set(preset) <= set(numbers)
    for prototype, key in EMFACS_PROTOTYPES.values():
        assert set(key) <= set(prototype) <= set(numbers)
    assert EMFACS_PROTOTYPES["happiness"][0] == (6, 12) and EMFACS_PROTOTYPES["surprise"][0] == (1, 2, 5, 26)


def test_per_au_alpha_and_prevalence_on_a_worked_example():
    # Three faces, two judges, one AU: (present, present), (absent, absent), (present, absent).
    # Coincidences o11 = 2, o00 = 2, o01 = o10 = 1; n = 6, n1 = n0 = 3:
    # alpha = 1 - (n - 1) (o01 + o10) / (2 n0 n1) = 1 - 5 * 2 / 18 = 4/9.
    a = _check([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [[1], [1], [0], [0], [1], [0]], n=3, m=2, aus=[12])
    g = au_agreement(a)
    assert g.alpha[0] == pytest.approx(4 / 9)
    assert g.prevalence[0] == pytest.approx(0.5)
    assert g.positive_agreement[0] == pytest.approx(2 / 3)  # of 3 present judgements, 2 met another present
    assert g.faces.tolist() == [3] and g.judgements.tolist() == [6]


def test_rare_aus_report_their_prevalence_beside_alpha():
    truth, item, who, present = _crowd(prevalence=0.3)
    rare = np.random.default_rng(2).random(len(item)) < 0.02
    present[:, 0] = rare  # AU1 marked at random on 2% of answers: high raw agreement, alpha ~ 0
    g = au_agreement(_check(item, who, present, n=600, m=10))
    assert g.prevalence[0] < 0.05 and abs(g.alpha[0]) < 0.1
    assert (g.alpha[1:] > 0.6).all() and np.allclose(g.prevalence[1:], 0.3 + 0.06 * (1 - 2 * 0.3), atol=0.05)


def test_an_annotator_who_never_marks_au12_has_low_sensitivity_on_it():
    truth, item, who, present = _crowd()
    present[who == 0, AU12] = 0
    c = au_consensus(_check(item, who, present, n=600, m=10))
    assert c.positives[0, AU12] >= 40
    assert c.sensitivity[0, AU12] == 0.0 and c.sensitivity_upper[0, AU12] < 0.2
    assert c.specificity[0, AU12] > 0.95  # they never call it present wrongly either
    others = np.delete(c.sensitivity[:, AU12], 0)
    assert others.min() > 0.7 and np.delete(c.sensitivity_upper[:, AU12], 0).min() > 0.85
    assert np.delete(c.sensitivity[0], AU12).min() > 0.7  # the other AUs of the same annotator are fine
    # Their silence on AU12 carries little weight: the log likelihood ratio of an "absent" from them is a small
    # fraction of an honest annotator's.
    silence = np.abs(np.log((1 - c.model_sensitivity[:, AU12]) / c.model_specificity[:, AU12]))
    assert silence[0] < 0.1 * silence[1:].min()
    assert (c.present[:, AU12] == truth[:, AU12]).mean() > 0.93


def test_weighted_consensus_beats_the_majority_when_some_annotators_answer_at_random():
    truth, item, who, present = _crowd(n=800, annotators=8, flip=0.05, seed=5)
    rng = np.random.default_rng(6)
    spam = np.isin(who, [0, 1])
    present[spam] = rng.random((spam.sum(), len(DISFA))) < 0.5
    c = au_consensus(_check(item, who, present, n=800, m=8))
    majority = (np.stack([np.bincount(item, weights=present[:, u]) for u in range(len(DISFA))], 1) / 3) >= 0.5
    assert (c.present == truth).mean() > (majority == truth).mean() + 0.01
    assert c.model_sensitivity[:2].mean() < 0.7 and c.model_specificity[:2].mean() < 0.7
    assert c.model_sensitivity[2:].min() > 0.8


def test_split_judgements_are_disputed_and_unanimous_ones_are_not():
    # Two newcomers (annotators 10 and 11, rated like the crowd) split 1-1 on AU12 of face 200 and agree on
    # face 201; a crowd of 10 fits the rates. Equal rates make a 1-1 split say nothing: P(present) = prevalence.
    truth, item, who, present = _crowd(n=200)
    item = np.concatenate([item, [200, 200, 201, 201]])
    who = np.concatenate([who, [10, 11, 10, 11]])
    extra = np.zeros((4, len(DISFA)), int)
    extra[0, AU12], extra[2, AU12], extra[3, AU12] = 1, 1, 1
    present = np.concatenate([present, extra])
    a = _check(item, who, present, n=202, m=12)
    c = au_consensus(a)
    assert abs(c.probability[200, AU12] - c.prevalence[AU12]) < 0.15
    face, number, reason = au_disputes(a, c)
    pairs = list(zip(face.tolist(), number.tolist()))
    assert (200, 12) in pairs and (201, 12) not in pairs
    assert reason[pairs.index((200, 12))].startswith(
        "AU12 (lip corner puller): 1 present, 1 absent; consensus P(present) = 0.")
    # Every disputed cell is a split one the consensus is unsure of, least sure first.
    probability = c.probability[face, np.searchsorted(DISFA, number)]
    sure = np.maximum(probability, 1 - probability)
    assert (sure < 0.8).all() and (np.diff(sure) >= 0).all()
    assert len(face) < 0.05 * 200 * len(DISFA)  # 3 answers at 6% error: few cells are truly in doubt


def test_intensity_consensus_and_agreement():
    item = [0, 0, 0, 1, 1]
    who = [0, 1, 2, 0, 1]
    present = [[1], [1], [1], [0], [0]]
    intensity = [[2], [3], [5], [0], [0]]
    a = _check(item, who, present, intensity, n=2, m=3, aus=[6])
    c = au_consensus(a)
    assert c.present[:, 0].tolist() == [1, 0] and c.intensity[:, 0].tolist() == [3, 0]
    assert au_agreement(a).intensity_alpha[0] == pytest.approx(0.0)  # a single unit: D_o = D_e, alpha 0


def test_unjudged_aus_are_not_counted_as_absent():
    a = _check([0, 0], [0, 1], [[1, -1], [1, -1]], n=1, m=2, aus=[6, 12])
    c = au_consensus(a)
    assert c.present[0].tolist() == [1, -1] and np.isnan(c.probability[0, 1])
    assert c.judgements[0].tolist() == [2, 0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="catalogue"):
        _check([0], [0], [[1]], n=1, m=1, aus=[99])
    with pytest.raises(ValueError, match="not marked present"):
        _check([0], [0], [[0]], [[3]], n=1, m=1, aus=[12])
    with pytest.raises(ValueError, match=r"\(A, U\)"):
        _check([0], [0], [[1, 0]], n=1, m=1, aus=[12])
    with pytest.raises(ValueError, match="1 \\(present\\)"):
        _check([0], [0], [[2]], n=1, m=1, aus=[12])
    with pytest.raises(ValueError, match="one answer per"):
        _check([0, 0], [0, 0], [[1], [1]], n=1, m=1, aus=[12])
