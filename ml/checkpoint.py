"""Checkpoint files: their two formats, atomic save, load, and the members of an ensemble."""
from __future__ import annotations

import os
from pathlib import Path

# A single model (ml.train): one torch.save dict with ``weights`` (state_dict), ``config``
# (TrainConfig as a dict), ``classes``, ``metrics``, ``data_sha256`` (hash of the training
# arrays), ``epoch`` and, while the run is unfinished, ``training_state`` (optimizer, scheduler,
# epochs) so ``ml.train --resume`` continues it exactly. Files without ``format`` are read as
# single models too.
MODEL_FORMAT = "ferlab-cnn/1"
# An ensemble (ml.ensemble): ``classes``, ``data_sha256``, ``members`` (single-model dicts
# reduced to MEMBER_KEYS, in the order given) and ``metrics`` (summed training seconds, the
# members' epochs).
ENSEMBLE_FORMAT = "ferlab-ensemble/1"
MEMBER_KEYS = ("format", "weights", "config", "classes", "metrics", "data_sha256", "epoch")


def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    """Write atomically, so a killed run never leaves a half-written file to resume from."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint file -> its dict, tensors on the CPU.

    The files hold plain dicts of configs and metrics beside the tensors, which torch's
    weights-only loader refuses, so only load files this project wrote.
    """
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def members_of(ckpt: dict) -> list[dict]:
    """A loaded checkpoint -> its member checkpoints ([ckpt] for a single model)."""
    return list(ckpt["members"]) if ckpt.get("format") == ENSEMBLE_FORMAT else [ckpt]
