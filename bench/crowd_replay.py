"""Crowd replay: the real FER+ crowd answers through FERLab's assignment and analysis services.

Run ``python bench/crowd_replay.py --npz /work/shared/datasets/fer2013_ferplus_trainval.npz``.
The PublicTest faces are imported into a fresh database; a pool of annotator accounts then asks the
assignment service for work (``assignments_lease``) and answers through ``annotation_submit``. Whenever an
honest annotator is served face i it answers one of that face's real FER+ votes, drawn without
replacement (each draw is a real person's answer); spammers answer uniformly at random; biased annotators
draw a real vote but answer neutral for most sadness, fear and anger (``--bias``; sadness alone moves only a few
percent of their answers, about what sampling noise moves an honest annotator's accuracy, so not even the true
accuracy would rank them last). Consensus is scored against the full ten-vote FER+
majority (ml.labels.majority_labels; faces without a majority are left out).

Two projects, same pool:
- fixed overlap: k = 1, 2, 3 answers per face (the project's overlap target), scored after each round with
  majority vote over the answers and with a quality run's CROWDLAB consensus;
- ActiveLab: k = 1, then rounds in which the faces with the highest priority (written into Item.priority
  by the quality run, 1 - ActiveLab score) are asked for one more answer (the lead's "request more answers",
  Item.extra_answers), a batch of ``--batch`` faces per round, each round followed by a quality run. No face
  gets more than ``--cap`` (3, the fixed design's k) answers: without a cap ActiveLab sinks answers into faces
  that are ambiguous for people too (no FER+ majority), and the single-answer faces it leaves are where
  consensus errors are (measured: 27% fewer answers to match k=3 majority vote uncapped, 47% with cap 3).
Also the Spearman correlation between the estimated annotator quality (QualityAnnotatorResult.quality: CROWDLAB's
times 1 - bias, see ml.annotator_bias; ``*_crowdlab`` figures use CROWDLAB's alone) and the true one (accuracy
against the ten-vote majority), how many injected spammers / biased ids rank at the bottom, and whether the biased
ids' recorded bias (bias_from -> bias_to) names a biased class turned into neutral. Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402
ANSWERS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "not_a_face")
NEUTRAL = 0


class Crowd:
    """Who answers what: real FER+ votes drawn without replacement, plus injected spammers and biased ids."""

    def __init__(self, votes: np.ndarray, *, honest: int, spammers: int, biased: int, seed: int, bias: tuple[int, ...]):
        self.votes = votes.astype(np.int64)
        self.bias = bias
        self.rng = np.random.default_rng(seed)
        self.kinds = ["honest"] * honest + ["spammer"] * spammers + ["biased"] * biased
        self.remaining: dict[tuple[int, int], np.ndarray] = {}

    def answer(self, project_key: int, annotator: int, row: int) -> int:
        kind = self.kinds[annotator]
        if kind == "spammer":
            return int(self.rng.integers(len(ANSWERS)))
        left = self.remaining.setdefault((project_key, row), self.votes[row].copy())
        pool = left if left.sum() else self.votes[row]  # a face asked more often than it has votes: draw again
        answer = int(self.rng.choice(len(ANSWERS), p=pool / pool.sum()))
        if left.sum():
            left[answer] -= 1
        if kind == "biased" and answer in self.bias and self.rng.random() < 0.9:
            return NEUTRAL
        return answer


def replay(*, project, members, crowd: Crowd, row_of: dict, bar) -> int:
    """Annotators, in random order, lease a face and answer it until nobody has work; returns answers given."""
    from annotate.services.annotations import annotation_submit
    from annotate.services.assignments import assignments_lease

    done, idle = 0, set()
    order = random.Random(project.pk * 7919 + bar.n)
    while len(idle) < len(members):
        index = order.choice([i for i in range(len(members)) if i not in idle])
        lease = assignments_lease(membership=members[index], count=5)
        if not lease.assignments:
            idle.add(index)
            continue
        for assignment in lease.assignments:
            label = ANSWERS[crowd.answer(project.pk, index, row_of[assignment.item_id])]
            annotation_submit(annotator=members[index].user, assignment_id=assignment.pk, client_id=uuid.uuid4(),
                              label=label, source="replay")
            done += 1
            bar.update(1)
    return done


def analyse(project) -> "QualityRun":  # noqa: F821
    from annotate.models import JobKind, QualityRun
    from annotate.services.jobs import job_run_here

    job = job_run_here(kind=JobKind.ANALYSE, project=project)
    if job.status != "succeeded":
        raise SystemExit(f"quality run failed: {job.error}")
    return QualityRun.objects.get(pk=job.result["quality_run"])


def score(project, run, *, truth: dict, rng: np.random.Generator) -> dict:
    """Agreement with the ten-vote majority of majority vote (ties broken at random) and of the run's consensus."""
    from annotate.models import Annotation, QualityItemResult

    counts: dict[int, np.ndarray] = {}
    for item_id, label in Annotation.objects.filter(project=project, replaced_by__isnull=True).values_list("item_id", "label"):
        counts.setdefault(item_id, np.zeros(len(ANSWERS)))[ANSWERS.index(label)] += 1
    majority = {i: int(np.flatnonzero(c == c.max())[rng.integers((c == c.max()).sum())]) for i, c in counts.items()}
    consensus = dict(QualityItemResult.objects.filter(run=run).values_list("item_id", "consensus_label"))
    ids = list(truth)
    return {
        "answers": Annotation.objects.filter(project=project).count(),
        "majority_vote": round(float(np.mean([majority.get(i, -1) == truth[i] for i in ids])), 4),
        "crowdlab": round(float(np.mean([consensus.get(i, "") == ANSWERS[truth[i]] for i in ids])), 4),
    }


