"""ml.quality.analyse: an annotator's quality needs shared faces, and the evidence behind it is counted."""
import numpy as np

from ml import quality as q
from tests.ml.crowd_support import K, crowd, probs_for


def _rotator(n: int, *, first_item: int = 0):
    """One annotator alone on n faces pressing the keys in turn (0, 1, ..., 7, 0, ...), and a model that is
    confident of another class on every one of them."""
    answers = np.arange(n) % K
    truth = (answers + 3) % K
    return np.arange(first_item, first_item + n), answers, probs_for(truth, p=0.8)


def test_an_annotator_alone_pressing_keys_in_turn_is_not_scored_one():
    """The reported case: the only annotator, so every consensus is their own answer (CROWDLAB cannot run).
    Before the fix: quality 1.000 and agreement 100%."""
    items, answers, probs = _rotator(40)
    result = q.analyse(items, np.zeros(40, int), answers, probs, category_class=np.arange(K), num_annotators=1)
    assert result.method == "single-label"
    assert np.isnan(result.annotator_quality[0]) and np.isnan(result.annotator_crowdlab_quality[0])
    assert np.isnan(result.annotator_agreement[0])
    assert result.annotator_answers[0] == 40 and result.annotator_shared_items[0] == 0
    assert result.annotator_model_items[0] == 40 and result.annotator_model_agree[0] == 0


def test_a_lone_rotator_beside_an_honest_crowd_is_unscored_and_the_crowd_keeps_its_scores():
    truth, items, annotators, answers = crowd(n=60, m=4, per_item=3, spammer=-1)
    lone_items, lone_answers, lone_probs = _rotator(32, first_item=60)
    items, annotators, answers = np.r_[items, lone_items], np.r_[annotators, np.full(32, 4)], np.r_[answers, lone_answers]
    probs = np.vstack([probs_for(truth, p=0.8), lone_probs])
    result = q.analyse(items, annotators, answers, probs, category_class=np.arange(K), num_annotators=5)
    assert result.method == "crowdlab"
    assert np.isnan(result.annotator_quality[4]) and np.isnan(result.annotator_agreement[4])
    assert (result.annotator_shared_items[4], result.annotator_model_items[4], result.annotator_model_agree[4]) == (0, 32, 0)
    honest = result.annotator_quality[:4]
    assert np.isfinite(honest).all() and (honest > 0.5).all()
    assert (result.annotator_shared_items[:4] == result.annotator_answers[:4]).all()  # every crowd face has 3 answers
    agree = result.annotator_model_agree[:4] / result.annotator_model_items[:4]
    assert (agree > 0.75).all()  # the model is right about the crowd's faces, and the counts show it


def test_one_shared_face_is_counted_as_one():
    """Two annotators share one face and answer three alone each: one co-annotated face each, not four."""
    items = np.array([0, 0, 1, 2, 3, 4, 5, 6])
    annotators = np.array([0, 1, 0, 0, 0, 1, 1, 1])
    answers = np.array([2, 2, 1, 1, 1, 5, 5, 5])
    result = q.analyse(items, annotators, answers, probs_for(np.array([2, 1, 1, 1, 5, 5, 5])), category_class=np.arange(K),
                       num_annotators=2)
    assert result.annotator_shared_items.tolist() == [1, 1]
    assert result.annotator_answers.tolist() == [4, 4]
    assert result.annotator_agreement.tolist() == [1.0, 1.0]  # over the one shared face only
    assert result.annotator_model_agree.tolist() == [4, 4] and result.annotator_model_items.tolist() == [4, 4]


def test_answers_outside_the_model_classes_do_not_count_for_model_agreement():
    items = np.array([0, 0, 1, 1])
    annotators = np.array([0, 1, 0, 1])
    answers = np.array([8, 3, 3, 3])  # 8 = unknown, outside the model's classes
    category_class = np.r_[np.arange(K), -1, -1]
    result = q.analyse(items, annotators, answers, probs_for(np.array([3, 3])), category_class=category_class, num_annotators=2)
    assert result.annotator_model_items.tolist() == [1, 2] and result.annotator_model_agree.tolist() == [1, 2]
