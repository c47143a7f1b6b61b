"""Class probabilities for batches of face crops, from a checkpoint loaded once.

API (what the FERLab worker calls)::

    from ml.predict import load_predictor
    predictor = load_predictor()            # shipped weights; cached per path and process
    probs = predictor.predict_proba(images) # images uint8 (N, H, W) grey -> float32 (N, 8)
    predictor.classes                       # ml.config.CLASSES, the column order of probs

``Predictor(path=None, *, tta=None, threads=None, precision="auto", members=None)`` loads ``path``
(default ``ml/weights/ferlab-cnn.pt``), a single model or an ensemble (``ml.ensemble``), whose
members' probabilities are averaged. Images of any size are resized to 48x48 (bilinear,
antialiased); (N, H, W, 3) RGB is converted to grey. With ``tta`` each face is also scored
mirrored and the two probability vectors are averaged. ``predict_fer2013(images)`` gives float32
(N, 7) over the original FER2013 labels (the FER2013 heads, or the 8->7 map without them).

Speed: BatchNorm is folded into the convs and the members are traced into one frozen graph that
oneDNN fuses (conv + bias + ReLU in one kernel). ``precision="auto"`` runs it in bfloat16 where
the CPU has native bf16 (AVX512-BF16, or AMX tiles, which run it faster still), since that is
several times the float32 speed at the same accuracy; elsewhere (AVX2 CPUs), or with
``precision="fp32"``, it runs in float32. That applies to ensembles: a single network (the shipped
file) runs in float32, one pass per face, on every CPU by default, so AVX2, Zen 4 and Sapphire
Rapids give the same figures; ``precision="bf16"`` and ``tta=True`` remain choices. For ensembles
the autos spend the speed a CPU has on accuracy, and no more than keeps the speed target:
``PASS_BUDGET`` gives the forward passes per face each kind of CPU affords; ``members=None`` runs
as many members as fit, then ``tta=None`` mirrors them if twice that still fits (a second member
scores better than one mirrored member, and runs faster). ``Predictor.cpu_tier`` says which
applied. The probabilities are calibrated as the checkpoint says (``ml.calibration``: a logit
adjustment for rare classes and a temperature, fitted on faces held out of training).
ml/MODEL_CARD.md has the measured speed and accuracy of each combination.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np

from ml.config import CLASSES, DEFAULT_WEIGHTS, IMAGE_SIZE, TrainConfig


def images_to_tensor(images: np.ndarray):
    """images: (N, H, W) uint8 grey or (N, H, W, 3) RGB -> float (N, 1, 48, 48) in [0, 1]."""
    import torch
    import torch.nn.functional as F

    a = np.asarray(images)
    if a.ndim == 4 and a.shape[-1] in (3, 4):  # RGB(A) -> grey with the usual luma weights
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"images must be (N, H, W) grey, got shape {np.shape(images)}")
    x = torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1).float()
    if a.dtype == np.uint8 or x.max() > 1.5:
        x = x / 255.0
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0, 1)
    return x


PRECISIONS = ("auto", "fp32", "bf16")
# Forward passes per face (members x mirrors) that each kind of CPU affords while the default keeps
# the model card's speed target (faces/s at batch 256 on two cores, bench/model_speed.py): float32
# (AVX2), native bfloat16 (AVX512-BF16) and bfloat16 on AMX tiles. The model card's "What runs
# where" table has the speed measured for each.
PASS_BUDGET = {"fp32": 1, "bf16": 2, "amx": 6}
TTA_CHOICES = {"auto": None, "on": True, "off": False}  # command-line word -> Predictor(tta=...)


def add_inference_arguments(parser) -> None:
    """``--tta auto|on|off`` (``--no-tta``), ``--precision auto|fp32|bf16`` and ``--members N`` on
    an argparse parser; ``predictor_options(args)`` turns them into Predictor keyword arguments."""
    parser.add_argument("--tta", choices=tuple(TTA_CHOICES), default="auto",
                        help="mirrored second pass; auto: where the CPU's pass budget holds it (ml.predict.PASS_BUDGET)")
    parser.add_argument("--no-tta", dest="tta", action="store_const", const="off", help="same as --tta off")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: bfloat16 where the CPU runs it natively, else float32")
    parser.add_argument("--prior-shift", type=float, default=None, metavar="TAU",
                        help="logit adjustment for rare classes instead of the stored one (0 = none, 1 = balanced; "
                             "needs a checkpoint calibrated by ml.calibration)")
    parser.add_argument("--members", type=int, default=None,
                        help="ensemble members to run (default: as many as the CPU's pass budget holds)")


def predictor_options(args) -> dict:
    return {"tta": TTA_CHOICES[args.tta], "precision": args.precision, "members": args.members,
            "prior_shift": args.prior_shift}


class _Heads:
    """The members' two heads as one traced, frozen graph with oneDNN fusion (conv + bias + ReLU
    in one kernel), in bfloat16 (autocast) or float32. Called on a batch, it returns the
    probabilities averaged over the members: (N, 8) and (N, 7) or None without FER2013 heads."""

    def __init__(self, models, *, bf16: bool):
        import torch

        self.bf16 = bf16
        self.has_fer2013 = all(m.fer2013 is not None for m in models)

        class All(torch.nn.Module):
            def __init__(self, ms):
                super().__init__()
                self.ms = torch.nn.ModuleList(ms)

            def forward(self, x):
                out = []
                for m in self.ms:
                    a, b = m.heads(x)
                    out += [a, b] if b is not None else [a]
                return tuple(out)

        example = torch.rand(8, 1, IMAGE_SIZE, IMAGE_SIZE).contiguous(memory_format=torch.channels_last)
        torch.jit.enable_onednn_fusion(True)
        # TorchScript is deprecated in favour of torch.compile, but on these CPUs the traced, frozen
        # oneDNN graph ran faster than torch.compile's and is ready at once, where compiling takes
        # seconds per process (ml/MODEL_CARD.md, "Why the inference path is built this way").
        # Revisit when TorchScript is removed.
        with torch.no_grad(), self._autocast(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.fn = torch.jit.freeze(torch.jit.trace(All(models).eval(), example, check_trace=False))

    def _autocast(self):
        import contextlib

        import torch

        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)

    def __call__(self, x):
        with self._autocast():
            out = self.fn(x)
        step = 2 if self.has_fer2013 else 1  # out: (logits8, logits7) per member, or logits8 alone

        def mean_probs(logits):
            return sum(t.float().softmax(1) for t in logits) / len(logits)

        return mean_probs(out[::step]), (mean_probs(out[1::step]) if self.has_fer2013 else None)


class Predictor:
    """A loaded model in eval mode; safe to reuse for many batches (not for concurrent threads)."""

    def __init__(self, path: str | Path | None = None, *, tta: bool | None = None, threads: int | None = None,
                 precision: str = "auto", members: int | None = None, prior_shift: float | None = None):
        import torch

        from ml.checkpoint import load_checkpoint, members_of
        from ml.model import build_model, fuse_conv_bn, native_amx, native_bf16

        self.path = Path(path) if path is not None else DEFAULT_WEIGHTS
        ckpt = load_checkpoint(self.path)
        if tuple(ckpt["classes"]) != CLASSES:
            raise ValueError(f"{self.path}: classes {ckpt['classes']} are not {CLASSES}")
        stored = members_of(ckpt)
        self.config = TrainConfig.from_dict(stored[0]["config"])
        self.metrics = ckpt.get("metrics", {})
        # Temperatures fitted on held-out faces (ml.calibration); a file without them gives raw probabilities.
        self.calibration = dict(ckpt.get("calibration") or {})
        if prior_shift is not None:  # a lead trading accuracy for rare-class recall (ml/MODEL_CARD.md has the table)
            if "prior_shift" not in self.calibration:
                raise ValueError(f"{self.path} has no fitted logit adjustment (ml.calibration) to change")
            self.calibration["prior_shift"] = dict(self.calibration["prior_shift"], tau=float(prior_shift))
        self.classes = CLASSES
        if threads:
            torch.set_num_threads(threads)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        # Auto: a single network runs in float32 everywhere, one pass per face, so every CPU gives the same
        # figures (and its speed target holds in float32); an ensemble spends native bfloat16 on more passes.
        if precision == "auto":
            self.precision = "bf16" if native_bf16() and len(stored) > 1 else "fp32"
        else:
            self.precision = precision
        if self.precision == "bf16" and native_bf16():
            self.cpu_tier = "amx" if native_amx() else "bf16"
        else:
            self.cpu_tier = "fp32"
        budget = PASS_BUDGET[self.cpu_tier]
        self.members = min(len(stored), budget) if members is None else int(members)
        if not 1 <= self.members <= len(stored):
            raise ValueError(f"{self.path} holds {len(stored)} member(s); asked for {members}")
        self.n_stored = len(stored)
        models = []
        for m in stored[:self.members]:
            model = build_model(TrainConfig.from_dict(m["config"]))
            model.load_state_dict(m["weights"])
            models.append(fuse_conv_bn(model.eval()).to(memory_format=torch.channels_last))
        self._heads = _Heads(models, bf16=self.precision == "bf16")
        # Auto: members first (a second member beats the mirrored pass), then mirroring if the
        # budget still holds twice the members' passes.
        self.tta = 2 * self.members <= budget if tta is None else bool(tta)

    def predict_both(self, images: np.ndarray, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """images: (N, H, W) -> (probs float32 (N, 8), fer2013 probs float32 (N, 7))."""
        import torch

        from ml.labels import ferplus_to_fer2013_probs

        x_all = images_to_tensor(images)
        # With TTA one forward over [faces; mirrored faces] is cheaper than two, but it must stay
        # batch_size rows: forwards of twice that ran much slower per face (ml/MODEL_CARD.md).
        step = max(1, batch_size // 2) if self.tta else batch_size
        p8, p7 = [], []
        with torch.inference_mode():
            for i in range(0, len(x_all), step):
                x = x_all[i:i + step]
                a, b = self.raw_probabilities(x)
                p8.append(a.numpy())
                p7.append(b.numpy() if b is not None else ferplus_to_fer2013_probs(a.numpy()))
        if not p8:
            return np.zeros((0, len(CLASSES)), np.float32), np.zeros((0, 7), np.float32)
        return self._calibrated(np.concatenate(p8), "ferplus"), self._calibrated(np.concatenate(p7), "fer2013")

    def raw_probabilities(self, x):
        """x: float tensor (B, 1, 48, 48) in [0, 1] -> the members' mean probabilities as tensors,
        (B, 8) and (B, 7) or None without FER2013 heads: one forward (of 2B rows, the mirrored faces too, when this
        predictor mirrors), no calibration (what predict_both calibrates and online distillation, ml.train, feeds
        on)."""
        import torch

        if not self.tta:
            return self._heads(x.contiguous(memory_format=torch.channels_last))
        a, b = self._heads(torch.cat([x, x.flip(-1)]).contiguous(memory_format=torch.channels_last))
        half = len(a) // 2
        return (a[:half] + a[half:]) / 2, ((b[:half] + b[half:]) / 2 if b is not None else None)

    def _calibrated(self, probs: np.ndarray, head: str) -> np.ndarray:
        from ml.calibration import apply_calibration

        return apply_calibration(probs, self.calibration, head=head)

    def predict_proba(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """images: uint8 (N, H, W) grey -> float32 (N, 8) probabilities over CLASSES."""
        return self.predict_both(images, batch_size=batch_size)[0]

    def predict_fer2013(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """images: uint8 (N, H, W) grey -> float32 (N, 7) over the FER2013 labels."""
        return self.predict_both(images, batch_size=batch_size)[1]


@functools.lru_cache(maxsize=4)
def _cached(path: str, tta: bool | None, stamp: tuple[int, int]) -> Predictor:
    return Predictor(path, tta=tta)  # precision "auto": bf16 where the CPU runs it natively


def load_predictor(path: str | Path | None = None, *, tta: bool | None = None) -> Predictor:
    """The Predictor for ``path`` (default: shipped weights), loaded once per process and again
    only if the file changes (new weights under the same name)."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    st = path.stat()
    return _cached(str(path), tta, (st.st_mtime_ns, st.st_size))
