"""Temperature scaling of the predictor's probabilities, fitted on faces the model never trained on.

``python -m ml.calibration --model PATH [--npz PATH]`` fits the temperature of a checkpoint (a single model or
an ensemble) on its held-out validation split and stores it in the file; ``ml.predict.Predictor`` then divides
the log-probabilities by it before the softmax (Guo et al. 2017, "On Calibration of Modern Neural Networks").
One scalar per head keeps the argmax, so accuracy is unchanged and only the confidence moves.

Before the temperature, the FER+ head may get a post-hoc logit adjustment (Menon et al. 2021, "Long-tail learning
via logit adjustment"): log p - tau x log prior, with the prior the class shares of the training targets. tau = 0 is
the plain model; tau = 1 aims at balanced error. It is what lets a model trained on 0.6% contempt faces say contempt
at all. ``fit_prior_shift`` picks tau on the validation faces: the best macro-F1 among the taus that keep accuracy
within ``ACCURACY_SLACK`` of the unadjusted model's; the temperature is then fitted on the adjusted probabilities.
By default (``prior_shift="suggest"``) that tau is only recorded (``suggested_tau``) and tau 0 is stored: the
probabilities feed Cleanlab, whose confident-learning thresholds are per class already, and on a distilled student
(ml/MODEL_CARD.md, run D) the fitted tau 0.2 lowered the label-noise benchmark (AUROC 0.9659 -> 0.9637,
precision@1000 0.871 -> 0.866) and PublicTest accuracy (0.864 -> 0.860) for a validation gain within noise.
``"apply"`` stores it.

Then the rare classes (under ``RARE_SHARE`` of the training targets: disgust, fear and contempt) get a logit bias
each (``fit_class_bias``): chosen on the same validation faces, by coordinate ascent, for the best macro-F1 that
keeps accuracy within ``ACCURACY_SLACK``. Contempt faces the model ranks a close second are what it rescues; a single
tau moves every rare class by its prior at once and pays in accuracy where only one class needed moving
(ml/MODEL_CARD.md has both on the same model). As with tau, by default (``class_bias="suggest"``) the fitted biases
are only recorded (``suggested_bias``) and zeros are stored: on three full-length distilled students (ml/MODEL_CARD.md,
runs G and H with seeds 0 and 1) the biases that kept validation accuracy cost 0.4, 0.56 (paired interval [0.22,
0.94]) and 0.09 point of PublicTest accuracy, and 0.0008 label-noise AUROC on the two measured both ways; which way a
model falls shows only on the test set. ``"apply"`` stores them; ``"off"`` fits none.

The validation split is carved from Training by ``validation_split``: a fixed seed (not the member's), so every
member trained with the same ``TrainConfig.val_frac`` holds out the same faces and an ensemble of them can be
fitted on those faces too. A checkpoint trained on every Training face has no such faces, and fitting on PublicTest
would tune on the test set, so ``fit_checkpoint`` refuses both.

The stored ``calibration`` dict: ``temperature`` (FER+ head), ``temperature_fer2013`` (the FER2013 probabilities), ``n``
validation faces with a FER+ majority, ``nll`` / ``ece`` against that majority before and after, and ``fitted_for`` (members and
mirroring of the pass it was fitted on; other passes get the same temperature, and ``ml.evaluate`` measures them),
and ``prior_shift`` (``tau`` applied, ``suggested_tau``, ``log_prior`` over the eight classes, and the validation
accuracy and macro-F1 at each tau tried) where the logit adjustment was fitted, and ``class_bias`` (``bias``
applied over the eight classes, ``suggested_bias`` as fitted, the ``classes`` fitted, validation ``accuracy`` and
``macro_f1`` without and with the suggested biases).
``apply_calibration`` applies a stored dict in that order (tau, biases, temperature); a file without one, or without
``prior_shift`` or ``class_bias``, gives what it gave before.
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np

VALIDATION_SEED = 20_261_201  # fixed, so members of different seeds hold out the same faces
T_RANGE = (0.05, 20.0)
TAUS = tuple(round(0.1 * i, 1) for i in range(11))  # logit-adjustment strengths tried, 0 (none) .. 1 (balanced)
ACCURACY_SLACK = 0.0025  # the adjustment may cost at most this much validation accuracy
PRIOR_SHIFT_MODES = ("suggest", "apply", "off")  # what fit_checkpoint does with the suggested tau
# Per-class logit biases (fit_class_bias): only for classes under this share of the training targets (disgust, fear
# and contempt on FER+), each tried at these values, in this many rounds of coordinate ascent.
RARE_SHARE = 0.05
BIAS_GRID = tuple(0.25 * i for i in range(-8, 17))  # -2 .. 4
BIAS_ROUNDS = 3
CLASS_BIAS_MODES = ("suggest", "apply", "off")  # what fit_checkpoint does with the fitted biases


def validation_split(n: int, frac: float) -> np.ndarray:
    """bool (n,): True for the rows held out for validation, a seeded ``frac`` of them (0 = none)."""
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"val_frac must lie in [0, 1), got {frac}")
    held = np.zeros(n, dtype=bool)
    k = int(round(n * frac))
    if k:
        held[np.random.default_rng(VALIDATION_SEED).permutation(n)[:k]] = True
    return held


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None))


def _softmax(logp: np.ndarray) -> np.ndarray:
    logp = logp - logp.max(1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(1, keepdims=True)).astype(np.float32)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """probs (N, K) -> softmax(log probs / T), float32; rows still sum to 1 and keep their argmax."""
    return _softmax(_log(probs) / float(temperature))


def shift_prior(probs: np.ndarray, log_prior: np.ndarray, tau: float) -> np.ndarray:
    """probs (N, K) -> softmax(log probs - tau x log_prior), float32: rare classes gain, common ones lose."""
    return _softmax(_log(probs) - float(tau) * np.asarray(log_prior))


def apply_calibration(probs: np.ndarray, calibration: dict, *, head: str = "ferplus") -> np.ndarray:
    """probs of one head ("ferplus" (N, 8) or "fer2013" (N, 7)) -> as a stored calibration dict says: the FER+
    head's logit adjustment, then that head's temperature; a missing entry leaves that step out."""
    p = np.asarray(probs, dtype=np.float32)
    shift = calibration.get("prior_shift") if head == "ferplus" else None
    if shift and shift.get("tau"):
        p = shift_prior(p, np.asarray(shift["log_prior"]), shift["tau"])
    bias = calibration.get("class_bias") if head == "ferplus" else None
    if bias and any(bias["bias"]):
        p = add_class_bias(p, bias["bias"])
    t = calibration.get("temperature" if head == "ferplus" else "temperature_fer2013")
    return p if t is None else apply_temperature(p, t)


def fit_prior_shift(probs: np.ndarray, labels: np.ndarray, log_prior: np.ndarray) -> dict:
    """The tau in TAUS with the best macro-F1 on (probs, labels) whose accuracy stays within ACCURACY_SLACK of
    tau = 0's; -> {"tau", "log_prior", "tried": [[tau, accuracy, macro_f1], ...]}."""
    from ml.evaluate import score_labels

    tried = []
    for tau in TAUS:
        s = score_labels(shift_prior(probs, log_prior, tau), labels)
        tried.append([tau, s["accuracy"], s["macro_f1"]])
    floor = tried[0][1] - ACCURACY_SLACK
    best = max((t for t in tried if t[1] >= floor), key=lambda t: (t[2], -t[0]))
    return {"tau": best[0], "log_prior": [round(float(v), 5) for v in log_prior], "tried": tried}


