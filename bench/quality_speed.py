"""Quality-run speed: 36,000 items, 110,000 answers from 300 annotators, end to end on a fresh database.

Run ``python bench/quality_speed.py [--database-url postgres://postgres@127.0.0.1:5432/ferlab_bench_speed]``
(default: a fresh SQLite file under var/bench). A setup step fills the database (items with perceptual
hashes, one active model version with a prediction per item, answers from annotators of varied accuracy,
a few of them spammers); then a separate process runs one analyse job exactly as the worker does
(database reads, pre-label check, CROWDLAB, ActiveLab, agreement, duplicates, one-transaction write) and
reports its wall time and peak resident memory. CROWDLAB works on a dense items x annotators matrix, so
``--scaling`` then times the analysis alone (no database) for more annotators. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402


def populate(*, items: int, answers: int, annotators: int, seed: int = 0) -> dict:
    """Fill the database; returns what was made."""
    from django.contrib.auth import get_user_model
    from tqdm import tqdm

    from annotate.models import Annotation, Item, Membership, ModelVersion, Prediction, Project, Role
    from ml.config import CLASSES

    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    project = Project.objects.create(name="speed", slug=f"speed-{uuid.uuid4().hex[:6]}")
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"speed-{i}-{uuid.uuid4().hex[:4]}", password="!") for i in range(annotators)])
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    truth = rng.integers(0, k, items)
    hashes = rng.integers(-2**63, 2**63 - 1, items, dtype=np.int64)
    hashes[1::997] = hashes[0::997][: len(hashes[1::997])] ^ 0b101  # a few near duplicates
    made = []
    for start in tqdm(range(0, items, 5000), desc="items", unit="batch"):
        batch = [Item(project=project, crop="bench/none.png", content_hash=f"{uuid.uuid4().hex}{i:08d}", width=48, height=48,
                      source=f"row {i}", split="PublicTest", perceptual_hash=int(hashes[i]))
                 for i in range(start, min(items, start + 5000))]
        made += Item.objects.bulk_create(batch)
    version = ModelVersion.objects.create(name="bench-model", checkpoint="none.pt", classes=list(CLASSES), is_active=True,
                                          config={"trained_on_splits": ["Training"]})
    probs = rng.dirichlet(np.full(k, 0.3), items) * 0.4
    probs[np.arange(items), truth] += 0.6
    for start in tqdm(range(0, items, 5000), desc="predictions", unit="batch"):
        Prediction.objects.bulk_create([
            Prediction(item=made[i], model_version=version, probs=np.round(probs[i], 5).tolist(), label=CLASSES[int(probs[i].argmax())],
                       confidence=float(probs[i].max()))
            for i in range(start, min(items, start + 5000))])
    # Every item gets three answers, the rest go to random items; no annotator answers an item twice.
    accuracy = rng.uniform(0.55, 0.95, annotators)
    accuracy[:10] = 1 / k  # spammers
    extra = int(answers * 1.05) - 3 * items
    item_of = np.r_[np.repeat(np.arange(items), 3), rng.integers(0, items, max(0, extra))]
    annotator_of = rng.integers(0, annotators, len(item_of))
    _, first = np.unique(item_of * annotators + annotator_of, return_index=True)
    keep = np.sort(first)[:answers]
    item_of, annotator_of = item_of[keep], annotator_of[keep]
    correct = rng.random(len(item_of)) < accuracy[annotator_of]
    label_of = np.where(correct, truth[item_of], rng.integers(0, k, len(item_of)))
    labels = list(project.labels)
    for start in tqdm(range(0, len(item_of), 10000), desc="answers", unit="batch"):
        stop = min(len(item_of), start + 10000)
        Annotation.objects.bulk_create([
            Annotation(project=project, item=made[item_of[j]], annotator=users[annotator_of[j]], label=labels[label_of[j]],
                       client_id=uuid.uuid4(), source="bench")
            for j in range(start, stop)])
    counts = np.bincount(item_of, minlength=items)
    for start in range(0, items, 5000):
        Item.objects.bulk_update([_with(made[i], answer_count=int(counts[i])) for i in range(start, min(items, start + 5000))],
                                 ["answer_count"], batch_size=5000)
    return {"project": project.pk, "items": items, "answers": int(len(item_of)), "annotators": annotators}


def _with(obj, **fields):
    for key, value in fields.items():
        setattr(obj, key, value)
    return obj


def measure(project_id: int) -> dict:
    """One analyse job, as the worker runs it, in this (fresh) process."""
    from annotate.models import JobKind, Project, QualityRun
    from annotate.services.jobs import job_run_here

    import ml.quality  # noqa: F401  (imports cleanlab/pandas/sklearn: counted in memory, not in the time)

    t0 = time.perf_counter()
    job = job_run_here(kind=JobKind.ANALYSE, project=Project.objects.get(pk=project_id))
    seconds = time.perf_counter() - t0
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "stages": {k: round(v, 2) for k, v in run.summary["seconds"].items()}, "status": job.status,
            "kappa": run.summary["fleiss_kappa"], "label_issues": run.summary["label_issues"],
            "item_results": run.item_results.count(), "annotator_results": run.annotator_results.count()}


def scaling(annotators: int, *, items: int, answers: int, seed: int = 0) -> dict:
    """ml.quality.analyse alone (no database) on synthetic answers: CROWDLAB works on a dense (N, M) matrix."""
    import ml.quality as mlq

    rng = np.random.default_rng(seed)
    k = 8
    truth = rng.integers(0, k, items)
    item_of = np.r_[np.repeat(np.arange(items), 3), rng.integers(0, items, max(0, int(answers * 1.05) - 3 * items))]
    annotator_of = rng.integers(0, annotators, len(item_of))
    _, first = np.unique(item_of * annotators + annotator_of, return_index=True)
    keep = np.sort(first)[:answers]
    item_of, annotator_of = item_of[keep], annotator_of[keep]
    accuracy = rng.uniform(0.55, 0.95, annotators)
    answer = np.where(rng.random(len(item_of)) < accuracy[annotator_of], truth[item_of], rng.integers(0, k, len(item_of)))
    probs = rng.dirichlet(np.full(k, 0.3), items) * 0.4
    probs[np.arange(items), truth] += 0.6
    t0 = time.perf_counter()
    mlq.analyse(item_of, annotator_of, answer, probs, category_class=np.arange(k), num_annotators=annotators)
    return {"annotators": annotators, "seconds": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'quality_speed.sqlite3'}")
    parser.add_argument("--items", type=int, default=36_000)
    parser.add_argument("--answers", type=int, default=110_000)
    parser.add_argument("--annotators", type=int, default=300)
    parser.add_argument("--scaling", default="100,300,1000,3000", help="annotator counts for the arrays-only scaling check ('' to skip)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: the timed child process
    parser.add_argument("--scale", type=int, help=argparse.SUPPRESS)  # internal: one scaling point
    args = parser.parse_args()
    if args.scale:
        print(json.dumps(scaling(args.scale, items=args.items, answers=args.answers)))
        return
    if args.measure:
        django_setup(args.database_url, fresh=False)
        print(json.dumps(measure(args.measure)))
        return
    t0 = time.perf_counter()
    django_setup(args.database_url, fresh=True)
    made = populate(items=args.items, answers=args.answers, annotators=args.annotators)
    setup_s = time.perf_counter() - t0
    print(f"setup {setup_s:.1f} s; running the analyse job in a fresh process...", flush=True)
    child = subprocess.run([sys.executable, __file__, "--database-url", args.database_url, "--measure", str(made["project"])],
                           capture_output=True, text=True, cwd=ROOT)
    if child.returncode:
        sys.stderr.write(child.stderr)
        raise SystemExit(child.returncode)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    points = []
    for m in [int(x) for x in args.scaling.split(",") if x]:
        print(f"arrays only, {m} annotators...", flush=True)
        child = subprocess.run([sys.executable, __file__, "--scale", str(m), "--items", str(args.items), "--answers", str(args.answers)],
                               capture_output=True, text=True, cwd=ROOT)
        points.append(json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else {"annotators": m, "error": child.stderr[-300:]})
        print(json.dumps(points[-1]), flush=True)
    engine = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    print(json.dumps({"bench": "quality_speed", "database": engine, **made, **result, "cpus": os.cpu_count(),
                      "goal_seconds": 30, "goal_met": result["seconds"] < 30, "setup_seconds": round(setup_s, 1),
                      "analysis_by_annotators": points, "load_average": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
