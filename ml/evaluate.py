"""Score a model on a shared-format npz: ``python -m ml.evaluate --npz PATH [--model PATH]
[--split NAME] [--plot PATH]`` prints one JSON line.

Rows: by default every row whose usage is not ``Training``; ``--split`` picks one usage value
(PublicTest, PrivateTest, ...). Figures:

* ``accuracy_ferplus_majority``: the FER+ protocol: faces with a strict FER+ majority
  (ml.labels.majority_labels: single votes dropped, > 50% of the rest); faces whose majority
  is unknown / not-a-face, or with no majority, are left out (their count is ``n_ferplus_majority``).
* ``accuracy_fer2013``: against the original 7 FER2013 labels on every row, from the model's
  FER2013 head (trained on the Training split's FER2013 labels). A model without that head maps
  its 8 probabilities onto 7, adding contempt's probability to Angry (the FER2013 label most
  often given to FER+ contempt faces in Training).
* ``macro_f1``, ``per_class_recall``, ``ece`` (15-bin expected calibration error of the top
  class) and the confusion matrix: on the FER+ majority faces.
* ``faces_per_s``: faces scored per second by Predictor.predict_both (batch 256, as many
  ensemble members and with flip test-time augmentation as ml.predict chooses for this CPU or
  the flags ask), including resizing and both heads; ``inference`` says which precision, TTA
  and number of members ran, on which kind of CPU (``cpu_tier``: fp32, bf16 or amx), and the
  temperature applied (``ml.calibration``; null: raw probabilities).
* ``compare`` (with ``--compare``): two models on the same rows differ by a point or less, which one
  standard error of each accuracy (0.6 point on 3,199 faces) cannot separate. Score one with
  ``--save-predictions a.npz`` and the other with ``--compare a.npz``: accuracy and macro-F1 of both,
  the difference (this run minus a) and its paired bootstrap 95% interval (``paired_difference``).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ml.config import CLASSES

K = len(CLASSES)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, *, k: int = K) -> np.ndarray:
    """y_true, y_pred: int (N,) -> int64 (k, k) counts, rows = truth, columns = prediction."""
    return np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, *, bins: int = 15) -> float:
    """probs: (N, K), y_true: int (N,) -> top-label ECE with equal-width confidence bins."""
    if len(probs) == 0:
        return float("nan")
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def macro_f1(cm: np.ndarray) -> float | None:
    """Mean F1 over the classes with support (rows = truth) of a confusion matrix; None if none has any."""
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    if not (support > 0).any():
        return None
    return float((2 * tp / np.maximum(support + predicted, 1))[support > 0].mean())  # 2PR / (P + R)


def score_labels(probs: np.ndarray, y_true: np.ndarray, *, classes=CLASSES) -> dict:
    """probs: (N, K) over classes, y_true: int (N,) -> accuracy, macro-F1 (over classes with support),
    per-class recall (None without support), top-label ECE and the confusion matrix (rows = truth)."""
    k = len(classes)
    y = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(probs).argmax(1) if len(y) else np.zeros(0, dtype=np.int64)
    cm = confusion(y, pred, k=k)
    support, tp = cm.sum(1), np.diag(cm)
    recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    f1 = macro_f1(cm)
    return {
        "n": int(len(y)),
        "accuracy": round(float((pred == y).mean()), 4) if len(y) else None,
        "macro_f1": None if f1 is None else round(f1, 4),
        "per_class_recall": {c: (None if np.isnan(r) else round(float(r), 4)) for c, r in zip(classes, recall)},
        "support": {c: int(n) for c, n in zip(classes, support)},
        "ece": round(expected_calibration_error(np.asarray(probs), y), 4) if len(y) else None,
        "confusion": cm.tolist(),
    }


def auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of score (higher = more likely positive) for the bool labels positive: the
    Mann-Whitney statistic, tied scores counting half. NaN when either class is missing."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    _, tie_group, counts = np.unique(np.asarray(score, dtype=float), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[tie_group]  # 1-based, a tie's members share their mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ranking_figures(positive: np.ndarray, score: np.ndarray, *, ks=(500, 1000)) -> dict:
    """AUROC and precision in the top k of a ranking (score: higher = more likely positive; ties keep row order)."""
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-np.asarray(score), kind="stable")
    return {"auroc": auroc(positive, score), **{f"precision_at_{k}": float(positive[order[:k]].mean()) for k in ks}}


def paired_difference(figures_a, figures_b, n: int, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """Two models' figures on the same n faces, b - a, and a paired bootstrap 95% interval of b - a: faces are
    drawn with replacement and both models are scored on the same draw, so what the faces share (how hard they
    are) cancels. figures_a, figures_b: callables from row indices (int array) to {name: float}. An interval
    that holds 0 says the two cannot be told apart on these faces."""
    everything = np.arange(n)
    a, b = figures_a(everything), figures_b(everything)
    rng = np.random.default_rng(seed)
    draws = {name: np.empty(n_boot) for name in a}
    for i in range(n_boot):
        idx = rng.integers(0, n, n)
        fa, fb = figures_a(idx), figures_b(idx)
        for name in a:
            draws[name][i] = fb[name] - fa[name]
    out: dict = {"n": int(n), "n_boot": n_boot}
    for name in a:
        lo, hi = np.nanpercentile(draws[name], [2.5, 97.5])
        out[name] = {"a": round(a[name], 4), "b": round(b[name], 4), "difference": round(b[name] - a[name], 4),
                     "ci95": [round(float(lo), 4), round(float(hi), 4)]}
    return out


def ranking_difference(positive: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *, ks=(500, 1000),
                       n_boot: int = 2000, seed: int = 0) -> dict:
    """paired_difference of two rankings of the same faces (ranking_figures: AUROC, precision@k)."""
    positive = np.asarray(positive, dtype=bool)
    score_a, score_b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    if not len(positive) == len(score_a) == len(score_b):
        raise ValueError("positive, score_a and score_b differ in length")
    return paired_difference(lambda i: ranking_figures(positive[i], score_a[i], ks=ks),
                             lambda i: ranking_figures(positive[i], score_b[i], ks=ks),
                             len(positive), n_boot=n_boot, seed=seed)


def label_difference(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, k: int = K,
                     n_boot: int = 2000, seed: int = 0) -> dict:
    """paired_difference of two models' labels for the same faces: accuracy and macro-F1."""
    y, pa, pb = (np.asarray(v, dtype=np.int64) for v in (y_true, pred_a, pred_b))
    if not len(y) == len(pa) == len(pb):
        raise ValueError("y_true, pred_a and pred_b differ in length")

    def figures(pred):
        return lambda i: {"accuracy": float((pred[i] == y[i]).mean()),
                          "macro_f1": macro_f1(confusion(y[i], pred[i], k=k)) or 0.0}

    return paired_difference(figures(pa), figures(pb), len(y), n_boot=n_boot, seed=seed)


