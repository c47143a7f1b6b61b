"""Quality-run speed: one analyse job end to end on a fresh database (36,000 items, 110,000 answers, 300 annotators).

Run ``python bench/quality_speed.py --database-url postgres://postgres@127.0.0.1:5432/ferlab_bench_quality``
(default: a fresh SQLite file under var/bench) with ``--items N --answers N --annotators N`` for another size,
``--ladder`` for 1x and 10x of that size and #20's goal (1,000,000 / 3,000,000 / 10,000), each on a fresh database,
and ``--dimensions`` to give every answer valence, arousal and the 12 DISFA action units (#18; the project asks for
them, so the run computes their quality and cross-checks). A setup step fills the database (items with perceptual
hashes, one active model version with a prediction per item, answers from annotators of varied accuracy, a few
of them spammers; by COPY on PostgreSQL); then a separate process runs one analyse job exactly as the worker does
(quality_run_execute: database reads, pre-label check, CROWDLAB, ActiveLab, agreement, dimensions, duplicates, the
one-transaction write) and reports its wall time, each stage's seconds and the process's peak resident memory
(getrusage max RSS) when the stage ended. ``--scaling`` times ml.quality.analyse alone (no database) for other
annotator counts. The last line is JSON.

Measured 2026-12-01 20:10 on PostgreSQL, an idle two-core Intel Xeon (AMX): ``--ladder`` 36,000 / 110,000 / 300: 5.4 s,
peak 339 MB; 360,000 / 1,100,000 / 3,000: 50.1 s, 887 MB; 1,000,000 / 3,000,000 / 10,000: 189.5 s, 1,854 MB (read 14.9 s,
analyse 28.7 s, summary 17.1 s, write 127.4 s: the COPY of a million item results and the priority UPDATE of a million
items). Earlier the same day on a Zen 3 shared with other sessions (load 7-12): 16.1 s, 174 s and 499 s.
``--dimensions`` (36,000 faces): 23.3 s, 389 MB (dimensions 3.8 s, write 10.2 s).
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

BASE = (36_000, 110_000, 300)
GOAL = (1_000_000, 3_000_000, 10_000)  # issue #20's quality-run goal: under 10 minutes, under 4 GB
GOAL_SECONDS = {False: 600, True: 30}  # by size: #20's goal at crowd scale, #18's / the original at FER2013's
WRITE_CHUNK = 200_000
# quality_run_execute's stages, in order.
STAGES = ("prelabel", "read", "probabilities", "analyse", "dimensions", "summary", "write")


def _answers(rng, *, items: int, answers: int, annotators: int):
    """Every item gets three answers (when there are enough), the rest go to random items; no annotator answers an
    item twice."""
    extra = int(answers * 1.05) - 3 * items
    item_of = np.r_[np.repeat(np.arange(items), 3), rng.integers(0, items, max(0, extra))]
    annotator_of = rng.integers(0, annotators, len(item_of))
    _, first = np.unique(item_of * annotators + annotator_of, return_index=True)
    keep = np.sort(first)[:answers]
    return item_of[keep], annotator_of[keep]


def _dimension_columns(rng, *, truth, item_of, annotator_of, annotators: int, labels: list[str]) -> dict:
    """Valence, arousal and the 12 DISFA AUs for every answer: AUs around the EMFACS prototype of the face's class,
    some annotators offset in valence, a few who never mark AU12."""
    from ml.action_units import EMFACS_PROTOTYPES, PRESETS
    from ml.cross_checks import EXPECTED_VALENCE

    aus = np.array(PRESETS["disfa"])
    truth_au = rng.random((len(truth), len(aus))) < 0.1
    for index, name in enumerate(labels):
        if name in EMFACS_PROTOTYPES:
            rows = truth == index
            columns = np.isin(aus, EMFACS_PROTOTYPES[name][0])
            truth_au[np.ix_(rows, columns)] |= rng.random((int(rows.sum()), int(columns.sum()))) < 0.8
    sign = np.array([EXPECTED_VALENCE.get(name, 0) for name in labels])[truth]
    valence = np.clip(0.5 * sign + rng.normal(0, 0.3, len(truth)), -1, 1)
    arousal = np.clip(rng.normal(0, 0.4, len(truth)), -1, 1)
    offset = np.where(rng.random(annotators) < 0.05, 0.3, 0.0)
    noise = rng.uniform(0.05, 0.25, annotators)
    a = len(item_of)
    present = (truth_au[item_of] ^ (rng.random((a, len(aus))) < 0.07)).astype(int)
    present[annotator_of % 50 == 0, list(aus).index(12)] = 0
    keys = [str(n) for n in aus]
    return {
        "valence": np.round(np.clip(valence[item_of] + offset[annotator_of] + rng.normal(0, 1, a) * noise[annotator_of],
                                    -1, 1), 3),
        "arousal": np.round(np.clip(arousal[item_of] + rng.normal(0, 1, a) * noise[annotator_of], -1, 1), 3),
        "action_units": [json.dumps(dict(zip(keys, row))) for row in present.tolist()],
        "au_numbers": [int(n) for n in aus],
    }


def populate(*, items: int, answers: int, annotators: int, dimensions: bool = False, seed: int = 0) -> dict:
    """Fill the database (COPY on PostgreSQL, bulk_create elsewhere); returns what was made."""
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from annotate.models import Annotation, Item, Membership, ModelVersion, Prediction, Project, Role
    from ml.config import CLASSES

    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    project = Project.objects.create(name="speed", slug=f"speed-{uuid.uuid4().hex[:6]}", valence_arousal=dimensions)
    labels = list(project.labels)
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"speed-{i}-{uuid.uuid4().hex[:4]}", password="!") for i in range(annotators)],
                                     batch_size=5000)
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users], batch_size=5000)
    user_ids = np.array([u.pk for u in users])
    truth = rng.integers(0, k, items)
    hashes = rng.integers(-2**63, 2**63 - 1, items, dtype=np.int64)
    hashes[1::997] = hashes[0::997][: len(hashes[1::997])] ^ 0b101  # a few near duplicates
    item_of, annotator_of = _answers(rng, items=items, answers=answers, annotators=annotators)
    now = timezone.now()
    index = np.arange(items)
    write = _copy if connection.vendor == "postgresql" else _orm
    write(Item, pd.DataFrame({
        "project_id": project.pk, "image": "", "crop": "bench/none.png", "pixel_hash": "", "reference_label": "",
        "gold_label": "", "content_hash": [f"{uuid.uuid4().hex}{i:08d}" for i in index], "width": 48, "height": 48,
        "source": [f"row {i}" for i in index], "split": "PublicTest", "perceptual_hash": hashes,
        "answer_count": np.bincount(item_of, minlength=items), "created_at": now,
    }))
    item_ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    version = ModelVersion.objects.create(name="bench-model", checkpoint="none.pt", classes=list(CLASSES), is_active=True,
                                          config={"trained_on_splits": ["Training"]})
    probs = rng.dirichlet(np.full(k, 0.3), items) * 0.4
    probs[index, truth] += 0.6
    probs = np.round(probs, 5)
    write(Prediction, pd.DataFrame({
        "item_id": item_ids, "model_version_id": version.pk, "probs": [json.dumps(row) for row in probs.tolist()],
        "label": np.array(CLASSES)[probs.argmax(axis=1)], "confidence": probs.max(axis=1), "created_at": now,
    }))
    accuracy = rng.uniform(0.55, 0.95, annotators)
    accuracy[:10] = 1 / k  # spammers
    correct = rng.random(len(item_of)) < accuracy[annotator_of]
    label_of = np.where(correct, truth[item_of], rng.integers(0, k, len(item_of)))
    frame = pd.DataFrame({
        "project_id": project.pk, "item_id": item_ids[item_of], "annotator_id": user_ids[annotator_of],
        "label": np.array(labels)[label_of], "client_id": [str(uuid.uuid4()) for _ in range(len(item_of))],
        "source": "bench", "created_at": now,
    })
    if dimensions:
        dims = _dimension_columns(rng, truth=truth, item_of=item_of, annotator_of=annotator_of, annotators=annotators,
                                  labels=labels)
        Project.objects.filter(pk=project.pk).update(action_units=dims.pop("au_numbers"))
        frame = frame.assign(**dims)
    write(Annotation, frame)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would soon after a load: the run's queries get real statistics
    return {"project": project.pk, "items": items, "answers": int(len(item_of)), "annotators": annotators,
            "dimensions": dimensions}


def _copy(model, frame) -> None:
    """COPY the frame's rows as CSV chunks, with the model's defaults for the columns it leaves out."""
    import io

    from django.db import connection

    for field in model._meta.concrete_fields:
        if field.column not in frame.columns and not field.primary_key and field.has_default():
            value = field.get_default()
            frame[field.column] = json.dumps(value) if isinstance(value, (dict, list)) else value
    sql = f"COPY {model._meta.db_table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with connection.cursor() as cursor:
        # Foreign-key triggers off while copying (every id is made here, so they hold): the per-row checks
        # cost more than the rows themselves, as in PostgreSQL's bulk-loading advice.
        cursor.execute("SET session_replication_role = replica")
        with cursor.cursor.copy(sql) as copy:
            for start in range(0, len(frame), WRITE_CHUNK):
                buffer = io.StringIO()
                frame.iloc[start:start + WRITE_CHUNK].to_csv(buffer, header=False, index=False, na_rep="\\N")
                copy.write(buffer.getvalue())
        cursor.execute("SET session_replication_role = origin")


def _orm(model, frame) -> None:
    """bulk_create the frame's rows (JSON columns arrive as JSON text, as COPY takes them)."""
    from django.db.models import JSONField

    as_json = [c for c in frame.columns if isinstance(model._meta.get_field(c), JSONField)]
    for start in range(0, len(frame), WRITE_CHUNK):
        records = frame.iloc[start:start + WRITE_CHUNK].to_dict("records")
        for record in records:
            for column in as_json:
                record[column] = json.loads(record[column])
        model.objects.bulk_create([model(**r) for r in records], batch_size=5000)


