"""Train the expression model: ``python -m ml.train [--npz PATH] [--epochs N] [--resume] ...``.

The checkpoint (ml.checkpoint's MODEL_FORMAT) is saved after every epoch; while the run is
unfinished it holds the optimizer and scheduler state, so ``--resume`` continues it exactly.
``--init PATH`` warm-starts from another checkpoint's weights (an ensemble's first member) with
a fresh schedule (the path is kept in the config), e.g. to retrain a model version on curated
labels. The same seed gives the same weights: shuffling, augmentation and dropout are seeded per
epoch, so a resumed run matches an uninterrupted one.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ml.checkpoint import MODEL_FORMAT, load_checkpoint, members_of, save_checkpoint
from ml.config import CLASSES, TrainConfig
from ml.labels import targets_for


def _soft_ce(logits, target, *, smoothing: float):
    import torch.nn.functional as F

    k = logits.shape[1]
    target = target * (1 - smoothing) + smoothing / k
    return -(target * F.log_softmax(logits, 1)).sum(1)


def _batch_loss(logits, logits7, t8, m8, y7, s7, *, p8, p7, use_aux: bool, config: TrainConfig, log_prior=None):
    """One batch's loss: soft cross-entropy against the FER+ targets t8 over the rows m8 marks, plus
    config.fer2013_weight x the FER2013 head's cross-entropy on the labels y7 (-1: none). A teacher's
    probabilities (p8, p7; online distillation) or stored FER2013 probabilities s7 (offline) are mixed into
    those targets with config.teacher_weight. log_prior (8,): the training targets' log class shares, added to the
    FER+ logits x config.logit_adjust before the softmax (the logit-adjusted loss)."""
    import torch

    w = config.teacher_weight
    if p8 is not None:
        t8 = (1 - w) * t8 + w * p8
        s7 = p7 if use_aux else None
    if config.logit_adjust > 0:
        logits = logits + config.logit_adjust * log_prior
    loss = (_soft_ce(logits, t8, smoothing=config.label_smoothing) * m8).sum() / m8.sum().clamp(min=1)
    if use_aux:
        l7 = torch.nn.functional.cross_entropy(logits7, y7.clamp(min=0), reduction="none",
                                               label_smoothing=config.label_smoothing)
        if s7 is not None:
            l7 = (1 - w) * l7 + w * _soft_ce(logits7, s7, smoothing=0.0)
        m7 = (y7 >= 0).float()
        loss = loss + config.fer2013_weight * (l7 * m7).sum() / m7.sum().clamp(min=1)
    return loss


def _make_optimizer(model, config: TrainConfig, total_steps: int):
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.AdamW(groups, lr=config.lr)
    if config.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total_steps,
                                                    pct_start=config.warmup_frac, div_factor=20.0,
                                                    final_div_factor=200.0)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return opt, sched


def pick_device(device: str = "auto") -> str:
    """auto: "cuda" where torch sees a GPU, else "cpu"; "cpu" and "cuda" are taken as asked."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto|cpu|cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda asked for, but torch sees no GPU")
    return device


def validation_accuracy(model, images: np.ndarray, labels: np.ndarray, *, device: str = "cpu") -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of a model over uint8 (N, 48, 48) faces with int (N,) labels over CLASSES."""
    import torch

    if len(images) == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    correct, loss = 0, 0.0
    with torch.inference_mode():
        for i in range(0, len(images), 512):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + 512])).unsqueeze(1).float().div_(255).to(device)
            y = torch.from_numpy(np.asarray(labels[i:i + 512], dtype=np.int64)).to(device)
            logits = model(x.contiguous(memory_format=torch.channels_last)).float()
            correct += int((logits.argmax(1) == y).sum())
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    model.train(was_training)
    return correct / len(images), loss / len(images)


def _load_init(model, path: str) -> None:
    """Warm start from another checkpoint's first member; a FER2013 head the new model lacks is dropped."""
    weights = members_of(load_checkpoint(path))[0]["weights"]
    if model.fer2013 is None:
        weights = {k: v for k, v in weights.items() if not k.startswith("fer2013.")}
    model.load_state_dict(weights)