def _fer2013_rows(fer2013: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The FER2013 labels and which rows carry one of the seven (the others are scored on FER+ only)."""
    f = np.asarray(fer2013)
    return f, (f >= 0) & (f <= 6)


def metrics(probs: np.ndarray, probs7: np.ndarray, *, votes: np.ndarray | None,
            fer2013: np.ndarray | None) -> dict:
    """probs: (N, 8), probs7: (N, 7); votes: (N, 10) FER+ counts; fer2013: int (N,) 0..6."""
    from ml.labels import majority_labels

    out: dict = {"n": int(len(probs))}
    if votes is not None:
        lab, keep = majority_labels(votes)
        scored = score_labels(probs[keep], lab[keep])
        out.update({
            "n_ferplus_majority": scored["n"], "accuracy_ferplus_majority": scored["accuracy"],
            **{k: scored[k] for k in ("macro_f1", "per_class_recall", "ece", "confusion")},
        })
    if fer2013 is not None:
        f, ok = _fer2013_rows(fer2013)
        out["accuracy_fer2013"] = round(float((probs7[ok].argmax(1) == f[ok]).mean()), 4) if ok.any() else None
    return out


def plot_confusion(cm: np.ndarray, path: str, *, title: str = "") -> None:
    """cm: (K, K) counts -> PNG at path, rows normalised to recall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(K), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(K), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("FER+ majority")
    for i in range(K):
        for j in range(K):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_npz(npz: str, *, model: str | None = None, split: str | None = None, plot: str | None = None,
                 tta: bool | None = None, threads: int = 2, batch_size: int = 256, precision: str = "auto",
                 members: int | None = None, prior_shift: float | None = None, save_predictions: str | None = None,
                 compare: str | None = None) -> dict:
    """Load rows and model, score, return the metrics dict (confusion included). save_predictions: write the
    probabilities to this .npz; compare: such a file of another model on the same rows, whose accuracy and
    macro-F1 this run's are compared with (``compare`` in the dict: paired_difference, this model as b)."""
    from ml.data import load_npz
    from ml.predict import Predictor

    data = load_npz(npz, usage=split) if split else load_npz(npz, exclude_usage="Training")
    predictor = Predictor(model, tta=tta, threads=threads, precision=precision, members=members,
                          prior_shift=prior_shift)
    predictor.predict_both(data.images[:batch_size], batch_size=batch_size)  # warm-up, not timed
    t0 = time.perf_counter()
    probs, probs7 = predictor.predict_both(data.images, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    out = metrics(probs, probs7, votes=data.votes, fer2013=data.fer2013)
    out["split"] = split or "not Training"
    out["faces_per_s"] = round(len(data) / seconds, 1) if len(data) else None
    out["inference"] = {"cpu_tier": predictor.cpu_tier, "precision": predictor.precision, "tta": predictor.tta,
                        "members": predictor.members, "threads": threads, "batch_size": batch_size,
                        "temperature": predictor.calibration.get("temperature"),
                        "prior_shift": (predictor.calibration.get("prior_shift") or {}).get("tau"),
                        "class_bias": (predictor.calibration.get("class_bias") or {}).get("bias")}
    if plot and "confusion" in out:
        plot_confusion(np.array(out["confusion"]), plot, title=f"{predictor.path.name} on {out['split']}")
    if save_predictions:
        np.savez(save_predictions, probs=probs, probs7=probs7, split=out["split"], model=predictor.path.name,
                 inference=json.dumps(out["inference"]))
    if compare:
        out["compare"] = compare_predictions(compare, data, probs, probs7, split=out["split"])
    return out


def compare_predictions(path: str, data, probs: np.ndarray, probs7: np.ndarray, *, split: str) -> dict:
    """This run's labels against those saved by --save-predictions (the baseline, a) on the same rows."""
    from ml.labels import majority_labels

    saved = np.load(path)
    if str(saved["split"]) != split or len(saved["probs"]) != len(probs):
        raise SystemExit(f"{path} holds {len(saved['probs'])} rows of {saved['split']}, not {len(probs)} of {split}")
    out: dict = {"baseline": str(path), "baseline_model": str(saved["model"]),
                 "baseline_inference": json.loads(str(saved["inference"]))}
    if data.votes is not None:
        lab, keep = majority_labels(data.votes)
        out["ferplus_majority"] = label_difference(lab[keep], saved["probs"][keep].argmax(1), probs[keep].argmax(1))
    if data.fer2013 is not None:
        f, ok = _fer2013_rows(data.fer2013)
        out["fer2013"] = label_difference(f[ok], saved["probs7"][ok].argmax(1), probs7[ok].argmax(1), k=7)
    return out


def main(argv: list[str] | None = None) -> None:
    from ml.predict import add_inference_arguments, predictor_options

    p = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--npz", required=True)
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped weights)")
    p.add_argument("--split", default=None, help="usage value to score (default: every row not Training)")
    p.add_argument("--plot", default=None, help="write a confusion-matrix PNG here")
    p.add_argument("--save-predictions", metavar="NPZ", help="write the probabilities, for a later --compare")
    p.add_argument("--compare", metavar="NPZ", help="a --save-predictions file of another model on the same rows: "
                   "the differences in accuracy and macro-F1, with a paired bootstrap 95%% interval")
    add_inference_arguments(p)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    out = evaluate_npz(args.npz, model=args.model, split=args.split, plot=args.plot, threads=args.threads,
                       save_predictions=args.save_predictions, compare=args.compare, **predictor_options(args))
    out.pop("confusion", None)  # in the plot; keeps the line readable
    print(json.dumps(out))


if __name__ == "__main__":
    main()
