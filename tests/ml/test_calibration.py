"""Temperature scaling (ml.calibration): the fit, where it is stored, and that ml.predict applies it."""
import json

import numpy as np
import pytest

from ml.calibration import (
    BIAS_GRID, RARE_SHARE, apply_calibration, apply_temperature, fit_checkpoint, fit_class_bias, fit_prior_shift,
    fit_temperature, nll, shift_prior, validation_split,
)
from ml.checkpoint import load_checkpoint, save_checkpoint
from ml.predict import Predictor
from tests.ml.train_support import train_tiny as _train
from tests.ml.train_support import write_npz


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_fit_recovers_the_temperature_of_overconfident_probabilities():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(20_000, 8))
    true = _softmax(logits / 2.0)  # the labels follow logits / 2 ...
    labels = (true.cumsum(1) > rng.random((len(true), 1))).argmax(1)
    overconfident = _softmax(logits)  # ... the model reports logits / 1
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(2.0, rel=0.05)
    calibrated = apply_temperature(overconfident, t)
    assert nll(calibrated, labels) < nll(overconfident, labels)
    assert np.allclose(calibrated.sum(1), 1, atol=1e-5)
    assert (calibrated.argmax(1) == overconfident.argmax(1)).all()


def test_the_logit_adjustment_finds_a_rare_class_the_raw_model_never_predicts():
    rng = np.random.default_rng(2)
    n, k = 20_000, 3
    prior = np.array([0.7, 0.28, 0.02])
    labels = rng.choice(k, size=n, p=prior)
    signal = np.eye(k)[labels] * 1.5 + rng.normal(0, 1, size=(n, k))
    probs = _softmax(signal + np.log(prior) * 2)  # a model that learned the prior twice over: class 2 never wins
    assert (probs.argmax(1) == 2).sum() == 0
    shift = fit_prior_shift(probs, labels, np.log(prior))
    assert shift["tau"] > 0 and [t[0] for t in shift["tried"]][:2] == [0.0, 0.1]
    tried = {t[0]: t for t in shift["tried"]}
    assert tried[shift["tau"]][2] > tried[0.0][2]  # macro-F1 rose ...
    assert tried[shift["tau"]][1] >= tried[0.0][1] - 0.0025  # ... and accuracy stayed
    adjusted = shift_prior(probs, np.log(prior), shift["tau"])
    assert (adjusted.argmax(1) == 2).sum() > 0 and np.allclose(adjusted.sum(1), 1, atol=1e-5)
    cal = {"prior_shift": shift, "temperature": 1.5, "temperature_fer2013": 0.8}
    assert np.allclose(apply_calibration(probs, cal), apply_temperature(adjusted, 1.5), atol=1e-6)
    assert np.allclose(apply_calibration(probs, cal, head="fer2013"), apply_temperature(probs, 0.8), atol=1e-6)
    assert np.allclose(apply_calibration(probs, {}), probs)  # nothing stored: the raw probabilities


def test_class_biases_rescue_the_rare_classes_the_model_ranks_second_and_leave_the_common_ones():
    rng = np.random.default_rng(4)
    n, k = 20_000, 4
    prior = np.array([0.6, 0.36, 0.03, 0.01])
    labels = rng.choice(k, size=n, p=prior)
    signal = np.eye(k)[labels] * 2.0 + rng.normal(0, 1, size=(n, k))
    probs = _softmax(signal + np.log(prior) * 1.2)  # a model leaning on the prior: classes 2 and 3 almost never win
    assert (probs.argmax(1) >= 2).mean() < 0.002
    fit = fit_class_bias(probs, labels, np.log(prior))
    assert fit["classes"] == [2, 3] and fit["bias"][:2] == [0.0, 0.0]  # only classes under RARE_SHARE move
    assert 0 < fit["bias"][2] < max(BIAS_GRID) and 0 < fit["bias"][3] < max(BIAS_GRID)
    assert fit["macro_f1"][1] > fit["macro_f1"][0] + 0.05  # macro-F1 rose ...
    assert fit["accuracy"][1] >= fit["accuracy"][0] - 0.0025  # ... and accuracy stayed
    biased = _softmax(np.log(probs) + np.array(fit["bias"]))
    recall = [float((biased.argmax(1)[labels == c] == c).mean()) for c in (2, 3)]
    assert min(recall) > 0.3
    cal = {"class_bias": fit, "temperature": 1.5, "temperature_fer2013": 0.8}
    out = apply_calibration(probs, cal)
    assert np.allclose(out, apply_temperature(biased, 1.5), atol=1e-5) and np.allclose(out.sum(1), 1, atol=1e-5)
    assert np.allclose(apply_calibration(probs, cal, head="fer2013"), apply_temperature(probs, 0.8), atol=1e-6)
    # No class under the share: nothing to fit.
    assert fit_class_bias(probs, labels, np.log(np.full(k, 1 / k)))["bias"] == [0.0] * k


def test_validation_split_is_the_same_faces_for_every_member():
    a, b = validation_split(1000, 0.1), validation_split(1000, 0.1)
    assert a.sum() == 100 and (a == b).all()
    assert not validation_split(1000, 0.0).any()
    with pytest.raises(ValueError):
        validation_split(10, 1.0)


@pytest.fixture
def npz(tmp_path, faces):
    return write_npz(tmp_path / "tiny.npz", faces, ["Training"] * 52 + ["PublicTest"] * 12)


