"""Expression against AUs (EMFACS-7) and against valence (ml.cross_checks), per face and per annotator."""
import numpy as np
import pytest

from ml.action_units import PRESETS, au_answers_check, au_consensus
from ml.config import CLASSES
from ml.cross_checks import (AU_CONFLICT, VALENCE_CONFLICT, annotator_self_consistency, expression_au_check,
                             expression_valence_check, face_issues)
from ml.valence_arousal import va_answers_check, va_consensus

DISFA = np.array(PRESETS["disfa"])  # 1 2 4 5 6 9 12 15 17 20 25 26
C = {name: i for i, name in enumerate(CLASSES)}


def _aus(*present, judged=None):
    """int (U,) over DISFA: the listed AU numbers present, the rest absent (or -1 outside ``judged``)."""
    row = np.isin(DISFA, present).astype(int)
    if judged is not None:
        row[~np.isin(DISFA, judged)] = -1
    return row


def test_a_face_the_crowd_calls_happy_without_au12_is_flagged_from_the_crowds_own_answers():
    # Face 0: three annotators say happiness; their AU answers agree AU6 is there and AU12 is not.
    # Face 1: happiness with AU6 + AU12. Face 2: sadness with AU1 + AU4 + AU15.
    item = np.repeat([0, 1, 2], 3)
    who = np.tile([0, 1, 2], 3)
    present = np.array([_aus(6)] * 3 + [_aus(6, 12)] * 3 + [_aus(1, 4, 15)] * 3)
    present[1] = _aus(6, 12)  # one of three saw a smile on face 0: the consensus still says no AU12
    a = au_answers_check(item, who, present, au_numbers=DISFA, num_items=3, num_annotators=3)
    c = au_consensus(a)
    assert c.present[0, DISFA.tolist().index(12)] == 0
    expression = np.array([C["happiness"], C["happiness"], C["sadness"]])
    items, kinds, reasons = face_issues(expression, class_names=CLASSES, au_present=c.present, au_numbers=DISFA)
    assert items.tolist() == [0] and kinds.tolist() == [AU_CONFLICT]
    assert reasons[0] == "labelled happiness but AU12 (lip corner puller) judged absent (EMFACS prototype AU6 + AU12)"


def test_each_expression_rule_and_what_cannot_be_checked():
    rows = np.array([
        _aus(1, 2, 5, 26),  # surprise: fine
        _aus(25),  # surprise with none of 1, 2, 5, 26: conflict
        _aus(4, 15),  # sadness: fine (at least one key AU)
        _aus(12, judged=[1, 2, 4, 5, 6, 9]),  # happiness, AU12 not judged: not checkable
        _aus(6, 12),  # neutral showing the whole happiness prototype: conflict
        _aus(25),  # neutral, lips apart only: fine
        _aus(),  # contempt: its key AU14 is not in DISFA: not checkable
    ])
    expression = [C["surprise"], C["surprise"], C["sadness"], C["happiness"], C["neutral"], C["neutral"], C["contempt"]]
    conflict, checkable = expression_au_check(np.array(expression), rows, au_numbers=DISFA, class_names=CLASSES)
    assert conflict.tolist() == [False, True, False, False, True, False, False]
    assert checkable.tolist() == [True, True, True, False, True, True, False]
    _, _, reasons = face_issues(np.array(expression), class_names=CLASSES, au_present=rows, au_numbers=DISFA)
    assert reasons[0].startswith("labelled surprise but AU1 (inner brow raiser) or AU2 (outer brow raiser) or AU5")
    assert reasons[1] == "labelled neutral but shows the whole EMFACS prototype of happiness (AU6 + AU12)"


def test_a_sad_face_showing_a_smile_says_so_in_its_reason():
    rows = np.array([_aus(6, 12)])
    _, _, reasons = face_issues(np.array([C["sadness"]]), class_names=CLASSES, au_present=rows, au_numbers=DISFA)
    assert reasons.tolist() == ["labelled sadness but AU1 (inner brow raiser) or AU4 (brow lowerer) or AU15 "
                                "(lip corner depressor) judged absent (EMFACS prototype AU1 + AU4 + AU15); "
                                "it shows the happiness prototype"]


def test_expression_against_valence_from_the_crowds_valence_consensus():
    # Face 0: happy, valence answers strongly negative; face 1: happy and pleasant; face 2: sad yet pleasant;
    # face 3: surprise with negative valence (surprise can be either: not checked); face 4: no valence at all.
    item = np.repeat([0, 1, 2, 3], 3)
    who = np.tile([0, 1, 2], 4)
    value = np.array([-0.7, -0.6, -0.8, 0.7, 0.6, 0.8, 0.5, 0.6, 0.4, -0.9, -0.8, -0.9])
    c = va_consensus(va_answers_check(item, who, value, num_items=5, num_annotators=3))
    expression = np.array([C["happiness"], C["happiness"], C["sadness"], C["surprise"], C["happiness"]])
    items, kinds, reasons = face_issues(expression, class_names=CLASSES, valence=c.value)
    assert items.tolist() == [0, 2] and kinds.tolist() == [VALENCE_CONFLICT] * 2
    assert reasons[0].startswith("labelled happiness (expected pleasant) but valence is -0.7")
    assert reasons[1].startswith("labelled sadness (expected unpleasant) but valence is +0.")
    conflict, checkable = expression_valence_check(expression, c.value, class_names=CLASSES)
    assert checkable.tolist() == [True, True, True, False, False]
    # A mildly negative happy face is not "strongly" negative.
    assert not expression_valence_check(np.array([C["happiness"]]), np.array([-0.2]), class_names=CLASSES)[0][0]


def test_no_expression_is_never_an_issue():
    items, _, _ = face_issues(np.array([-1]), class_names=CLASSES, au_present=np.array([_aus()]), au_numbers=DISFA,
                              valence=np.array([-1.0]))
    assert items.tolist() == []


def test_per_annotator_share_of_answers_that_contradict_themselves():
    # Annotator 0 labels 20 faces happy and marks AU12 on only 10 of them; annotator 1 is consistent on 20;
    # annotator 2 contradicts themselves once in 2 answers (too few to show a share); annotator 3 gives
    # valence only: 5 happy answers, 1 of them at -0.9.
    rows = []
    rows += [(0, C["happiness"], _aus(6, 12) if i < 10 else _aus(6), np.nan) for i in range(20)]
    rows += [(1, C["happiness"], _aus(6, 12), 0.6) for _ in range(20)]
    rows += [(2, C["sadness"], _aus(), np.nan), (2, C["sadness"], _aus(1, 15), np.nan)]
    rows += [(3, C["happiness"], np.full(len(DISFA), -1), v) for v in (0.5, 0.6, 0.7, 0.5, -0.9)]
    annotator = np.array([r[0] for r in rows])
    expression = np.array([r[1] for r in rows])
    present = np.array([r[2] for r in rows])
    valence = np.array([r[3] for r in rows])
    s = annotator_self_consistency(annotator, expression, num_annotators=5, class_names=CLASSES,
                                   au_present=present, au_numbers=DISFA, valence=valence)
    assert s.checkable.tolist() == [20, 20, 2, 5, 0] and s.contradictions.tolist() == [10, 0, 1, 1, 0]
    assert s.share[0] == 0.5 and s.share[1] == 0.0 and s.share[3] == pytest.approx(0.2)
    assert np.isnan(s.share[2]) and np.isnan(s.share[4])
    assert 0.1 < s.share_lower[0] < 0.5 and s.share_lower[1] == 0.0
    assert s.share_lower[3] < 0.01  # one odd answer in five is no finding
