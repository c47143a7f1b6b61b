"""Curation gain: does a curated dataset version train a better expression model than the labels it started from?

Run ``python bench/curation_gain.py --npz /work/shared/datasets/fer2013_ferplus_trainval.npz [--epochs N]``.
Everything goes through FERLab's own services, as a lead would, in a fresh database of its own:

1. import the Training and PublicTest rows as a fer2013.csv with each original FER2013 label as one annotator's
   answer, then their FER+ votes as ten crowd answers (the import service, ``labels_as_answers`` and
   ``votes_as_answers``);
2. one quality run (the analyse job: CROWDLAB consensus over the eleven answers; the shipped model trained on
   the Training rows, so those faces get cross-validated probabilities);
3. freeze (a) a version whose labels are FER2013's originals (policy ``labels_from: annotator:fer2013``, the
   account the originals were imported as) and (b) the
   curated version (the default policy: the crowd's consensus);
4. choose PublicTest as the project's evaluation set, and train the same recipe through the training job
   (``manage.py train_model``) on (a) with hard labels, (b) with hard labels and (b) with soft labels (the
   vote distributions);
5. score each on PublicTest against the FER+ ten-vote majority (ml.labels.majority_labels, FER+'s own rule; the
   registry's evaluation of each model, read back face by face).

Reports the three accuracies, the gains over (a), the answers and seconds of each step, and each model's training
time. ``--epochs`` shortens the recipe (default: its 60). The last line is JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402

PROJECT = "FER2013 curation gain"
FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def write_csvs(work: Path, data, rows: np.ndarray) -> tuple[Path, Path]:
    """fer2013.csv and fer2013new.csv (FER+), row-aligned, for the chosen rows."""
    fer, plus = work / "fer2013.csv", work / "fer2013new.csv"
    with open(fer, "w") as f, open(plus, "w") as g:
        f.write("emotion,pixels,Usage\n")
        g.write(FERPLUS_HEADER)
        for i in rows.tolist():
            use = str(data["usage"][i])
            f.write(f"{int(data['fer2013_label'][i])},{' '.join(map(str, data['images'][i].reshape(-1).tolist()))},{use}\n")
            g.write(f"{use},{data['ferplus_image_name'][i]},{','.join(str(int(v)) for v in data['ferplus_votes'][i])}\n")
    return fer, plus


def import_and_analyse(args, work: Path, data: dict, rows: np.ndarray, lead, step):
    """Import the rows (FER2013 labels and FER+ votes as answers) into a new project; one quality run; the run."""
    from tqdm import tqdm

    from annotate.models import JobKind, QualityRun
    from annotate.services import quality_inputs
    from annotate.services.imports import items_import
    from annotate.services.jobs import job_run_here
    from annotate.services.projects import project_create

    fer_csv, plus_csv = write_csvs(work, data, rows)
    project = project_create(name=PROJECT, created_by=lead)
    for name, path, options in (("import fer2013", fer_csv, {"format": "fer2013", "labels_as_answers": True}),
                                ("import ferplus votes", plus_csv, {"format": "ferplus", "votes_as_answers": True})):
        t0 = time.perf_counter()
        bar = tqdm(total=len(rows), desc=name, unit="row")
        report = items_import(project=project, path=str(path), progress=lambda done, total: bar.update(done - bar.n), **options)
        bar.close()
        if report.error:
            raise SystemExit(f"{name}: {report.error}")
        step(name, t0, imported=report.imported, updated=report.updated, answers=report.answers, **report.counts)

    t0 = time.perf_counter()
    params = {"crossval_budget_s": args.crossval_budget} if args.crossval_budget else {}
    if args.limit:  # a quick look has too few Training faces for the default cross-validation minimum
        quality_inputs.CROSSVAL_MIN_ITEMS = min(quality_inputs.CROSSVAL_MIN_ITEMS, 100)
    print("quality run...", file=sys.stderr, flush=True)
    job = job_run_here(kind=JobKind.ANALYSE, project=project, params=params)
    if job.status != "succeeded":
        raise SystemExit(f"quality run failed: {job.error}")
    run = QualityRun.objects.get(pk=job.result["quality_run"])
    step("quality run", t0, answers=run.annotation_count, probability_source=run.probability_source)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default="/work/shared/datasets/fer2013_ferplus_trainval.npz")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ferlab_bench_curation")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    parser.add_argument("--limit", type=int, help="only the first N rows of each split (a quick look)")
    parser.add_argument("--crossval-budget", type=float, default=None, help="seconds for the quality run's cross-validation")
    parser.add_argument("--reuse", action="store_true",
                        help="keep an earlier run's database, with its import and quality run, and train again")
    args = parser.parse_args()
    started = time.perf_counter()
    work = ROOT / "var" / "bench" / "curation_gain"
    work.mkdir(parents=True, exist_ok=True)
    django_setup(args.database_url, media=work / "media", fresh=not args.reuse)

    from django.core.management import call_command

    from annotate.models import Annotation, Item, Job, JobKind, JobStatus, ModelEvaluation, Project, QualityRun
    from annotate.services.imports_fer import FER2013_ANNOTATOR
    from annotate.services.projects import user_ensure
    from annotate.services.registry import registry_evaluate
    from annotate.services.versions import version_freeze
    from ml.labels import majority_labels

    with np.load(args.npz) as z:  # read each array once (indexing an NpzFile reads the member again every time)
        data = {k: z[k] for k in ("images", "usage", "fer2013_label", "ferplus_votes", "ferplus_image_name")}
    rows = np.concatenate([np.flatnonzero(data["usage"] == split)[: args.limit] for split in ("Training", "PublicTest")])
    steps: dict[str, dict] = {}

    def step(name: str, t0: float, **extra) -> None:
        steps[name] = {"seconds": round(time.perf_counter() - t0, 1), **extra}
        print(f"{name}: {steps[name]}", file=sys.stderr, flush=True)

    lead = user_ensure(username="bench-lead", password="bench-lead-pw", is_superuser=True)
    project = Project.objects.filter(name=PROJECT).order_by("-id").first() if args.reuse else None
    run = QualityRun.objects.filter(project=project).order_by("-id").first() if project else None
    if run is not None:
        print(f"reusing project {project.pk} and its quality run {run.pk}", file=sys.stderr, flush=True)
        Job.objects.filter(project=project, kind=JobKind.TRAIN, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=JobStatus.FAILED, error="the benchmark was restarted")
        steps["reused"] = {"project": project.pk, "quality_run": run.pk}
    else:
        run = import_and_analyse(args, work, data, rows, lead, step)
        project = run.project

    versions = {}
    for key, policy in (("original", {"labels_from": f"annotator:{FER2013_ANNOTATOR}"}), ("curated", {})):
        t0 = time.perf_counter()
        version, _ = version_freeze(project=project, policy=policy, name=f"{key} labels", created_by=lead)
        versions[key] = version
        step(f"freeze {key}", t0, faces=version.item_count, sha256=version.sha256[:12])

    t0 = time.perf_counter()
    project.evaluation_set = {"kind": "split", "split": "PublicTest"}
    project.save(update_fields=["evaluation_set"])
    registry_evaluate(project=project)
    step("evaluation set", t0)

    # FER+ majority per imported face, from the shared data itself (not from the answers in the database).
    source_rows = dict(Item.objects.filter(project=project).values_list("id", "source_row"))
    truth_all, keep_all = majority_labels(data["ferplus_votes"][rows])
    models = {}
    for key, version_key, targets in (("a_original_hard", "original", "hard"), ("b_curated_hard", "curated", "hard"),
                                      ("c_curated_soft", "curated", "soft")):
        t0 = time.perf_counter()
        argv = ["train_model", "--version", str(versions[version_key].pk), "--targets", targets]
        if args.epochs:
            argv += ["--epochs", str(args.epochs)]
        out = io.StringIO()
        with redirect_stdout(out):
            call_command(*argv, stdout=out)
        line = json.loads(out.getvalue().strip().splitlines()[-1])
        project.refresh_from_db()
        evaluation = ModelEvaluation.objects.get(model_version_id=line["model_version"], project=project,
                                                 evaluation_sha256=project.evaluation_set["sha256"])
        p = evaluation.predictions
        positions = np.array([source_rows[i] for i in p["item_ids"]], dtype=np.int64)
        keep = keep_all[positions]
        correct = np.asarray(p["predicted"])[keep] == truth_all[positions][keep]
        models[key] = {
            "dataset_version": versions[version_key].number, "targets": targets,
            "accuracy_ferplus_majority": round(float(correct.mean()), 4), "faces": int(keep.sum()),
            "registry_accuracy_majority": line["evaluation"]["accuracy_majority"],
            "registry_accuracy_final": line["evaluation"]["accuracy_final"], "macro_f1": line["evaluation"]["macro_f1"],
            "ece": line["evaluation"]["ece"], "train_faces": line["train_faces"], "epochs": line["epochs_run"],
            "train_seconds": line["train_seconds"], "model_version": line["model_version"],
        }
        step(f"train {key}", t0, accuracy=models[key]["accuracy_ferplus_majority"], train_seconds=line["train_seconds"])

    base = models["a_original_hard"]["accuracy_ferplus_majority"]
    print(json.dumps({
        "bench": "curation_gain", "faces": int(len(rows)), "items": Item.objects.filter(project=project).count(),
        "answers": Annotation.objects.filter(project=project).count(), "epochs": models["a_original_hard"]["epochs"],
        "models": models,
        "gain_curated_hard": round(models["b_curated_hard"]["accuracy_ferplus_majority"] - base, 4),
        "gain_curated_soft": round(models["c_curated_soft"]["accuracy_ferplus_majority"] - base, 4),
        "versions": {k: {"number": v.number, "faces": v.item_count, "sha256": v.sha256[:12]} for k, v in versions.items()},
        "steps": steps, "seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