def test_training_with_a_validation_split_stores_a_temperature_the_predictor_applies(npz, tmp_path, capsys):
    out = tmp_path / "cal.pt"
    _train(npz, out, "--val-frac", "0.25")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ckpt = load_checkpoint(out)
    cal = ckpt["calibration"]
    assert line["calibration"] == cal
    assert cal["n"] == 13 and cal["temperature"] > 0 and "temperature_fer2013" in cal
    # The fitted tau is suggested, not applied: the stored tau is 0 unless asked for (below).
    assert cal["prior_shift"]["tau"] == 0.0
    assert cal["prior_shift"]["suggested_tau"] in [t[0] for t in cal["prior_shift"]["tried"]]
    assert len(cal["prior_shift"]["log_prior"]) == 8
    shares = np.exp(cal["prior_shift"]["log_prior"])
    assert cal["class_bias"]["classes"] == [int(c) for c in np.flatnonzero(shares < RARE_SHARE)]
    assert len(cal["class_bias"]["bias"]) == 8
    assert cal["nll"][1] <= cal["nll"][0] + 1e-6  # the fit never makes the held-out loss worse
    assert ckpt["metrics"]["n_train"] == 39 and ckpt["metrics"]["history"][-1]["val_accuracy"] is not None

    faces = np.load(npz)["images"][:16]
    calibrated = Predictor(out, threads=1).predict_both(faces)
    ckpt.pop("calibration")
    raw_path = tmp_path / "raw.pt"
    save_checkpoint(ckpt, raw_path)  # the same weights without a temperature: still loads, raw probabilities
    raw_predictor = Predictor(raw_path, threads=1)
    assert raw_predictor.calibration == {}
    raw = raw_predictor.predict_both(faces)
    shifted = shift_prior(raw[0], np.array(cal["prior_shift"]["log_prior"]), cal["prior_shift"]["tau"])
    shifted = _softmax(np.log(np.clip(shifted, 1e-12, None)) + np.array(cal["class_bias"]["bias"]))
    for c, r, t in ((calibrated[0], shifted, cal["temperature"]), (calibrated[1], raw[1], cal["temperature_fer2013"])):
        assert np.allclose(c.sum(1), 1, atol=1e-5)
        assert np.allclose(c, apply_temperature(r, t), atol=1e-5)
        if abs(t - 1) > 0.01:
            assert not np.allclose(c, r, atol=1e-4)
    # A lead may ask for another logit adjustment; 0 leaves the temperature alone.
    unshifted = Predictor(out, threads=1, prior_shift=0.0).predict_proba(faces)
    biased = _softmax(np.log(np.clip(raw[0], 1e-12, None)) + np.array(cal["class_bias"]["bias"]))
    assert np.allclose(unshifted, apply_temperature(biased, cal["temperature"]), atol=1e-5)
    with pytest.raises(ValueError, match="no fitted logit adjustment"):
        Predictor(raw_path, threads=1, prior_shift=0.5)


def test_a_model_trained_on_every_training_face_is_not_fitted_in_sample(npz, tmp_path):
    out = tmp_path / "all.pt"
    _train(npz, out)
    assert "calibration" not in load_checkpoint(out)
    with pytest.raises(ValueError, match="no held-out faces"):
        fit_checkpoint(str(out), npz=str(npz), threads=1)


def test_the_suggested_logit_adjustment_is_applied_only_when_asked(npz, tmp_path, monkeypatch, capsys):
    from ml import calibration

    out = tmp_path / "cal.pt"
    _train(npz, out, "--val-frac", "0.25")
    # Whatever the tiny model's validation faces say, make tau 0.5 the macro-F1 choice.
    monkeypatch.setattr(calibration, "fit_prior_shift", lambda probs, labels, log_prior: {
        "tau": 0.5, "log_prior": [round(float(v), 5) for v in log_prior], "tried": [[0.0, 0.5, 0.2], [0.5, 0.5, 0.3]]})
    suggested = fit_checkpoint(str(out), npz=str(npz), threads=1)
    assert (suggested["prior_shift"]["tau"], suggested["prior_shift"]["suggested_tau"]) == (0.0, 0.5)
    calibration.main(["--model", str(out), "--npz", str(npz), "--threads", "1", "--prior-shift", "apply"])
    applied = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert applied["prior_shift"]["tau"] == 0.5 == load_checkpoint(out)["calibration"]["prior_shift"]["tau"]
    calibration.main(["--model", str(out), "--npz", str(npz), "--threads", "1", "--no-prior-shift"])
    assert "prior_shift" not in load_checkpoint(out)["calibration"]
    with pytest.raises(ValueError, match="prior_shift must be"):
        fit_checkpoint(str(out), npz=str(npz), threads=1, prior_shift="yes")
    # The rare classes' biases are fitted and recorded by default, not applied; --class-bias apply applies them;
    # --class-bias off leaves them out.
    suggested = fit_checkpoint(str(out), npz=str(npz), threads=1)["class_bias"]
    assert suggested["bias"] == [0.0] * 8 and len(suggested["suggested_bias"]) == 8
    calibration.main(["--model", str(out), "--npz", str(npz), "--threads", "1", "--class-bias", "apply"])
    applied = load_checkpoint(out)["calibration"]["class_bias"]
    assert any(applied["bias"]) and applied["bias"] == applied["suggested_bias"] == suggested["suggested_bias"]
    capsys.readouterr()
    calibration.main(["--model", str(out), "--npz", str(npz), "--threads", "1", "--class-bias", "off"])
    assert "class_bias" not in load_checkpoint(out)["calibration"]
    with pytest.raises(ValueError, match="class_bias must be"):
        fit_checkpoint(str(out), npz=str(npz), threads=1, class_bias="yes")
