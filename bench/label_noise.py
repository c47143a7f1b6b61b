"""Label noise: does a quality run find FER2013's wrong labels? Scored against the FER+ crowd majority.

Run ``python bench/label_noise.py --npz /work/shared/datasets/fer2013_ferplus_trainval.npz``.
It writes the PublicTest rows as a fer2013.csv, imports them into a fresh database with FERLab's import
service (``labels_as_answers``: each original FER2013 label becomes one answer), runs one analyse job as
the worker would (pre-labelling with the shipped model, which never trained on PublicTest, then
cleanlab's single-label quality score and confident-learning flags), and scores the ranking: a FER2013
label is wrong when it differs from the FER+ majority (ml.labels.majority_labels: FER+'s own rule, a
class with more than half of the votes once single votes are dropped; faces without one, or whose
majority is unknown / not a face, are left out). Reports AUROC of (1 - label quality), precision in the
top 500 and 1,000, and precision and recall of the flagged set. The last line is JSON.

Two models' rankings differ by little, so whether one "drops" needs an interval, not two figures: run one
with ``--save-scores a.npz`` and the other with ``--compare a.npz``, which adds the differences (this run
minus a) with a paired bootstrap 95% interval over the faces (``ml.evaluate.ranking_difference``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402


def fer2013_csv(path: Path, images: np.ndarray, labels: np.ndarray, usage: np.ndarray) -> None:
    with open(path, "w") as f:
        f.write("emotion,pixels,Usage\n")
        for image, label, use in zip(images, labels, usage):
            f.write(f"{int(label)},{' '.join(map(str, image.reshape(-1).tolist()))},{use}\n")


def flag_figures(wrong: np.ndarray, score: np.ndarray, flagged: np.ndarray) -> dict:
    """wrong, flagged: bool (n,); score: float (n,), higher = more likely wrong."""
    from ml.evaluate import ranking_figures

    figures = {name: round(value, 4) for name, value in ranking_figures(wrong, score).items()}
    figures["flagged"] = int(flagged.sum())
    figures["recall_at_flagged"] = round(float(flagged[wrong].mean()), 4)
    figures["precision_at_flagged"] = round(float(wrong[flagged].mean()), 4) if flagged.any() else None
    return figures


def compare_with(path: str, rows: np.ndarray, wrong: np.ndarray, score: np.ndarray) -> dict:
    """This run's ranking against one saved by --save-scores (the baseline, a), on the faces both scored."""
    from ml.evaluate import ranking_difference

    saved = np.load(path)
    common, mine, theirs = np.intersect1d(rows, saved["row"], return_indices=True)
    if not len(common):
        raise SystemExit(f"{path} holds none of this run's faces")
    if not np.array_equal(wrong[mine], saved["wrong"][theirs]):
        raise SystemExit(f"{path} was scored against other truth for the same faces")
    return {"baseline": str(path), "baseline_model": str(saved["model"]),
            **ranking_difference(wrong[mine], saved["score"][theirs], score[mine])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default="/work/shared/datasets/fer2013_ferplus_trainval.npz")
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'label_noise.sqlite3'}")
    parser.add_argument("--model", help="checkpoint (default: settings.FERLAB_MODEL_PATH, the shipped model)")
    parser.add_argument("--split", default="PublicTest")
    parser.add_argument("--limit", type=int, help="only the first N rows (a quick look)")
    parser.add_argument("--save-scores", metavar="NPZ", help="write each face's ranking score, for a later --compare")
    parser.add_argument("--compare", metavar="NPZ", help="a --save-scores file of another model: the differences in "
                        "AUROC and precision@k, with a paired bootstrap 95%% interval")
    args = parser.parse_args()
    started = time.perf_counter()
    work = ROOT / "var" / "bench" / "label_noise"
    work.mkdir(parents=True, exist_ok=True)
    if args.model:
        os.environ["FERLAB_MODEL_PATH"] = str(Path(args.model).resolve())
    django_setup(args.database_url, media=work / "media")

    from tqdm import tqdm

    from annotate.models import JobKind, QualityItemResult, QualityRun
    from annotate.services.imports import items_import
    from annotate.services.jobs import job_run_here
    from annotate.services.model_versions import model_version_ensure_default
    from annotate.services.prelabel import predictions_create
    from annotate.services.projects import project_create, user_ensure
    from ml.config import FER2013_TO_FERPLUS
    from ml.labels import majority_labels

    data = np.load(args.npz)
    rows = np.flatnonzero(data["usage"] == args.split)[: args.limit]
    csv_path = work / "fer2013.csv"
    fer_labels = data["fer2013_label"][rows]
    fer2013_csv(csv_path, data["images"][rows], fer_labels, data["usage"][rows])
    lead = user_ensure(username="bench-lead", password="bench-lead-pw", is_superuser=True)
    project = project_create(name="FER2013 label noise", created_by=lead)

    bar = tqdm(total=len(rows), desc="import", unit="face")
    report = items_import(project=project, path=str(csv_path), format="fer2013", labels_as_answers=True,
                          progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    if report.error:
        raise SystemExit(report.error)
    version = model_version_ensure_default()
    bar = tqdm(total=len(rows), desc="prelabel", unit="face")
    predictions_create(project=project, model_version=version, on_batch=lambda done, total: bar.update(done - bar.n))
    bar.close()

    print("quality run...", flush=True)
    job = job_run_here(kind=JobKind.ANALYSE, project=project)
    if job.status != "succeeded":
        raise SystemExit(f"quality run failed: {job.error}")
    run = QualityRun.objects.get(pk=job.result["quality_run"])

    results = list(QualityItemResult.objects.filter(run=run)
                   .values_list("item__source_row", "label_quality", "label_issue"))
    source_row = np.array([r[0] for r in results])
    quality = np.array([r[1] for r in results], dtype=float)
    flagged = np.array([r[2] for r in results], dtype=bool)
    truth, keep = majority_labels(data["ferplus_votes"][rows][source_row])
    given = np.asarray(FER2013_TO_FERPLUS)[fer_labels[source_row]]
    wrong = (given != truth)[keep]
    score, scored_rows = 1 - quality[keep], rows[source_row][keep]
    figures = flag_figures(wrong, score, flagged[keep])
    if args.save_scores:
        np.savez(args.save_scores, row=scored_rows, score=score, wrong=wrong, model=run.model_version.name)
    if args.compare:
        figures["compare"] = compare_with(args.compare, scored_rows, wrong, score)
    print(json.dumps({
        "bench": "label_noise", "split": args.split, "faces": int(len(rows)), "items": len(results),
        "evaluated": int(keep.sum()), "wrong_share": round(float(wrong.mean()), 4), **figures,
        "goal_auroc": 0.9, "goal_met": figures["auroc"] >= 0.9, "probability_source": run.probability_source,
        "model": run.model_version.name, "model_sha256": run.model_version.sha256[:12],
        "run_seconds": job.result.get("seconds"), "seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
