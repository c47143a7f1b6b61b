"""ml.quality_cleanlab: the stand-ins give cleanlab's own numbers, and another cleanlab release gets cleanlab's code."""
import numpy as np
import pytest

from tests.ml.crowd_support import answer_matrix, crowd, probs_for


def test_the_vectorised_stand_ins_give_cleanlabs_own_numbers():
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    from ml.quality_cleanlab import cleanlab_speedups

    truth, items, annotators, answers = crowd(n=120, m=9, spammer=4, seed=5)
    keep = np.random.default_rng(5).random(len(items)) < 0.8  # uneven numbers of answers, some single
    matrix = answer_matrix(items[keep], annotators[keep], answers[keep], n=120, m=9)
    matrix = matrix[~np.isnan(matrix).all(axis=1)]
    probs = probs_for(np.nan_to_num(np.nanmax(matrix, axis=1)).astype(int), p=0.5, seed=5)
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


def test_another_cleanlab_release_runs_cleanlabs_own_code_and_warns_once(monkeypatch, caplog):
    import cleanlab
    import cleanlab.multiannotator as ma
    from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

    from ml import consensus, quality_cleanlab

    truth, items, annotators, answers = crowd(n=40, m=6, spammer=2, seed=7)
    matrix = answer_matrix(items, annotators, answers, n=40, m=6)
    probs = probs_for(truth, p=0.6, seed=7)
    fast = consensus.crowdlab(matrix, probs)  # the checked release: stand-ins installed
    stock = get_label_quality_multiannotator(matrix, probs, consensus_method="best_quality", quality_method="crowdlab",
                                             return_detailed_quality=False, return_annotator_stats=True, verbose=False)
    stock_scores = get_active_learning_scores(matrix, probs, probs[:4])

    monkeypatch.setattr(cleanlab, "__version__", "2.99.0")
    monkeypatch.setattr(quality_cleanlab, "_warned", set())
    own = ma._get_post_pred_probs_and_weights, ma._get_annotator_agreement_with_annotators
    with caplog.at_level("WARNING", logger="ml.quality_cleanlab"):
        with quality_cleanlab.cleanlab_speedups():
            assert (ma._get_post_pred_probs_and_weights, ma._get_annotator_agreement_with_annotators) == own
        fallback = consensus.crowdlab(matrix, probs)
        scores = consensus.active_learning_scores(matrix, probs, probs[:4])
    warned = [r for r in caplog.records if r.name == "ml.quality_cleanlab"]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    assert "2.99.0" in warned[0].getMessage() and quality_cleanlab.CHECKED_CLEANLAB_VERSION in warned[0].getMessage()

    assert fallback.method == "crowdlab"
    np.testing.assert_array_equal(fallback.label, stock["label_quality"]["consensus_label"])
    np.testing.assert_array_equal(fallback.quality, stock["label_quality"]["consensus_quality_score"])
    np.testing.assert_array_equal(fallback.annotator_quality, stock["annotator_stats"].sort_index()["annotator_quality"])
    np.testing.assert_array_equal(fallback.label, fast.label)
    np.testing.assert_allclose(fallback.quality, fast.quality)
    np.testing.assert_allclose(fallback.annotator_quality, fast.annotator_quality)
    for a, b in zip(scores, stock_scores):
        np.testing.assert_array_equal(a, b)


def test_the_checked_release_is_the_one_requirements_pin():
    from pathlib import Path

    import cleanlab

    from ml.quality_cleanlab import CHECKED_CLEANLAB_VERSION, speedups_supported

    pins = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text().split()
    assert f"cleanlab=={CHECKED_CLEANLAB_VERSION}" in pins  # bump both only after re-running the test above
    assert cleanlab.__version__ == CHECKED_CLEANLAB_VERSION and speedups_supported()
