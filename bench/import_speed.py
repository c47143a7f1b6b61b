"""Import speed: a full-size 35,887-row fer2013.csv into a fresh database; the last line is JSON.

Run ``python bench/import_speed.py [--npz PATH]`` from the repository root. The shared npz has
the Training and PublicTest rows only (32,298); the csv is padded to FER2013's full 35,887 rows
by repeating rows with one pixel's lowest bit flipped (Usage PrivateTest), so the padding rows
are exact-hash-new but near duplicates of their originals and the import reports them so.
The csv is written once into var/bench (by a child process, so the import's peak memory is
the import's own). The database is fresh: a new SQLite file under var/bench, or, when
DATABASE_URL points at PostgreSQL, a database `<its name>_bench_import` created and dropped here (so two
checkouts with their own databases can run it at once).

``--rows N`` writes and imports an N-row csv instead (the same faces repeated, each copy with another single pixel's
lowest bit flipped: new to the exact-duplicate check, a near duplicate of its original). ``--ladder`` runs 1x, 10x
and 30x FER2013's 35,887 rows, each in a fresh process, and prints how time and peak memory grow.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_NPZ = "../shared/datasets/fer2013_ferplus_trainval.npz"
FULL_ROWS = 35_887
BENCH_DIR = ROOT / "var" / "bench"


def write_csv(npz: str, out: Path, rows: int = FULL_ROWS) -> int:
    """Write fer2013.csv from the npz (padded to `rows`); returns the number of padding rows."""
    import numpy as np

    with np.load(npz, allow_pickle=False) as z:
        images, usage, labels = z["images"], z["usage"].astype(str), z["fer2013_label"]
    pad = max(0, rows - len(images))
    numbers = np.array([str(i) for i in range(256)], dtype=object)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for i in range(len(images)):
            writer.writerow([int(labels[i]), " ".join(numbers[images[i].ravel()]), usage[i]])
        for i in range(pad):
            pixels = images[i % len(images)].copy()
            copy = i // len(images)  # the copy number picks the pixel: every padding row is a new exact hash
            pixels[24 + copy // 48, (24 + copy) % 48] ^= 1
            writer.writerow([int(labels[i % len(images)]), " ".join(numbers[pixels.ravel()]), "PrivateTest"])
    tmp.rename(out)
    return pad


def fresh_database() -> tuple[str, callable]:
    """A DATABASE_URL for an empty database, and a function that removes it afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(url)
        admin = urlunparse(parsed._replace(path="/postgres"))
        name = f"{parsed.path.strip('/') or 'ferlab'}_bench_import"

        def run(sql: str) -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql)

        run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        run(f"CREATE DATABASE {name}")
        return urlunparse(parsed._replace(path=f"/{name}")), lambda: run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    path = BENCH_DIR / f"import-{os.getpid()}.sqlite3"
    return f"sqlite:///{path}", lambda: [p.unlink(missing_ok=True) for p in BENCH_DIR.glob(f"{path.name}*")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default=DEFAULT_NPZ, help=f"shared FER data (default {DEFAULT_NPZ}, from the repo root)")
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help=f"rows in the csv (default {FULL_ROWS:,})")
    parser.add_argument("--ladder", action="store_true", help="1x, 10x and 30x the full csv, each in a fresh process")
    parser.add_argument("--write-csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    npz = str((ROOT / args.npz).resolve()) if not os.path.isabs(args.npz) else args.npz
    if args.write_csv:
        print(write_csv(npz, Path(args.write_csv), args.rows))
        return
    if args.ladder:
        ladder(args.npz)
        return

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    csv_path = BENCH_DIR / ("fer2013.csv" if args.rows == FULL_ROWS else f"fer2013-{args.rows}.csv")
    if not csv_path.exists():
        print(f"writing {csv_path} from {npz} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--npz", npz, "--rows", str(args.rows), "--write-csv", str(csv_path)],
                       check=True)
    import numpy as np

    with np.load(npz, allow_pickle=False) as z:
        pad = max(0, args.rows - len(z["row"]))

    database_url, drop = fresh_database()
    media = BENCH_DIR / f"media-{os.getpid()}"
    os.environ.update(DATABASE_URL=database_url, FERLAB_MEDIA_ROOT=str(media), DJANGO_SETTINGS_MODULE="server.settings.base")
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from tqdm import tqdm

    from annotate.services.imports import items_import
    from annotate.services.projects import project_create

    try:
        call_command("migrate", verbosity=0)
        project = project_create(name="Import benchmark", slug="bench-import")
        bar = tqdm(total=0, unit="row", desc="import", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        started = time.perf_counter()
        report = items_import(project=project, path=str(csv_path), progress=progress)
        seconds = time.perf_counter() - started
        bar.close()
        vendor = connection.vendor
        connection.close()
    finally:
        drop()
        shutil.rmtree(media, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "bench": "import_speed", "database": vendor, "seconds": round(seconds, 2), "rows": report.seen,
        "rows_imported": report.imported, "duplicates": report.counts["duplicates"],
        "near_duplicates": report.counts["near_duplicates"], "skipped": report.counts["skipped"],
        "padded_rows": pad, "peak_memory_mb": round(peak_mb, 1), "cores": os.cpu_count(),
        "rows_per_s": round(report.seen / seconds), "load_average": round(os.getloadavg()[0], 1),  # what else ran slows it
        "under_60s": seconds < 60, "under_1gb": peak_mb < 1024,
    }))


def ladder(npz: str) -> None:
    rows = []
    for factor in (1, 10, 30):
        out = subprocess.run([sys.executable, __file__, "--npz", npz, "--rows", str(FULL_ROWS * factor)],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        r = rows[-1]
        print(f"{r['rows']:>10,} rows: {r['seconds']:8.1f} s ({r['rows'] / r['seconds']:,.0f} rows/s), peak {r['peak_memory_mb']:,.0f} MB, "
              f"{r['near_duplicates']:,} near duplicates reported, load average {r['load_average']}", flush=True)
    print(json.dumps({"bench": "import_speed_ladder", "rows": rows}))


if __name__ == "__main__":
    main()