def train(images: np.ndarray, targets: np.ndarray, *, config: TrainConfig, keep: np.ndarray | None = None,
          fer2013: np.ndarray | None = None, data_sha256: str = "", resume: dict | None = None,
          progress: bool = True, log=None, validation: tuple[np.ndarray, np.ndarray] | None = None,
          on_epoch=None, on_step=None, device: str = "cpu", fer2013_soft: np.ndarray | None = None,
          extra_metrics: dict | None = None, teacher=None) -> dict:
    """Train a model and return its checkpoint dict (also saved to ``config.out`` if set).

    images: uint8 (N, 48, 48); targets: float32 (N, 8) soft or one-hot over CLASSES;
    keep: bool (N,) rows that count for the FER+ loss (default all);
    fer2013: int (N,) FER2013 labels 0..6, -1 for none, for the auxiliary head;
    fer2013_soft: float (N, 7) a teacher's FER2013 probabilities, mixed into that head's target with
    ``config.teacher_weight`` (distillation; the FER+ head's teacher is already mixed into ``targets``);
    extra_metrics: stored in the checkpoint's metrics as they are (e.g. which teacher);
    teacher: a callable on each augmented batch -> (FER+ probs (B, 8), FER2013 probs (B, 7) or None), mixed
    into both heads' targets with ``config.teacher_weight`` (online distillation);
    validation: (uint8 (V, 48, 48), int (V,) labels over CLASSES) scored after every epoch
    (``val_accuracy`` and ``val_loss`` in the history);
    on_epoch(entry, ckpt): called after each epoch's checkpoint is saved; on_step(epoch, step, steps): every
    25 optimizer steps. Either may raise to stop the run (the last saved checkpoint stays resumable).
    device: "cpu" or "cuda" (ml.train.pick_device); weights in the checkpoint are always on the CPU.
    """
    import torch
    from tqdm import tqdm

    from ml.augment import augment
    from ml.model import build_model, native_bf16

    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    n = len(images)
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    model = build_model(config)
    use_aux = model.fer2013 is not None and fer2013 is not None
    y7 = np.asarray(fer2013, dtype=np.int64) if use_aux else np.full(n, -1)
    rows = np.flatnonzero(keep | (y7 >= 0))  # a face is used if any head has a target for it
    x_all = torch.from_numpy(np.ascontiguousarray(images[rows])).unsqueeze(1)
    t_all = torch.from_numpy(np.asarray(targets, dtype=np.float32)[rows])
    m8_all = torch.from_numpy(keep[rows].astype(np.float32))
    y7_all = torch.from_numpy(y7[rows])
    soft7_all = None if fer2013_soft is None or not use_aux else torch.from_numpy(
        np.asarray(fer2013_soft, dtype=np.float32)[rows])
    log_prior = None
    if config.logit_adjust > 0:  # the class shares the FER+ head is trained on, floored as ml.calibration's
        kept = m8_all > 0
        shares = t_all[kept].mean(0) if bool(kept.any()) else torch.full((t_all.shape[1],), 1 / t_all.shape[1])
        log_prior = shares.clamp(min=1e-4).log().to(device)
    bs = min(config.batch_size, len(rows))
    steps = max(1, len(rows) // bs)  # drop the ragged last batch: BN dislikes tiny batches
    model = model.to(memory_format=torch.channels_last)
    on_gpu = device == "cuda"
    if on_gpu:
        bf16 = config.precision == "bf16" or (config.precision == "auto" and torch.cuda.is_bf16_supported())
    else:
        bf16 = config.precision == "bf16" or (config.precision == "auto" and native_bf16())
    autocast = (lambda: torch.autocast(device, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    epochs = config.epochs
    if config.max_seconds > 0 and resume is None:  # time a few steps, then shorten the run to fit
        probe = build_model(config).to(device).to(memory_format=torch.channels_last)
        popt = torch.optim.SGD(probe.parameters(), lr=1e-3)
        xb = x_all[:bs].float().div(255).to(device)
        t0 = time.perf_counter()
        for _ in range(3):
            popt.zero_grad()
            with autocast():
                out = probe(xb)
            out.float().logsumexp(1).mean().backward()
            popt.step()
        per_epoch = (time.perf_counter() - t0) / 3 * steps * 1.15
        epochs = max(1, min(epochs, int(config.max_seconds / per_epoch)))
        log(f"time budget {config.max_seconds:.0f}s: {per_epoch:.1f}s/epoch -> {epochs} epochs")
    if config.init and resume is None:  # continue training a previous model with a new schedule
        _load_init(model, config.init)
    if resume is not None:
        model.load_state_dict(resume["weights"])
    model = model.to(device)
    opt, sched = _make_optimizer(model, config, epochs * steps)
    start_epoch, history = 0, []
    if resume is not None:
        state = resume["training_state"]
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        epochs = state["epochs"]
        start_epoch, history = resume["epoch"], list(resume["metrics"].get("history", []))

    t_start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    ckpt: dict = {}
    for epoch in range(start_epoch, epochs):
        model.train()
        torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout, reproducible per epoch
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        perm = torch.from_numpy(np.random.default_rng([config.seed, epoch]).permutation(len(rows)))
        total, count = 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False,
                   mininterval=2.0, file=sys.stderr)
        out_of_time = False
        for step in bar:
            if config.max_seconds > 0 and time.perf_counter() - t_start > config.max_seconds:
                out_of_time = True  # a budget is a promise: stop mid-epoch rather than overrun
                break
            if on_step is not None and step % 25 == 0:
                on_step(epoch, step, steps)
            idx = perm[step * bs:(step + 1) * bs]
            x = x_all[idx].float().div_(255)
            if config.augment:
                x = augment(x, generator=gen)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            t8, s7 = t_all[idx].to(device), (soft7_all[idx].to(device) if soft7_all is not None else None)
            m8 = m8_all[idx].to(device)
            y = y7_all[idx].to(device)
            mate = None
            if config.mixup > 0:  # seeded per epoch and step, so a resumed run matches; the generator is untouched
                mix_rng = np.random.default_rng([config.seed, epoch, step, 7])
                lam = float(mix_rng.beta(config.mixup, config.mixup))
                mate = torch.from_numpy(mix_rng.permutation(len(idx))).to(device)
                x = (lam * x + (1 - lam) * x[mate]).contiguous(memory_format=torch.channels_last)
            p8 = p7 = None
            if teacher is not None:  # it scores the faces as the student sees them, mixed ones too
                with torch.no_grad():
                    p8, p7 = teacher(x)
                p8, p7 = p8.float(), (p7.float() if p7 is not None else None)
            with autocast():
                logits, logits7 = model.heads(x)
            logits, logits7 = logits.float(), (logits7.float() if logits7 is not None else None)
            terms = dict(p8=p8, p7=p7, use_aux=use_aux, config=config, log_prior=log_prior)
            loss = _batch_loss(logits, logits7, t8, m8, y, s7, **terms)
            if mate is not None:  # mixup (Zhang et al. 2018): the loss against each face's targets, by its share
                s7b = s7[mate] if s7 is not None else None
                loss = lam * loss + (1 - lam) * _batch_loss(logits, logits7, t8[mate], m8[mate], y[mate], s7b, **terms)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            count += len(idx)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total / count:.4f}", lr=f"{sched.get_last_lr()[0]:.4f}")
        entry = {"epoch": epoch + 1, "loss": round(total / max(count, 1), 5)}
        if validation is not None:
            acc, val_loss = validation_accuracy(model, validation[0], validation[1], device=device)
            entry.update(val_accuracy=None if math.isnan(acc) else round(acc, 4),
                         val_loss=None if math.isnan(val_loss) else round(val_loss, 5))
        seconds = time.perf_counter() - t_start
        entry["seconds"] = round(seconds, 1)
        history.append(entry)
        val = f" val_accuracy {entry['val_accuracy']}" if entry.get("val_accuracy") is not None else ""
        log(f"epoch {epoch + 1}/{epochs} loss {total / max(count, 1):.4f}{val} {seconds:.0f}s")
        done = epoch + 1 == epochs or out_of_time or (config.max_seconds > 0 and seconds > config.max_seconds)
        ckpt = {
            "format": MODEL_FORMAT, "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": config.to_dict(),
            "classes": list(CLASSES), "data_sha256": data_sha256, "epoch": epoch + 1,
            "metrics": {"history": history, "train_seconds": round(seconds, 1), "n_train": int(len(rows)),
                        "epochs_run": epoch + 1, "epochs": epochs, "threads": config.threads,
                        "precision": "bf16" if bf16 else "fp32", "device": device, **(extra_metrics or {})},
            "training_state": None if done else {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                                 "epochs": epochs},
        }
        if config.out:
            save_checkpoint(ckpt, config.out)
        if on_epoch is not None:
            on_epoch(entry, ckpt)
        if done:
            break
    return ckpt


def teacher_targets(path: str, images: np.ndarray, *, threads: int = 2) -> tuple[np.ndarray, np.ndarray, dict]:
    """A teacher checkpoint's probabilities for images: (FER+ (N, 8), FER2013 (N, 7), what to record of it).

    Every member runs, each face also mirrored, in float32 (the same targets on every CPU); a teacher file
    with a temperature gives its calibrated probabilities.
    """
    t0 = time.perf_counter()
    teacher = _teacher(path, tta=True, precision="fp32", threads=threads)
    p8, p7 = teacher.predict_both(images)
    seconds = round(time.perf_counter() - t0, 1)
    print(f"teacher {path}: {teacher.members} member(s) mirrored on {len(images)} faces in {seconds}s",
          file=sys.stderr, flush=True)
    return p8, p7, _teacher_record(teacher, seconds=seconds)


def _teacher(path: str, *, tta: bool, precision: str, threads: int):
    """A Predictor running every member of the checkpoint at path."""
    from ml.checkpoint import load_checkpoint, members_of
    from ml.predict import Predictor

    n = len(members_of(load_checkpoint(path)))
    return Predictor(path, members=n, tta=tta, precision=precision, threads=threads)


def _teacher_record(teacher, **more) -> dict:
    """What a student's checkpoint keeps of its teacher (metrics.teacher)."""
    import hashlib

    return {"teacher": {"path": str(teacher.path), "sha256": hashlib.sha256(teacher.path.read_bytes()).hexdigest(),
                        "members": teacher.members, "train_seconds": (teacher.metrics or {}).get("train_seconds"),
                        **more}}


def online_teacher(path: str, *, config: TrainConfig):
    """(a callable scoring a batch with every member of the teacher at the run's precision, what to record of it).

    The callable gives the members' raw probabilities (Predictor.raw_probabilities): a teacher's stored calibration
    is not applied on this path, unlike teacher_targets'."""
    from ml.model import native_bf16

    bf16 = config.precision == "bf16" or (config.precision == "auto" and native_bf16())
    teacher = _teacher(path, tta=config.teacher_mirror, precision="bf16" if bf16 else "fp32", threads=config.threads)
    return teacher.raw_probabilities, _teacher_record(teacher, online=True, precision=teacher.precision,
                                                      mirrored=teacher.tta)


def train_npz(path: str | Path, *, config: TrainConfig, usage: str = "Training", resume: bool = False,
              progress: bool = True) -> dict:
    """Train on the rows of a shared-format npz whose usage is ``usage`` (never the test rows)."""
    from ml.data import arrays_sha256, load_npz

    from ml.calibration import validation_split
    from ml.labels import majority_labels

    data = load_npz(path, usage=usage)
    if len(data) == 0:
        raise SystemExit(f"no rows with usage {usage!r} in {path}")
    validation = None
    if config.val_frac > 0:
        held = validation_split(len(data), config.val_frac)
        val = data.subset(held)
        data = data.subset(~held)
        if val.votes is not None:
            lab, has = majority_labels(val.votes)
            validation = (val.images[has], lab[has])
    targets, keep = targets_for(config.label_mode, votes=data.votes, fer2013=data.fer2013)
    fer = None
    if data.fer2013 is not None and config.fer2013_weight > 0 and config.label_mode != "fer2013":
        fer = np.asarray(data.fer2013, dtype=np.int64)
        if data.votes is not None:  # the crowd says not-a-face: that FER2013 label is noise
            _, ok = targets_for("fer2013", votes=data.votes, fer2013=data.fer2013)
            fer = np.where(ok, fer, -1)
    sha = arrays_sha256(data.images, data.votes, data.fer2013)
    soft7, extra, online = None, None, None
    if config.teacher and config.teacher_online:
        online, extra = online_teacher(config.teacher, config=config)
    elif config.teacher:
        teacher8, soft7, extra = teacher_targets(config.teacher, data.images, threads=config.threads)
        w = config.teacher_weight
        targets = np.where(keep[:, None], (1 - w) * targets + w * teacher8, targets).astype(np.float32)
    state = None
    if resume and config.out and Path(config.out).exists():
        state = load_checkpoint(config.out)
        if state.get("training_state") is None:
            raise SystemExit(f"{config.out} is a finished run; nothing to resume")
        if state["data_sha256"] != sha or TrainConfig.from_dict(state["config"]) != config:
            raise SystemExit("--resume needs the same data and config as the interrupted run")
    ckpt = train(data.images, targets, config=config, keep=keep, fer2013=fer, data_sha256=sha,
                 resume=state, progress=progress, validation=validation, fer2013_soft=soft7, extra_metrics=extra,
                 teacher=online)
    if config.val_frac > 0 and config.out and ckpt.get("training_state") is None:
        from ml.calibration import fit_checkpoint

        ckpt["calibration"] = fit_checkpoint(config.out, npz=str(path), threads=config.threads)
    return ckpt


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, TrainConfig]:
    p = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.splitlines()[0])
    p.add_argument("--npz", default=os.environ.get("FERLAB_NPZ", "../shared/datasets/fer2013_ferplus_trainval.npz"))
    p.add_argument("--usage", default="Training", help="rows to train on (default Training)")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run saved at --out")
    p.add_argument("--no-progress", action="store_true")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name in ("widths", "depths"):
            p.add_argument(flag, type=lambda s: tuple(int(v) for v in s.split(",")), default=f.default)
        elif f.type in ("bool", bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=f.default)
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            p.add_argument(flag, type=typ, default=f.default)
    args = p.parse_args(argv)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    return args, cfg


def main(argv: list[str] | None = None) -> None:
    args, cfg = _parse(argv)
    ckpt = train_npz(args.npz, config=cfg, usage=args.usage, resume=args.resume, progress=not args.no_progress)
    m = ckpt["metrics"]
    print(json.dumps({"out": cfg.out, "epochs_run": m["epochs_run"], "train_seconds": m["train_seconds"],
                      "final_loss": m["history"][-1]["loss"] if m["history"] else math.nan,
                      **({"calibration": ckpt["calibration"]} if "calibration" in ckpt else {})}))


if __name__ == "__main__":
    main()