def measure(project_id: int) -> dict:
    """One analyse job, as the worker runs it, in this (fresh) process."""
    from annotate.models import JobKind, Project, QualityRun
    from annotate.services.jobs import job_run_here

    # A worker imports these once per process, not once per run: counted in memory, not in the time.
    import cleanlab.filter  # noqa: F401
    import cleanlab.multiannotator  # noqa: F401
    import cleanlab.rank  # noqa: F401
    import scipy.stats  # noqa: F401

    import ml.quality  # noqa: F401

    t0 = time.perf_counter()
    job = job_run_here(kind=JobKind.ANALYSE, project=Project.objects.get(pk=project_id))
    seconds = time.perf_counter() - t0
    if job.status != "succeeded":
        raise SystemExit(f"the analyse job {job.status}: {job.error}")
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    checks = run.summary.get("dimensions", {}).get("checks")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "stages": job.result["stages"], "stage_peak_rss_mb": job.result["peak_rss_mb"], "status": job.status,
            "kappa": run.summary["fleiss_kappa"], "label_issues": run.summary["label_issues"],
            "item_results": run.item_results.count(), "annotator_results": run.annotator_results.count(),
            **({"dimension_checks": checks} if checks is not None else {})}


def one_size(database_url: str, size: tuple[int, int, int], *, dimensions: bool) -> dict:
    """Fresh database, populate, then the analyse job in a fresh process; the figures of that size."""
    t0 = time.perf_counter()
    django_setup(database_url, fresh=True)
    made = populate(items=size[0], answers=size[1], annotators=size[2], dimensions=dimensions)
    setup_s = time.perf_counter() - t0
    print(f"{size[0]:,} faces, {made['answers']:,} answers, {size[2]:,} annotators: setup {setup_s:.0f} s; "
          f"running the analyse job in a fresh process...", flush=True)
    child = subprocess.run([sys.executable, __file__, "--database-url", database_url, "--measure", str(made["project"])],
                           capture_output=True, text=True, cwd=ROOT)
    if child.returncode:
        sys.stderr.write(child.stderr[-3000:])
        raise SystemExit(child.returncode)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    for stage in sorted(result["stages"], key=lambda x: STAGES.index(x) if x in STAGES else len(STAGES)):
        seconds = result["stages"][stage]
        print(f"  {stage:<14} {seconds:8.2f} s   peak so far {result['stage_peak_rss_mb'][stage]:8,.0f} MB", flush=True)
    goal = GOAL_SECONDS[size[0] <= BASE[0]]
    print(f"  total {result['seconds']:.1f} s, peak {result['peak_rss_mb']:,.0f} MB (goal {goal} s"
          + (", 4,096 MB" if size[0] > BASE[0] else "") + f"); load average {os.getloadavg()[0]:.2f}", flush=True)
    return {**made, **result, "setup_seconds": round(setup_s, 1), "goal_seconds": goal,
            "goal_met": result["seconds"] < goal and (size[0] <= BASE[0] or result["peak_rss_mb"] < 4096),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def scaling(annotators: int, *, items: int, answers: int, seed: int = 0) -> dict:
    """ml.quality.analyse alone (no database) on synthetic answers."""
    import ml.quality as mlq

    rng = np.random.default_rng(seed)
    k = 8
    truth = rng.integers(0, k, items)
    item_of, annotator_of = _answers(rng, items=items, answers=answers, annotators=annotators)
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
    parser.add_argument("--items", type=int, default=BASE[0])
    parser.add_argument("--answers", type=int, default=BASE[1])
    parser.add_argument("--annotators", type=int, default=BASE[2])
    parser.add_argument("--ladder", action="store_true",
                        help="1x and 10x of the size, then #20's goal, each on a fresh database")
    parser.add_argument("--dimensions", action="store_true",
                        help="every answer with valence-arousal and the 12 DISFA AUs (#18)")
    parser.add_argument("--scaling", default="",
                        help="annotator counts for an arrays-only check, e.g. 100,300,1000,3000")
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
    size = (args.items, args.answers, args.annotators)
    sizes = [size, tuple(10 * x for x in size), GOAL] if args.ladder else [size]
    rows = []
    for step in sizes:
        if not args.ladder:
            rows.append(one_size(args.database_url, step, dimensions=args.dimensions))
            continue
        # Each size in its own process, so the setup's memory and the database connection start afresh.
        command = [sys.executable, __file__, "--database-url", args.database_url, "--items", str(step[0]),
                   "--answers", str(step[1]), "--annotators", str(step[2])]
        command += ["--dimensions"] if args.dimensions else []
        child = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        sys.stdout.write("\n".join(child.stdout.strip().splitlines()[:-1]) + "\n")
        if child.returncode:
            sys.stderr.write(child.stderr[-3000:])
            raise SystemExit(child.returncode)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1])["rows"][0])
    points = []
    for m in [int(x) for x in args.scaling.split(",") if x]:
        child = subprocess.run([sys.executable, __file__, "--scale", str(m), "--items", str(args.items), "--answers", str(args.answers)],
                               capture_output=True, text=True, cwd=ROOT)
        points.append(json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else {"annotators": m, "error": child.stderr[-300:]})
        print(f"arrays only, {m} annotators: {json.dumps(points[-1])}", flush=True)
    engine = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    print(json.dumps({"bench": "quality_speed", "database": engine, "cpus": os.cpu_count(), "rows": rows,
                      "analysis_by_annotators": points}))


if __name__ == "__main__":
    main()