def add_class_bias(probs: np.ndarray, bias) -> np.ndarray:
    """probs (N, K) -> softmax(log probs + bias), float32: each class's log-probability moved by its own bias."""
    return _softmax(_log(probs) + np.asarray(bias))


def _accuracy_macro_f1(logp: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, macro-F1) of argmax(logp) against int labels: score_labels' two figures, without its ECE."""
    from ml.evaluate import confusion, macro_f1

    cm = confusion(labels, logp.argmax(1), k=logp.shape[1])
    return float(np.trace(cm) / max(len(labels), 1)), macro_f1(cm)


def fit_class_bias(probs: np.ndarray, labels: np.ndarray, log_prior: np.ndarray) -> dict:
    """Per-class logit biases for the rare classes (training share < RARE_SHARE), fitted on (probs, labels): coordinate
    ascent over BIAS_GRID for the best macro-F1 whose accuracy stays within ACCURACY_SLACK of the unbiased model's
    (ties: the smaller bias). A contempt face the model ranks second is what a bias rescues; one scalar (tau) moves
    every rare class at once and costs accuracy where one class needed it. The other classes keep bias 0: fitting all
    eight on ~2,500 faces overfits them (ml/MODEL_CARD.md). -> {"bias": [K], "classes": [fitted class indices],
    "accuracy": [before, after], "macro_f1": [before, after]} on these faces."""
    logp = _log(probs)
    labels = np.asarray(labels, dtype=np.int64)
    rare = [int(k) for k in np.flatnonzero(np.exp(np.asarray(log_prior)) < RARE_SHARE)]
    bias = np.zeros(logp.shape[1])
    acc0, f0 = _accuracy_macro_f1(logp, labels)
    for _ in range(BIAS_ROUNDS):
        for k in rare:  # the current biases always qualify (each step kept the floor), so best is never None
            best = None
            for value in BIAS_GRID:
                trial = bias.copy()
                trial[k] = value
                acc, f1 = _accuracy_macro_f1(logp + trial, labels)
                if acc >= acc0 - ACCURACY_SLACK and (best is None or (f1, -abs(value)) > best[0]):
                    best = ((f1, -abs(value)), value)
            bias[k] = best[1]
    acc1, f1 = _accuracy_macro_f1(logp + bias, labels)
    return {"bias": [round(float(b), 4) for b in bias], "classes": rare,
            "accuracy": [round(acc0, 4), round(acc1, 4)], "macro_f1": [round(f0, 4), round(f1, 4)]}