def annotator_ranking(project, run, *, members, crowd: Crowd, truth: dict) -> dict:
    """Spearman between the run's annotator quality and true accuracy; injected ids among the lowest."""
    from scipy.stats import spearmanr

    from annotate.models import Annotation, QualityAnnotatorResult

    estimated = dict(QualityAnnotatorResult.objects.filter(run=run).values_list("annotator_id", "quality"))
    crowdlab = dict(QualityAnnotatorResult.objects.filter(run=run).values_list("annotator_id", "crowdlab_quality"))
    worst = dict(QualityAnnotatorResult.objects.filter(run=run).values_list("annotator_id", "worst_class"))
    bias = {u: (b or 0.0, f, t) for u, b, f, t in QualityAnnotatorResult.objects.filter(run=run).values_list(
        "annotator_id", "bias", "bias_from", "bias_to")}
    right: dict[int, list[bool]] = {}
    for user_id, item_id, label in Annotation.objects.filter(project=project).values_list("annotator_id", "item_id", "label"):
        if item_id in truth:
            right.setdefault(user_id, []).append(ANSWERS.index(label) == truth[item_id])
    users = [m.user_id for m in members]
    est = np.array([estimated.get(u) if estimated.get(u) is not None else np.nan for u in users], dtype=float)
    true = np.array([np.mean(right.get(u, [np.nan])) for u in users])
    ok = np.isfinite(est) & np.isfinite(true)
    injected = [i for i, kind in enumerate(crowd.kinds) if kind != "honest"]
    bottom = set(np.argsort(np.where(ok, est, np.inf))[: len(injected)].tolist())
    est_crowdlab = np.array([crowdlab.get(u) if crowdlab.get(u) is not None else np.nan for u in users], dtype=float)
    ok_crowdlab = np.isfinite(est_crowdlab) & np.isfinite(true)
    bottom_crowdlab = set(np.argsort(np.where(ok_crowdlab, est_crowdlab, np.inf))[: len(injected)].tolist())
    true_bottom = set(np.argsort(np.where(ok, true, np.inf))[: len(injected)].tolist())
    biased_classes = {ANSWERS[b] for b in crowd.bias}
    cells = [bias.get(u, (0.0, "", "")) for u in users]
    found = [b > 0 and f in biased_classes and t == ANSWERS[NEUTRAL] for b, f, t in cells]
    worst_in_bias = [worst.get(u, "") in biased_classes for u in users]
    return {"spearman": round(float(spearmanr(est[ok], true[ok]).statistic), 4), "injected": len(injected),
            # A class-specific bias shows in the annotator's worst class more than in one overall score.
            "biased_worst_class_in_bias": int(sum(w for w, k in zip(worst_in_bias, crowd.kinds) if k == "biased")),
            "honest_worst_class_in_bias_share": round(float(np.mean([w for w, k in zip(worst_in_bias, crowd.kinds) if k == "honest"])), 4),
            "injected_in_bottom": len(bottom & set(injected)), "injected_in_true_bottom": len(true_bottom & set(injected)),
            "spearman_crowdlab": round(float(spearmanr(est_crowdlab[ok_crowdlab], true[ok_crowdlab]).statistic), 4),
            "injected_in_bottom_crowdlab": len(bottom_crowdlab & set(injected)),
            # The recorded bias cell: a biased id's should read "<a biased class> -> neutral"; an honest id's is mostly empty.
            "biased_bias_found": int(sum(f for f, k in zip(found, crowd.kinds) if k == "biased")),
            "honest_with_bias_share": round(float(np.mean([c[0] > 0 for c, k in zip(cells, crowd.kinds) if k == "honest"])), 4),
            "bias_biased_mean": round(float(np.mean([c[0] for c, k in zip(cells, crowd.kinds) if k == "biased"])), 4),
            "bias_honest_max": round(float(max(c[0] for c, k in zip(cells, crowd.kinds) if k == "honest")), 4),
            "true_accuracy_honest_mean": round(float(np.nanmean(true[[k == "honest" for k in crowd.kinds]])), 4),
            "true_accuracy_biased_mean": round(float(np.nanmean(true[[k == "biased" for k in crowd.kinds]])), 4),
            "quality_honest_mean": round(float(np.nanmean(est[[k == "honest" for k in crowd.kinds]])), 4),
            "quality_spammer_mean": round(float(np.nanmean(est[[k == "spammer" for k in crowd.kinds]])), 4),
            "quality_biased_mean": round(float(np.nanmean(est[[k == "biased" for k in crowd.kinds]])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default="/work/shared/datasets/fer2013_ferplus_trainval.npz")
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'crowd_replay.sqlite3'}")
    parser.add_argument("--model", help="checkpoint (default: settings.FERLAB_MODEL_PATH, the shipped model)")
    parser.add_argument("--limit", type=int, help="only the first N PublicTest faces (a quick look)")
    parser.add_argument("--honest", type=int, default=40)
    parser.add_argument("--spammers", type=int, default=4)
    parser.add_argument("--biased", type=int, default=4)
    parser.add_argument("--bias", default="sadness,fear,anger", help="answers a biased annotator turns into neutral (90%%)")
    parser.add_argument("--batch", type=float, default=0.1, help="faces asked for one more answer per ActiveLab round, share of all")
    parser.add_argument("--max-per-face", type=float, default=2.4, help="stop ActiveLab at this many answers per face")
    parser.add_argument("--cap", type=int, default=3, help="ActiveLab never asks a face for more answers than this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    work = ROOT / "var" / "bench" / "crowd_replay"
    work.mkdir(parents=True, exist_ok=True)
    if args.model:
        os.environ["FERLAB_MODEL_PATH"] = str(Path(args.model).resolve())
    django_setup(args.database_url, media=work / "media")

    from django.db.models import F
    from tqdm import tqdm

    from annotate.models import Item, Membership, Role
    from annotate.services.imports import items_import
    from annotate.services.model_versions import model_version_ensure_default
    from annotate.services.prelabel import predictions_create
    from annotate.services.projects import membership_set, project_create, user_ensure
    from ml.labels import majority_labels

    random.seed(args.seed)
    data = np.load(args.npz)
    rows = np.flatnonzero(data["usage"] == "PublicTest")[: args.limit]
    votes = data["ferplus_votes"][rows]
    csv_path = work / "faces.csv"
    with open(csv_path, "w") as f:  # pixels only: the replay brings the labels
        f.write("pixels,Usage\n")
        for image in data["images"][rows]:
            f.write(f"{' '.join(map(str, image.reshape(-1).tolist()))},PublicTest\n")
    crowd = Crowd(votes, honest=args.honest, spammers=args.spammers, biased=args.biased, seed=args.seed,
                  bias=tuple(ANSWERS.index(b) for b in args.bias.split(",")))
    lead = user_ensure(username="bench-lead", password="bench-lead-pw", is_superuser=True)
    people = [user_ensure(username=f"crowd-{i:02d}-{kind}", password="crowd-pw-123") for i, kind in enumerate(crowd.kinds)]
    version = model_version_ensure_default()
    majority, keep = majority_labels(votes)

    projects = {}
    for name in ("fixed", "activelab"):
        project = project_create(name=f"replay {name}", created_by=lead, overlap_target=1, gold_rate=0.0)
        report = items_import(project=project, path=str(csv_path), format="fer2013")
        if report.error:
            raise SystemExit(report.error)
        members = [membership_set(project=project, user=p, role=Role.ANNOTATOR) for p in people]
        members = list(Membership.objects.filter(pk__in=[m.pk for m in members]).select_related("project", "user").order_by("user_id"))
        members.sort(key=lambda m: people.index(m.user))
        row_of = dict(Item.objects.filter(project=project).values_list("id", "source_row"))
        truth = {item_id: int(majority[r]) for item_id, r in row_of.items() if keep[r]}
        bar = tqdm(total=len(row_of), desc=f"prelabel {name}", unit="face")
        predictions_create(project=project, model_version=version, on_batch=lambda d, t: bar.update(d - bar.n))
        bar.close()
        projects[name] = (project, members, row_of, truth)

    rng = np.random.default_rng(args.seed)
    curves: dict[str, list[dict]] = {"fixed": [], "activelab": []}
    project, members, row_of, truth = projects["fixed"]
    for k in (1, 2, 3):
        project.overlap_target = k
        project.save(update_fields=["overlap_target"])
        for member in members:  # the lease reads the target from the membership's project
            member.project = project
        with tqdm(total=len(row_of), desc=f"fixed k={k}", unit="answer") as bar:
            replay(project=project, members=members, crowd=crowd, row_of=row_of, bar=bar)
        run = analyse(project)
        curves["fixed"].append({"k": k, **score(project, run, truth=truth, rng=rng)})
        print(json.dumps(curves["fixed"][-1]), flush=True)
    fixed_ranking = annotator_ranking(project, run, members=members, crowd=crowd, truth=truth)

    project, members, row_of, truth = projects["activelab"]
    n = len(row_of)
    batch = max(1, int(args.batch * n))
    with tqdm(total=n, desc="activelab k=1", unit="answer") as bar:
        replay(project=project, members=members, crowd=crowd, row_of=row_of, bar=bar)
    run = analyse(project)
    curves["activelab"].append(score(project, run, truth=truth, rng=rng))
    while curves["activelab"][-1]["answers"] + batch <= args.max_per_face * n:
        top = list(Item.objects.filter(project=project, excluded=False, answer_count__lt=args.cap)
                   .order_by("-priority", "pk").values_list("pk", flat=True)[:batch])
        Item.objects.filter(pk__in=top).update(extra_answers=F("extra_answers") + 1)
        with tqdm(total=len(top), desc=f"activelab {curves['activelab'][-1]['answers']}", unit="answer") as bar:
            replay(project=project, members=members, crowd=crowd, row_of=row_of, bar=bar)
        run = analyse(project)
        curves["activelab"].append(score(project, run, truth=truth, rng=rng))
        print(json.dumps(curves["activelab"][-1]), flush=True)
    active_ranking = annotator_ranking(project, run, members=members, crowd=crowd, truth=truth)

    target = curves["fixed"][-1]["majority_vote"]
    reached = [c for c in curves["activelab"] if c["crowdlab"] >= target]
    fixed_answers = curves["fixed"][-1]["answers"]
    # The first step at the target decides answers_saved, and the steps are --batch faces apart, so a few faces
    # either side of the target move it by a whole step: the margin says how close it was, and the mean agreement
    # over every ActiveLab step (the same steps for any model) compares two models without a threshold.
    margin = round((reached[0]["crowdlab"] - target) * len(truth)) if reached else None
    reached = [c["answers"] for c in reached]
    print(json.dumps({
        "bench": "crowd_replay", "faces": n, "evaluated": len(truth), "annotators": len(crowd.kinds),
        "spammers": args.spammers, "biased": args.biased, "fixed": curves["fixed"], "activelab": curves["activelab"],
        "k3_majority_agreement": target, "k3_crowdlab_agreement": curves["fixed"][-1]["crowdlab"],
        "k3_answers": fixed_answers, "activelab_answers_to_match": reached[0] if reached else None,
        "answers_saved": round(1 - reached[0] / fixed_answers, 4) if reached else None,
        "match_margin_faces": margin,
        "activelab_mean_agreement": round(float(np.mean([c["crowdlab"] for c in curves["activelab"]])), 4),
        "goal_saved": 0.3, "goal_met": bool(reached and 1 - reached[0] / fixed_answers >= 0.3),
        "annotators_fixed_k3": fixed_ranking, "annotators_activelab": active_ranking,
        "probability_source": run.probability_source, "model": run.model_version.name,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
