"""Combine finished training runs into one ensemble checkpoint:
``python -m ml.ensemble --out PATH RUN.pt RUN.pt ...``.

Members are ordinary ``ml.train`` checkpoints of the same data (typically the same recipe with
different seeds); the file format is ml.checkpoint's ENSEMBLE_FORMAT. ``ml.predict.Predictor``
averages the members' probabilities; see there for how many members it runs on which CPU.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.checkpoint import ENSEMBLE_FORMAT, MEMBER_KEYS, load_checkpoint, members_of, save_checkpoint


def combine(ckpts: list[dict]) -> dict:
    """Finished single-model checkpoints of one dataset -> an ensemble checkpoint dict."""
    if len(ckpts) < 2:
        raise ValueError("an ensemble needs at least two members")
    members = [m for c in ckpts for m in members_of(c)]
    for i, m in enumerate(members):
        if m.get("training_state") is not None:
            raise ValueError(f"member {i} is an unfinished run; finish it with ml.train --resume first")
    if len({tuple(m["classes"]) for m in members}) != 1:
        raise ValueError("members predict different classes")
    if len({m["data_sha256"] for m in members}) != 1:
        raise ValueError("members were trained on different data (data_sha256 differs)")
    if len({bool(m["config"].get("fer2013_weight", 0) > 0) for m in members}) != 1:
        raise ValueError("either every member has the FER2013 head or none does")
    return {
        "format": ENSEMBLE_FORMAT, "classes": list(members[0]["classes"]),
        "data_sha256": members[0]["data_sha256"],
        "members": [{k: m[k] for k in MEMBER_KEYS if k in m} for m in members],
        "metrics": {"members": len(members),
                    "train_seconds": round(sum(m["metrics"].get("train_seconds", 0.0) for m in members), 1),
                    "epochs_run": [m["metrics"].get("epochs_run") for m in members]},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ml.ensemble", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="finished ml.train checkpoints (or ensembles) to combine")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        ens = combine([load_checkpoint(r) for r in args.runs])
    except ValueError as e:
        raise SystemExit(f"ml.ensemble: {e}") from None
    save_checkpoint(ens, args.out)
    print(json.dumps({"out": args.out, "bytes": Path(args.out).stat().st_size, **ens["metrics"]}))


if __name__ == "__main__":
    main()
