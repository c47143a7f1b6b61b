"""Dataset versions at full size: freeze, diff and every export format over PostgreSQL.

Run ``python bench/export_speed.py [--postgres URL] [--items 36000] [--answers 300000]``. It seeds the
project bench/dashboard_speed.py builds (items, answers, three quality runs, reviews), gives every face a
real 48x48 crop from data/sample, then times: freezing a version, freezing a second one after 1,000 more
reviews, the diff of the two, and each export format end to end (its job, in this process). Goals: freeze
< 5 s, diff < 2 s, each CSV and the Parquet export < 10 s, the image-folder zip < 30 s, peak memory < 1 GB.
The last line is JSON.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402

GOALS = {"freeze": 5, "diff": 2, "fer2013-csv": 10, "ferplus-csv": 10, "parquet": 10, "imagefolder": 30}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def crops_write(*, n_items: int, media: Path) -> None:
    """Every seeded face gets a stored crop (real sample faces, cycled), where the seed named it."""
    from tqdm import tqdm

    from ml import faces as ml_faces

    with open(ROOT / "data" / "sample" / "fer2013_sample.csv") as fh:
        rows = list(csv.DictReader(fh))
    faces = [ml_faces.png_bytes(ml_faces.parse_fer_pixels(row["pixels"])) for row in rows]
    folder = media / "items" / "crop" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(n_items), desc="crops", unit="face", mininterval=1):
        (folder / f"{i}.png").write_bytes(faces[i % len(faces)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db", default="ferlab_bench_export")
    parser.add_argument("--items", type=int, default=36_000)
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument("--formats", default="", help="comma list (default: every format)")
    args = parser.parse_args()
    media = Path(tempfile.mkdtemp(prefix="ferlab-bench-export-"))
    django_setup(f"{args.postgres}/{args.db}", media=media)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.dashboard_speed import seed

    from annotate.models import ExportFormat, Item, Review
    from annotate.selectors.version_diff import version_diff
    from annotate.services.versions import version_freeze

    t0 = time.perf_counter()
    seeded = seed(n_items=args.items, n_answers=args.answers, n_annotators=args.annotators, rng=np.random.default_rng(0))
    project, lead = seeded["project"], seeded["lead"]
    crops_write(n_items=args.items, media=media)
    log(f"seeded in {time.perf_counter() - t0:.1f}s")
    figures: dict[str, dict] = {}

    t0 = time.perf_counter()
    first, _ = version_freeze(project=project, created_by=lead, name="bench first")
    figures["freeze"] = {"seconds": round(time.perf_counter() - t0, 2), "faces": first.item_count}
    log(f"freeze: {first.item_count} faces in {figures['freeze']['seconds']} s")
    labels = list(project.labels)
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)[1:: max(1, args.items // 1000)])
    Review.objects.bulk_create([Review(item_id=i, reviewer=lead, action="relabel", label=labels[n % 8]) for n, i in enumerate(ids)])
    t0 = time.perf_counter()
    second, _ = version_freeze(project=project, created_by=lead, name="bench second")
    figures["freeze_second"] = {"seconds": round(time.perf_counter() - t0, 2), "faces": second.item_count}
    t0 = time.perf_counter()
    diff = version_diff(old=first, new=second)
    figures["diff"] = {"seconds": round(time.perf_counter() - t0, 2), "label_changed": diff["label_changed"]}
    log(f"diff: {diff['label_changed']} labels changed in {figures['diff']['seconds']} s")

    formats = [f for f in (args.formats.split(",") if args.formats else ExportFormat.values) if f]
    for fmt in formats:
        figures[fmt] = export_timed(version=second, format=fmt, lead=lead)
        log(f"export {fmt}: {figures[fmt]}")

    shutil.rmtree(media, ignore_errors=True)  # 36,000 crops and the exports: ~0.6 GB
    goals_met = {name: figures[name]["seconds"] < goal for name, goal in GOALS.items() if name in figures}
    print(json.dumps({
        "bench": "export_speed", "database": "postgresql", "items": args.items, "answers": args.answers,
        "figures": figures, "peak_rss_mb": peak_mb(), "goals_s": GOALS, "goals_met": goals_met,
        "all_goals_met": all(goals_met.values()) and peak_mb() < 1024, "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))


def export_timed(*, version, format: str, lead) -> dict:
    """One export job of the version in this process: seconds, file size and the process's peak memory so far."""
    from annotate.models import Export, Job
    from annotate.services.exports import export_request
    from annotate.services.jobs import job_run

    t0 = time.perf_counter()
    export = export_request(version=version, format=format, created_by=lead)
    job_run(job_id=export.job_id)  # already run on commit when there is no broker; then this finds it done
    seconds = time.perf_counter() - t0
    export = Export.objects.get(pk=export.pk)
    job = Job.objects.get(pk=export.job_id)
    if job.status != "succeeded":
        raise SystemExit(f"export {format} {job.status}: {job.error}")
    return {"seconds": round(seconds, 2), "mb": round(export.size / 1e6, 1), "peak_rss_mb": peak_mb()}


if __name__ == "__main__":
    main()