def nll(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy of probs (N, K) against soft targets (N, K) or int labels (N,)."""
    logp = _log(probs)
    t = np.asarray(targets)
    if t.ndim == 1:
        return float(-logp[np.arange(len(t)), t].mean())
    return float(-(t * logp).sum(1).mean())


def fit_temperature(probs: np.ndarray, targets: np.ndarray) -> float:
    """The T in T_RANGE minimising nll(apply_temperature(probs, T), targets): golden-section search on log T.

    The loss is convex in 1/T for fixed logits (a log-sum-exp of a linear function), so unimodal in log T.
    """
    if len(probs) == 0:
        raise ValueError("no faces to fit a temperature on")
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return nll(apply_temperature(probs, math.exp(log_t)), targets)

    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    while hi - lo > 1e-4:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return round(math.exp((lo + hi) / 2), 4)


def _validation_faces(npz: str, ckpt: dict):
    """The held-out Training faces of a checkpoint (every member must share its val_frac and data)."""
    from ml.checkpoint import members_of
    from ml.data import arrays_sha256, load_npz

    members = members_of(ckpt)
    fracs = {float(m["config"].get("val_frac", 0.0)) for m in members}
    if len(fracs) != 1:
        raise ValueError(f"members were trained with different validation splits (val_frac {sorted(fracs)})")
    frac = fracs.pop()
    if frac <= 0:
        raise ValueError("this checkpoint trained on every Training face: there are no held-out faces to fit a "
                         "temperature on (retrain with --val-frac, e.g. 0.1)")
    train = load_npz(npz, usage="Training")
    held = validation_split(len(train), frac)
    fit = train.subset(~held)
    if arrays_sha256(fit.images, fit.votes, fit.fer2013) != members[0]["data_sha256"]:
        raise ValueError(f"{npz}: its Training rows minus the validation split are not what the model trained on")
    return fit, train.subset(held)


def training_log_prior(votes: np.ndarray) -> np.ndarray:
    """log of the class shares of the soft training targets (ml.labels.soft_labels), floored at 1e-4."""
    from ml.labels import soft_labels

    probs, keep = soft_labels(votes)
    prior = probs[keep].mean(0) if keep.any() else np.full(probs.shape[1], 1.0 / probs.shape[1])
    return np.log(np.maximum(prior, 1e-4))


def fit_checkpoint(ckpt_path: str, *, npz: str, threads: int = 2, prior_shift: str = "suggest",
                   class_bias: str = "suggest") -> dict:
    """Fit the logit adjustment, the rare classes' biases and the temperatures of the checkpoint at ckpt_path on its
    validation split, store them there, return them. prior_shift: "suggest" (tau table and suggested tau stored, tau
    0 applied), "apply" (the suggested tau applied), "off" (none fitted). class_bias (fit_class_bias, after the
    applied tau) likewise: "suggest" (fitted and recorded, zeros applied), "apply" or "off"."""
    if prior_shift not in PRIOR_SHIFT_MODES:
        raise ValueError(f"prior_shift must be one of {PRIOR_SHIFT_MODES}, got {prior_shift!r}")
    if class_bias not in CLASS_BIAS_MODES:
        raise ValueError(f"class_bias must be one of {CLASS_BIAS_MODES}, got {class_bias!r}")
    from ml.checkpoint import load_checkpoint, save_checkpoint
    from ml.evaluate import expected_calibration_error
    from ml.labels import majority_labels
    from ml.predict import Predictor

    ckpt = load_checkpoint(ckpt_path)
    fit, val = _validation_faces(npz, ckpt)
    ckpt.pop("calibration", None)
    save_checkpoint(ckpt, ckpt_path)  # the predictor must see raw probabilities
    predictor = Predictor(ckpt_path, threads=threads)
    probs, probs7 = predictor.predict_both(val.images)
    # Fitted against the FER+ majority, the label the model card's ECE is measured on (a fit to the vote
    # distribution leaves the model softer than its majority accuracy warrants).
    lab, has_lab = majority_labels(val.votes)
    shift = None
    if prior_shift != "off" and fit.votes is not None:
        shift = fit_prior_shift(probs[has_lab], lab[has_lab], training_log_prior(fit.votes))
        shift["suggested_tau"] = shift["tau"]
        if prior_shift == "suggest":
            shift["tau"] = 0.0
        probs = shift_prior(probs, np.asarray(shift["log_prior"]), shift["tau"])
    bias = None
    if class_bias != "off" and fit.votes is not None:
        bias = fit_class_bias(probs[has_lab], lab[has_lab], training_log_prior(fit.votes))
        bias["suggested_bias"] = bias["bias"]
        if class_bias == "suggest":
            bias["bias"] = [0.0] * len(bias["bias"])
        else:
            probs = add_class_bias(probs, bias["bias"])
    t8 = fit_temperature(probs[has_lab], lab[has_lab])
    cal = apply_temperature(probs, t8)
    out = {
        "temperature": t8, "n": int(has_lab.sum()), **({"prior_shift": shift} if shift else {}),
        **({"class_bias": bias} if bias else {}),
        "nll": [round(nll(p[has_lab], lab[has_lab]), 4) for p in (probs, cal)],
        "ece": [round(expected_calibration_error(p[has_lab], lab[has_lab]), 4) for p in (probs, cal)],
        "fitted_for": {"members": predictor.members, "tta": predictor.tta, "precision": predictor.precision},
    }
    if val.fer2013 is not None:
        ok = (val.fer2013 >= 0) & (val.fer2013 <= 6)
        out["temperature_fer2013"] = fit_temperature(probs7[ok], val.fer2013[ok])
    ckpt["calibration"] = out
    save_checkpoint(ckpt, ckpt_path)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ml.calibration", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="checkpoint to calibrate (rewritten in place)")
    p.add_argument("--npz", default=os.environ.get("FERLAB_NPZ", "../shared/datasets/fer2013_ferplus_trainval.npz"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prior-shift", choices=PRIOR_SHIFT_MODES, default="suggest",
                   help="suggest (default): fit and record the logit adjustment's tau, apply none; apply: apply it; "
                        "off: fit the temperature alone")
    p.add_argument("--no-prior-shift", action="store_const", const="off", dest="prior_shift",
                   help="the same as --prior-shift off")
    p.add_argument("--class-bias", choices=CLASS_BIAS_MODES, default="suggest",
                   help="suggest (default): fit and record logit biases for the rare classes (disgust, fear, "
                        "contempt), apply none; apply: apply them; off: fit none")
    args = p.parse_args(argv)
    try:
        print(json.dumps(fit_checkpoint(args.model, npz=args.npz, threads=args.threads, prior_shift=args.prior_shift,
                                        class_bias=args.class_bias)))
    except ValueError as e:
        raise SystemExit(f"ml.calibration: {e}") from None


if __name__ == "__main__":
    main()
