"""Expression-model speed on two CPU cores: inference faces/s at batch 1 and 256, training s/epoch.

Run ``python bench/model_speed.py [--model PATH] [--threads 2] [--windows 3]``; the last line is JSON. Each inference
figure is the median of --windows timing windows; the JSON also lists the batch-256 windows, whose spread says how
steady the host was.
Inference goes through ml.predict.Predictor exactly as the worker calls it (fused BN, flip
test-time augmentation where ml.predict turns it on, or as --tta says). The training epoch is a
real ml.train.train run over a synthetic subset (its second epoch timed), extrapolated to the
28,709 FER2013 Training faces and to every member of an ensemble.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.config import DEFAULT_WEIGHTS  # noqa: E402

TRAINING_FACES = 28_709


def faces_per_s(predictor, images: np.ndarray, *, batch_size: int, seconds: float, windows: int = 1) -> list[float]:
    """Faces/s in each of `windows` back-to-back timing windows of `seconds`: on a shared virtual machine the speed
    drifts from one few-second window to the next (1,346-2,188 faces/s on one Zen 3 host), so one window is no figure."""
    predictor.predict_proba(images[:batch_size], batch_size=batch_size)  # warm-up
    rates = []
    for _ in range(windows):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            predictor.predict_proba(images[done % len(images):][:batch_size], batch_size=batch_size)
            done += batch_size
        rates.append(done / (time.perf_counter() - t0))
    return rates


def spread(rates: list[float]) -> str:
    return f"median {np.median(rates):8.1f} faces/s (windows: {min(rates):.1f}-{max(rates):.1f})"


def main() -> None:
    import torch

    from ml.labels import soft_labels
    from ml.predict import Predictor, add_inference_arguments, predictor_options
    from ml.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--threads", type=int, default=2)
    add_inference_arguments(p)
    p.add_argument("--seconds", type=float, default=5.0, help="length of one timing window")
    p.add_argument("--windows", type=int, default=3, help="timing windows per inference figure (median and range)")
    p.add_argument("--train-faces", type=int, default=4096, help="synthetic faces for the timed epoch")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4096, 48, 48), dtype=np.uint8)

    predictor = Predictor(args.model, threads=args.threads, **predictor_options(args))
    timing = dict(seconds=args.seconds, windows=args.windows)
    b1 = faces_per_s(predictor, images, batch_size=1, **timing)
    print(f"inference batch 1:   {spread(b1)}", flush=True)
    b256 = faces_per_s(predictor, images, batch_size=256, **timing)
    print(f"inference batch 256: {spread(b256)}", flush=True)

    # Two epochs, timing the second: the first pays one-off costs (oneDNN kernel setup, allocator
    # warm-up) that a 60-epoch run pays once; timing it overstated full runs by ~45%.
    cfg = dataclasses.replace(predictor.config, epochs=2, out="", init="", threads=args.threads, max_seconds=0.0)
    n = args.train_faces
    votes = np.zeros((n, 10), np.uint8)
    votes[np.arange(n), rng.integers(0, 8, n)] = 10
    targets, keep = soft_labels(votes)
    ckpt = train(images[:n], targets, keep=keep, fer2013=rng.integers(0, 7, n), config=cfg, progress=False,
                 log=lambda s: None)
    first, second = (h["seconds"] for h in ckpt["metrics"]["history"])
    epoch_s = (second - first) / n * TRAINING_FACES
    runs = predictor.n_stored * predictor.config.epochs  # an ensemble trains each member in full
    print(f"training: {epoch_s:.1f} s/epoch over {TRAINING_FACES} faces (2nd epoch of {n}, extrapolated);"
          f" {predictor.n_stored} x {predictor.config.epochs} epochs -> {epoch_s * runs / 60:.1f} min", flush=True)
    print(json.dumps({
        "model": Path(args.model).name, "threads": args.threads, "cpu_tier": predictor.cpu_tier, "tta": predictor.tta,
        "precision": predictor.precision, "members": predictor.members,
        "faces_per_s_batch1": round(float(np.median(b1)), 1), "faces_per_s_batch256": round(float(np.median(b256)), 1),
        "faces_per_s_batch256_windows": [round(r, 1) for r in b256],
        "train_s_per_epoch": round(epoch_s, 1),
        "train_min_full": round(epoch_s * runs / 60, 1),
    }))


if __name__ == "__main__":
    main()
