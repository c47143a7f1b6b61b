"""Sparse CROWDLAB + ActiveLab (ml.crowd_sparse) at crowd scale: time and peak memory, in one process per size.

Run ``python bench/crowd_sparse_speed.py [--items 1000000 --answers 3000000 --annotators 10000] [--ladder]``.
Each size runs in a fresh process (so peak memory is that size's own): synthetic answers from annotators of
varied accuracy over model probabilities around a truth, then CROWDLAB (consensus, quality, annotator quality)
and ActiveLab (scores of the answered faces and of 10% more unanswered ones). ``--ladder`` runs 1x, 10x and 30x
of a base size (36,000 faces, 110,000 answers, 300 annotators: FER2013's size) and prints how time and memory grow;
``--dense`` also times cleanlab's dense path where it fits (it needs faces x annotators floats). Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASE = (36_000, 110_000, 300)
DENSE_LIMIT = 2e8  # faces x annotators cells the dense path may allocate (1.6 GB of float64)


def synthetic(items: int, answers: int, annotators: int, *, k: int = 8, seed: int = 0):
    """Every face answered at least once, the rest of the answers spread at random; no (face, annotator) twice."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, items)
    face = np.concatenate([np.arange(items), rng.integers(0, items, answers - items)])
    who = rng.integers(0, annotators, answers)
    _, first = np.unique(face * annotators + who, return_index=True)
    face, who = face[first], who[first]
    skill = rng.uniform(0.4, 0.95, annotators)
    right = rng.random(len(face)) < skill[who]
    answer = np.where(right, truth[face], rng.integers(0, k, len(face)))
    probs = rng.dirichlet(np.ones(k), items) * 0.5
    probs[np.arange(items), truth] += 0.5
    return face, who, answer, probs


def run_one(items: int, answers: int, annotators: int, dense: bool) -> dict:
    from ml import crowd_sparse

    face, who, answer, probs = synthetic(items, answers, annotators)
    unlabeled = probs[: items // 10]
    started = time.perf_counter()
    result = crowd_sparse.crowdlab(face, who, answer, probs, num_annotators=annotators)
    crowdlab_s = time.perf_counter() - started
    started = time.perf_counter()
    scores, _ = crowd_sparse.active_learning_scores(face, who, answer, probs, unlabeled, num_annotators=annotators)
    activelab_s = time.perf_counter() - started
    figures = {"items": items, "answers": int(len(face)), "annotators": annotators, "crowdlab_s": round(crowdlab_s, 2),
               "activelab_s": round(activelab_s, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if dense and items * annotators <= DENSE_LIMIT:
        from ml import consensus

        matrix = np.full((items, annotators), np.nan)
        matrix[face, who] = answer
        started = time.perf_counter()
        reference = consensus.crowdlab(matrix, probs)
        figures["dense_crowdlab_s"] = round(time.perf_counter() - started, 2)
        figures["same_consensus"] = bool((reference.label == result.label).all())
    figures["mean_quality"] = round(float(result.quality.mean()), 4)
    figures["mean_priority"] = round(float(1 - scores.mean()), 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--answers", type=int, default=3_000_000)
    parser.add_argument("--annotators", type=int, default=10_000)
    parser.add_argument("--ladder", action="store_true", help="1x, 10x and 30x of FER2013's size instead of one size")
    parser.add_argument("--dense", action="store_true", help="also time cleanlab's dense path where it fits")
    parser.add_argument("--one", nargs=3, type=int, help=argparse.SUPPRESS)  # internal: one size in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.dense)))
        return
    sizes = [tuple(f * x for x in BASE) for f in (1, 10, 30)] if args.ladder else [(args.items, args.answers, args.annotators)]
    rows = []
    for size in sizes:
        command = [sys.executable, __file__, "--one", *map(str, size)] + (["--dense"] if args.dense else [])
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        r = rows[-1]
        print(f"{r['items']:>9,} faces {r['answers']:>10,} answers {r['annotators']:>6,} annotators: CROWDLAB {r['crowdlab_s']:6.2f} s, "
              f"ActiveLab {r['activelab_s']:6.2f} s, peak {r['peak_rss_mb']:>6,} MB"
              + (f", dense CROWDLAB {r['dense_crowdlab_s']} s, same consensus {r['same_consensus']}" if "dense_crowdlab_s" in r else ""),
              flush=True)
    print(json.dumps({"benchmark": "crowd_sparse_speed", "rows": rows}))


if __name__ == "__main__":
    main()
