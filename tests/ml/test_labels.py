"""FER+ label rules: majority, soft, FER2013 map, and their edge cases."""
import numpy as np
import pytest

from ml.config import CLASSES, FER2013_CLASSES, FER2013_TO_FERPLUS, VOTE_NAMES
from ml.labels import ferplus_to_fer2013_probs, fer2013_to_ferplus, majority_labels, soft_labels, targets_for


def row(**counts):
    v = np.zeros(10, dtype=np.uint8)
    for name, c in counts.items():
        v[VOTE_NAMES.index(name)] = c
    return v


def test_classes_are_the_ferplus_eight_in_order():
    assert CLASSES == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


def test_clear_majority():
    lab, keep = majority_labels(np.array([row(happiness=7, neutral=3)]))
    assert keep.tolist() == [True] and lab.tolist() == [1]


def test_tie_has_no_majority_label():
    lab, keep = majority_labels(np.array([row(neutral=5, sadness=5)]))
    assert keep.tolist() == [False] and lab.tolist() == [-1]
    probs, soft_keep = soft_labels(np.array([row(neutral=5, sadness=5)]))
    assert soft_keep.tolist() == [True]
    np.testing.assert_allclose(probs[0, [0, 3]], [0.5, 0.5])


def test_unknown_and_not_a_face_majorities_are_dropped():
    votes = np.array([row(unknown=6, neutral=4), row(NF=10), row(NF=6, anger=4)])
    assert majority_labels(votes)[1].tolist() == [False, False, False]
    assert soft_labels(votes)[1].tolist() == [False, False, False]


def test_emotion_wins_a_tie_with_unknown_in_soft_mode():
    probs, keep = soft_labels(np.array([row(fear=4, unknown=4, surprise=2)]))
    assert keep.tolist() == [True]
    np.testing.assert_allclose(probs[0, [2, 6]], [2 / 6, 4 / 6], rtol=1e-6)


def test_single_votes_are_noise():
    # 5 of 10 is no majority, but with the three single votes removed it is 5 of 7.
    votes = np.array([row(anger=5, disgust=2, neutral=1, fear=1, contempt=1)])
    lab, keep = majority_labels(votes)
    assert keep.tolist() == [True] and lab.tolist() == [4]
    assert majority_labels(votes, drop_single_votes=False)[1].tolist() == [False]
    probs, _ = soft_labels(votes)
    assert probs[0, 0] == 0 and probs[0, 7] == 0
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)


def test_nine_vote_row():
    # The one 9-vote row of the shared data: neutral 4, disgust 3, fear 1, unknown 1.
    votes = np.array([[4, 0, 0, 0, 0, 3, 1, 0, 1, 0]], dtype=np.uint8)
    lab, keep = majority_labels(votes)
    assert keep.tolist() == [True] and lab.tolist() == [0]  # 4 of the 7 votes left
    probs, _ = soft_labels(votes)
    np.testing.assert_allclose(probs[0, [0, 5]], [4 / 7, 3 / 7], rtol=1e-6)


def test_all_single_votes_leave_nothing():
    votes = np.array([row(neutral=1, happiness=1, surprise=1, sadness=1, anger=1, disgust=1, fear=1,
                          contempt=1, unknown=1, NF=1)])
    assert majority_labels(votes)[1].tolist() == [False]
    assert soft_labels(votes)[1].tolist() == [False]


def test_fer2013_map():
    mapped = fer2013_to_ferplus(np.arange(7))
    assert [CLASSES[i] for i in mapped] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    assert len(set(FER2013_TO_FERPLUS)) == 7 and CLASSES.index("contempt") not in mapped
    assert FER2013_CLASSES == ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    with pytest.raises(ValueError):
        fer2013_to_ferplus(np.array([7]))


def test_fer2013_targets_drop_not_a_face():
    t, keep = targets_for("fer2013", votes=np.array([row(NF=10), row(happiness=10)]), fer2013=np.array([3, 3]))
    assert keep.tolist() == [False, True] and t[1].argmax() == 1


def test_contempt_probability_goes_to_angry():
    p = np.zeros((1, 8), np.float32)
    p[0, 7] = 0.6
    p[0, 0] = 0.4
    p7 = ferplus_to_fer2013_probs(p)
    np.testing.assert_allclose(p7[0], [0.6, 0, 0, 0, 0, 0, 0.4])


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        majority_labels(np.zeros((2, 8)))
    with pytest.raises(ValueError):
        targets_for("bogus", votes=np.zeros((1, 10)))
