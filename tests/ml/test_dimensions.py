"""ml.dimensions: the run's combination of valence-arousal, action units and cross-checks, on crafted arrays."""
import numpy as np

from ml.action_units import PRESETS
from ml.dimensions import AU_DISPUTED, ISSUE_KINDS, VALENCE_SPREAD, analyse_dimensions, scatter_sample

DISFA = list(PRESETS["disfa"])
AU12 = DISFA.index(12)
CLASSES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def _noisy_crowd(n=200, annotators=10, seed=0):
    """3 answers a face from 10 annotators with 6% flipped AU judgements; two newcomers (10, 11) split 1-1 on AU12
    of face n and both mark it on face n + 1 (as tests/ml/test_action_units.py's dispute test)."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, len(DISFA))) < 0.3
    item = np.repeat(np.arange(n), 3)
    who = np.concatenate([rng.choice(annotators, 3, replace=False) for _ in range(n)])
    present = (truth[item] ^ (rng.random((len(item), len(DISFA))) < 0.06)).astype(int)
    item, who = np.r_[item, n, n, n + 1, n + 1], np.r_[who, 10, 11, 10, 11]
    extra = np.zeros((4, len(DISFA)), int)
    extra[[0, 2, 3], AU12] = 1
    return item, who, np.r_[present, extra], n + 2, annotators + 2


def test_disputed_action_units_are_issues_with_one_reason_and_a_priority():
    item, who, present, n, m = _noisy_crowd()
    expression = np.zeros(len(item), dtype=int)  # all neutral: the cross-checks are not this test's concern
    dims = analyse_dimensions(item, who, expression, np.zeros(n, dtype=int), num_items=n, num_annotators=m,
                              class_names=CLASSES, au_present=present, au_numbers=DISFA)
    disputed = dims.issues[:, ISSUE_KINDS.index(AU_DISPUTED)]
    assert disputed[n - 2] and not disputed[n - 1]
    assert any(text.startswith("AU12 (lip corner puller): 1 present, 1 absent") for text in dims.reasons[n - 2])
    p = dims.au_consensus.probability
    assert dims.dispute_priority[n - 2] >= 1 - max(p[n - 2, AU12], 1 - p[n - 2, AU12]) > 0.2
    assert (dims.dispute_priority[~disputed] == 0).all() and (dims.dispute_priority[disputed] > 0.2).all()
    # One sentence per issue: a face with several disputed AUs names them all in its one AU_DISPUTED sentence.
    assert all(len(dims.reasons.get(f, [])) == dims.issues[f].sum() for f in range(n))
    assert dims.valence is None and dims.arousal is None
    assert dims.au_by_expression.shape == (len(CLASSES), len(DISFA)) and dims.au_expression_faces[0] == n


def test_valence_spread_and_consensus_cross_checks_come_in_issue_order():
    # Face 0: called happiness by everyone, valence -0.8 and no AU12; face 1: answers spread from -0.9 to +0.9.
    item, who = np.repeat([0, 1, 2], 3), np.tile([0, 1, 2], 3)
    expression = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1])
    valence = np.array([-0.8, -0.8, -0.8, -0.9, 0.9, -0.9, 0.6, 0.6, 0.6])
    present = np.zeros((9, len(DISFA)), int)
    present[6:, AU12] = 1
    dims = analyse_dimensions(item, who, expression, np.array([1, 0, 1]), num_items=3, num_annotators=3,
                              class_names=CLASSES, valence=valence, arousal=np.zeros(9), au_present=present,
                              au_numbers=DISFA)
    assert dims.issues[1, ISSUE_KINDS.index(VALENCE_SPREAD)] and not dims.issues[0, ISSUE_KINDS.index(VALENCE_SPREAD)]
    kinds = [ISSUE_KINDS[j] for j in np.flatnonzero(dims.issues[0])]
    assert kinds == ["expression_vs_au", "expression_vs_valence"]
    assert "AU12" in dims.reasons[0][0] and "valence is -0.80" in dims.reasons[0][1]
    assert not dims.issues[2].any() and 2 not in dims.reasons
    assert dims.self_consistency.contradictions.tolist() == [1, 1, 1]  # each contradicts themselves on face 0


def test_scatter_sample_is_capped_and_the_same_every_time():
    valence = np.linspace(-1, 1, 5000)
    arousal = valence.copy()
    arousal[::10] = np.nan
    faces, total = scatter_sample(valence, arousal)
    assert total == 4500 and len(faces) == 3000 and np.isfinite(arousal[faces]).all()
    assert (np.diff(faces) > 0).all() and (scatter_sample(valence, arousal)[0] == faces).all()
    few, total = scatter_sample(valence[:10], arousal[:10])
    assert total == 9 and few.tolist() == list(range(1, 10))
