"""Valence-arousal + action-unit quality (ml.valence_arousal, ml.action_units, ml.cross_checks): time and peak memory.

Run ``python bench/va_au_speed.py [--items 36000 --per-face 3 --annotators 300]``: synthetic answers (every face
answered by ``per-face`` distinct annotators, each giving an expression, valence, arousal and the 12 DISFA AUs;
some annotators offset, noisy or blind to an AU), then everything a quality run would compute: VA agreement
(overall and per expression), consensus, offsets, noise and spread issues for both dimensions; AU agreement,
consensus, sensitivity / specificity and disputes; the cross-checks per face and per annotator. The times leave
out importing scipy.stats (1-3 s, once per process). Last line: JSON.

Measured 2026-12-01 on the 2 shared cores (load average ~3): 36,000 faces / 108,000 answers / 300 annotators:
VA 0.71 s (both dimensions), AUs 0.67 s, cross-checks 0.13 s, total 1.5 s, peak 149 MB; 360,000 / 1.08 M / 3,000:
total 21 s (VA 10.0, AUs 9.7, cross-checks 1.3), peak 591 MB. Each run finds exactly the offset annotators it planted.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic(items: int, per_face: int, annotators: int, *, seed: int = 0):
    from ml.action_units import EMFACS_PROTOTYPES, PRESETS
    from ml.config import CLASSES

    rng = np.random.default_rng(seed)
    aus = np.array(PRESETS["disfa"])
    expression = rng.integers(0, len(CLASSES), items)
    truth_au = rng.random((items, len(aus))) < 0.15
    for index, name in enumerate(CLASSES):
        if name in EMFACS_PROTOTYPES:
            columns = np.isin(aus, EMFACS_PROTOTYPES[name][0])
            rows = expression == index
            truth_au[np.ix_(rows, columns)] |= rng.random((rows.sum(), columns.sum())) < 0.8
    valence = np.clip(rng.normal(0, 0.4, items), -1, 1)
    arousal = np.clip(rng.normal(0, 0.4, items), -1, 1)
    item = np.repeat(np.arange(items), per_face)
    # per_face distinct annotators per face: a random start and distinct strides mod annotators.
    start = rng.integers(0, annotators, items)
    who = (start[:, None] + np.arange(per_face)[None, :] * 7) % annotators
    who = who.ravel()
    offset = np.where(rng.random(annotators) < 0.05, 0.3, 0.0)
    noise = rng.uniform(0.05, 0.25, annotators)
    v = np.clip(valence[item] + offset[who] + rng.normal(0, 1, len(item)) * noise[who], -1, 1)
    ar = np.clip(arousal[item] + rng.normal(0, 1, len(item)) * noise[who], -1, 1)
    present = (truth_au[item] ^ (rng.random((len(item), len(aus))) < 0.07)).astype(np.int8)
    present[who % 50 == 0, 6] = 0  # a few annotators never mark AU12
    said = np.where(rng.random(len(item)) < 0.85, expression[item], rng.integers(0, len(CLASSES), len(item)))
    return item, who, v, ar, present, said, expression, aus, CLASSES, offset


def run(items: int, per_face: int, annotators: int) -> dict:
    from ml import action_units as au
    from ml import cross_checks as cc
    from ml import valence_arousal as va

    import scipy.stats  # noqa: F401  imported once per worker process; its 1-3 s are not the engine's

    item, who, v, ar, present, said, expression, aus, classes, true_offset = synthetic(items, per_face, annotators)
    started = time.perf_counter()
    figures = {}
    for name, values in (("valence", v), ("arousal", ar)):
        a = va.va_answers_check(item, who, values, num_items=items, num_annotators=annotators)
        agreement = va.va_agreement(a, group=expression, num_groups=len(classes))
        consensus = va.va_consensus(a)
        spread, _ = va.va_spread_issues(a, consensus, dimension=name)
        figures[f"{name}_alpha"] = round(agreement.alpha, 3)
        figures[f"{name}_spread_issues"] = int(len(spread))
        if name == "valence":
            valence_consensus = consensus.value
            found = np.nan_to_num(consensus.annotator_offset_bound) > 0.1
            figures["offset_annotators"] = int((true_offset > 0).sum())
            figures["offset_found"] = int(found.sum())
            figures["offset_found_right"] = int((found & (true_offset > 0)).sum())
    va_s = time.perf_counter() - started
    started = time.perf_counter()
    a = au.au_answers_check(item, who, present, au_numbers=aus, num_items=items, num_annotators=annotators)
    agreement = au.au_agreement(a)
    consensus = au.au_consensus(a)
    disputes, _, _ = au.au_disputes(a, consensus)
    au_s = time.perf_counter() - started
    started = time.perf_counter()
    face, _, _ = cc.face_issues(expression, class_names=classes, au_present=consensus.present, au_numbers=aus,
                                valence=valence_consensus)
    cc.annotator_self_consistency(who, said, num_annotators=annotators, class_names=classes, au_present=present,
                                  au_numbers=aus, valence=v)
    cross_s = time.perf_counter() - started
    figures.update({
        "items": items, "answers": int(len(item)), "annotators": annotators, "va_s": round(va_s, 2),
        "au_s": round(au_s, 2), "cross_checks_s": round(cross_s, 2), "total_s": round(va_s + au_s + cross_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "au12_alpha": round(float(agreement.alpha[6]), 3), "disputes": int(len(disputes)),
        "cross_check_issues": int(len(face)),
    })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=36_000)
    parser.add_argument("--per-face", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=300)
    args = parser.parse_args()
    r = run(args.items, args.per_face, args.annotators)
    print(f"{r['items']:,} faces, {r['answers']:,} answers, {r['annotators']:,} annotators: VA {r['va_s']} s, "
          f"AUs {r['au_s']} s, cross-checks {r['cross_checks_s']} s, total {r['total_s']} s, "
          f"peak {r['peak_rss_mb']:,} MB")
    print(json.dumps({"benchmark": "va_au_speed", **r}))


if __name__ == "__main__":
    main()
