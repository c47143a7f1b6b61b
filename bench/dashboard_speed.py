"""Audit-dashboard speed at full size: p95 time of every dashboard page and API over PostgreSQL.

Run ``python bench/dashboard_speed.py [--db ferlab_bench_dash] [--items 36000] [--answers 300000]``.
It (re)creates the database, seeds items, answers, leases, three quality runs and some reviews with
COPY, then requests each page/API ~20 times through Django's test client (the full middleware,
session and DRF stack, no network) and prints the p95 of each; the last line is JSON. Goal: < 300 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import recreate_database  # noqa: E402

GOAL_MS = 300
LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "not_a_face"]
TRUTH_P = np.array([30, 26, 12, 11, 9, 3, 5, 4, 0, 0], dtype=float)
# Each class's most likely mix-up, so the confusion views have structure.
CONFUSED_WITH = [3, 0, 6, 0, 5, 4, 2, 0, 0, 0]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _defaults(table: str, columns: list[str]) -> tuple[list[str], tuple]:
    """Columns the bench does not set, with their model defaults, so fields added later keep COPY working."""
    from django.apps import apps

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    extra, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in columns or field.primary_key or not field.has_default():
            continue
        value = field.get_default()
        extra.append(field.column)
        values.append(json.dumps(value) if isinstance(value, (dict, list)) else value)
    return extra, tuple(values)


def copy_rows(cursor, table: str, columns: list[str], rows) -> int:
    extra, values = _defaults(table, columns)
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns + extra)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row) + values)
            n += 1
    return n


def seed(*, n_items: int, n_answers: int, n_annotators: int, rng: np.random.Generator) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotate.models import Membership, Project, Role

    now = datetime.now(timezone.utc)
    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="pw-ferlab-123")
    people = User.objects.bulk_create([User(username=f"annotator-{i:03d}", password="!") for i in range(n_annotators)])
    project = Project.objects.create(name="FER+ at full size", slug="bench-dashboard", labels=LABELS, overlap_target=8)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people])
    ann_ids = np.array([u.pk for u in people])
    skill = rng.uniform(0.05, 0.45, size=n_annotators)  # error rate per annotator
    splits = np.array(["Training"] * 8 + ["PublicTest", "PrivateTest"])
    truth = rng.choice(len(LABELS), size=n_items, p=TRUTH_P / TRUTH_P.sum())

    # Answers per item: the total spread evenly (8 or 9 each), distinct annotators per item.
    per_item = np.full(n_items, n_answers // n_items)
    per_item[: n_answers - per_item.sum()] += 1
    order = np.argsort(rng.random((n_items, n_annotators)), axis=1)
    cur = connection.cursor().cursor
    t0 = time.perf_counter()
    item_id0 = 1
    copy_rows(cur, "annotate_item", ["id", "project_id", "image", "crop", "content_hash", "width", "height", "source", "split",
                                     "reference_label", "is_gold", "gold_label", "excluded", "extra_answers", "priority", "answer_count", "created_at"],
              ((item_id0 + i, project.pk, "", f"items/crop/bench/{i}.png", f"{i:064x}", 48, 48, f"fer2013.csv:{i}", splits[i % 10],
                "", i % 50 == 0, LABELS[truth[i]] if i % 50 == 0 else "", False, 0, float(rng.random()), int(per_item[i]), now)
               for i in range(n_items)))
    log(f"items: {n_items} in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    labels_given = np.empty(n_answers, dtype=np.int64)
    rows_item, rows_ann = np.empty(n_answers, dtype=np.int64), np.empty(n_answers, dtype=np.int64)
    k = 0
    for i in range(n_items):
        m = per_item[i]
        rows_item[k:k + m] = i
        rows_ann[k:k + m] = order[i, :m]
        k += m
    wrong = rng.random(n_answers) < skill[rows_ann]
    mixup = np.array(CONFUSED_WITH)[truth[rows_item]]
    random_label = rng.integers(0, 8, size=n_answers)
    labels_given = np.where(wrong, np.where(rng.random(n_answers) < 0.7, mixup, random_label), truth[rows_item])
    seconds = np.round(rng.gamma(2.0, 1.6, size=n_answers) + 0.6, 2)
    created = now - timedelta(days=10) + timedelta(days=10) * np.sort(rng.random(n_answers))
    flags = np.where(rng.random(n_answers) < 0.04, '["occluded"]', "[]")
    copy_rows(cur, "annotate_assignment", ["id", "project_id", "item_id", "annotator_id", "status", "is_gold", "created_at", "expires_at", "closed_at"],
              ((j + 1, project.pk, item_id0 + int(rows_item[j]), int(ann_ids[rows_ann[j]]), "answered", False, created[j] - timedelta(seconds=30),
                created[j] + timedelta(minutes=10), created[j]) for j in range(n_answers)))
    copy_rows(cur, "annotate_annotation", ["id", "project_id", "item_id", "annotator_id", "assignment_id", "label", "flags", "seconds", "client_id", "source", "created_at"],
              ((j + 1, project.pk, item_id0 + int(rows_item[j]), int(ann_ids[rows_ann[j]]), j + 1, LABELS[labels_given[j]], str(flags[j]),
                float(seconds[j]), uuid.uuid4(), "web", created[j]) for j in range(n_answers)))
    # 1% of answers corrected (undo): the correction replaces the original, same annotator and item.
    fixes = rng.choice(n_answers, size=n_answers // 100, replace=False)
    copy_rows(cur, "annotate_annotation", ["id", "project_id", "item_id", "annotator_id", "label", "flags", "seconds", "client_id", "source", "created_at", "replaces_id"],
              ((n_answers + 1 + x, project.pk, item_id0 + int(rows_item[j]), int(ann_ids[rows_ann[j]]), LABELS[truth[rows_item[j]]], "[]", 1.0,
                uuid.uuid4(), "web", created[j] + timedelta(seconds=5), int(j) + 1) for x, j in enumerate(fixes)))
    labels_given[fixes] = truth[rows_item[fixes]]
    # A few live leases right now.
    copy_rows(cur, "annotate_assignment", ["id", "project_id", "item_id", "annotator_id", "status", "is_gold", "created_at", "expires_at"],
              ((n_answers + 1 + j, project.pk, item_id0 + j, int(ann_ids[order[j, n_annotators - 1]]), "open", False, now, now + timedelta(minutes=10))
               for j in range(40)))
    log(f"answers: {n_answers} (+{len(fixes)} corrections) and {n_answers + 40} assignments in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    votes = np.zeros((n_items, len(LABELS)), dtype=np.int64)
    np.add.at(votes, (rows_item, labels_given), 1)
    consensus = votes.argmax(axis=1)
    share = votes.max(axis=1) / votes.sum(axis=1)
    model = np.where(rng.random(n_items) < 0.78, truth, np.array(CONFUSED_WITH)[truth])
    quality = np.clip(share * 0.8 + 0.2 * (model == consensus) - rng.uniform(0, 0.15, n_items), 0, 1)
    runs = []
    cur.execute("SELECT 1")
    for r in range(3):
        alpha = 0.55 + 0.05 * r
        summary = json.dumps({"krippendorff_alpha": alpha, "fleiss_kappa": alpha - 0.03, "per_class": {}, "class_balance": {},
                              "near_duplicates": [], "outliers": [], "probability_source": "held-out-model"})
        at = now - timedelta(days=2 - r)
        cur.execute(
            "INSERT INTO annotate_qualityrun (project_id, probability_source, annotation_watermark, annotation_count, annotations_sha256,"
            " prediction_count, params, summary, created_at, finished_at) VALUES (%s,'held-out-model',%s,%s,'',%s,'{}',%s,%s,%s) RETURNING id",
            [project.pk, n_answers, n_answers, n_items, summary, at, at],
        )
        runs.append(cur.fetchone()[0])
        copy_rows(cur, "annotate_qualityitemresult", ["run_id", "item_id", "num_answers", "votes", "consensus_label", "consensus_quality", "label_quality",
                                                      "label_issue", "active_learning_score", "model_label", "model_confidence"],
                  ((runs[-1], item_id0 + i, int(per_item[i]), json.dumps({LABELS[c]: int(v) for c, v in enumerate(votes[i]) if v}), LABELS[consensus[i]],
                    float(quality[i]), float(quality[i]), bool(quality[i] < 0.5), float(1 - quality[i]), LABELS[model[i]], float(rng.uniform(0.3, 0.99)))
                   for i in range(n_items)))
        rows = []
        for a in range(n_annotators):
            mine = rows_ann == a
            matrix = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
            np.add.at(matrix, (consensus[rows_item[mine]], labels_given[mine]), 1)
            agree = float(np.trace(matrix) / max(1, matrix.sum()))
            per_class = np.where(matrix.sum(1) > 0, np.diag(matrix) / np.maximum(1, matrix.sum(1)), 2)
            rows.append((runs[-1], int(ann_ids[a]), int(mine.sum()), agree * 0.9 + 0.05, agree, min(1.0, agree + 0.03), 20,
                         LABELS[int(per_class.argmin())], json.dumps(matrix.tolist())))
        copy_rows(cur, "annotate_qualityannotatorresult", ["run_id", "annotator_id", "num_answers", "quality", "agreement", "gold_accuracy",
                                                           "gold_answers", "worst_class", "confusion"], rows)
    # Some settled items, as after a morning of review.
    copy_rows(cur, "annotate_review", ["item_id", "reviewer_id", "action", "label", "quality_run_id", "note", "created_at"],
              ((item_id0 + i, lead.pk, "accept", LABELS[consensus[i]], runs[-1], "", now) for i in range(0, n_items, 12)))
    for table in ("annotate_item", "annotate_annotation", "annotate_assignment"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    cur.execute("VACUUM ANALYZE")  # sets the visibility map so index-only scans skip the heap, as autovacuum would
    log(f"3 quality runs ({n_items} item results each) and reviews in {time.perf_counter() - t0:.1f}s")
    return {"project": project, "lead": lead, "annotator": people[int(np.argmax(skill))], "item": item_id0, "run": runs[-1]}


def p95(samples: list[float]) -> float:
    return float(np.percentile(np.array(samples) * 1000, 95))


def timed(client, method: str, url: str, *, repeat: int, body=None, bodies=None) -> tuple[float, float]:
    """(p95 ms of `repeat` requests, ms of the first request, which warms connections and caches)."""
    samples, first = [], 0.0
    for r in range(repeat + 1):
        payload = bodies[r] if bodies else body
        t0 = time.perf_counter()
        if method == "get":
            response = client.get(url)
        else:
            response = getattr(client, method)(url, data=json.dumps(payload), content_type="application/json")
        elapsed = time.perf_counter() - t0
        if response.status_code >= 400:
            raise SystemExit(f"{method.upper()} {url} -> {response.status_code}: {response.content[:300]!r}")
        if r:
            samples.append(elapsed)
        else:
            first = elapsed * 1000
    return p95(samples), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db", default="ferlab_bench_dash")
    parser.add_argument("--items", type=int, default=36_000)
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = f"{args.postgres}/{args.db}"
    recreate_database(os.environ["DATABASE_URL"])
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.settings.base"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's "testserver" host
    log(f"database {args.db}: migrating")
    call_command("migrate", verbosity=0)
    s = seed(n_items=args.items, n_answers=args.answers, n_annotators=args.annotators, rng=np.random.default_rng(0))
    project, item, user = s["project"].pk, s["item"], s["annotator"].pk
    client = Client()
    client.force_login(s["lead"])
    api = f"/api/projects/{project}/"
    gets = {
        "page_overview": f"/projects/{project}/",
        "page_issues": f"/projects/{project}/issues/",
        "page_annotators": f"/projects/{project}/annotators/",
        "page_agreement": f"/projects/{project}/agreement/",
        "api_overview": api + "overview/",
        "api_answers_per_hour": api + "answers-per-hour/?days=14",
        "api_issues": api + "issues/",
        "api_issues_label": api + "issues/?label=fear",
        "api_issues_pair": api + "issues/?pair=fear,surprise",
        "api_issues_annotator": api + f"issues/?annotator={user}",
        "api_issues_flag": api + "issues/?flag=occluded",
        "api_issues_open_split": api + "issues/?state=open&split=PublicTest",
        "api_issues_deep_page": api + f"issues/?offset={args.items - 100}",
        "api_annotators": api + "annotators/",
        "api_annotator_confusion": api + f"annotators/{user}/confusion/",
        "api_agreement": api + "agreement/",
        "api_item_reviews": api + f"items/{item}/reviews/",
        "api_item_answers": api + f"items/{item}/answers/",
    }
    results, first = {}, {}
    for name, url in gets.items():
        results[name], first[name] = timed(client, "get", url, repeat=args.repeat)
        log(f"{name:26s} p95 {results[name]:7.1f} ms   (first request {first[name]:7.1f} ms)")
    actions = ["accept", "relabel", "exclude", "include", "request_more"]
    bodies = [{"item": item + 1 + r, "action": actions[r % 5], "label": "fear"} for r in range(args.repeat + 1)]
    results["api_review_create"], _ = timed(client, "post", api + "reviews/", repeat=args.repeat, bodies=bodies)
    log(f"{'api_review_create':26s} p95 {results['api_review_create']:7.1f} ms")
    results["api_review_undo"], _ = timed(client, "post", api + "reviews/", repeat=args.repeat,
                                          bodies=[{"item": item + 1 + r, "action": "undo"} for r in range(args.repeat + 1)])
    log(f"{'api_review_undo':26s} p95 {results['api_review_undo']:7.1f} ms")
    results["api_member_patch"], _ = timed(client, "patch", api + f"members/{user}/", repeat=args.repeat,
                                           bodies=[{"paused": bool(r % 2)} for r in range(args.repeat + 1)])
    log(f"{'api_member_patch':26s} p95 {results['api_member_patch']:7.1f} ms")
    worst = max(results, key=results.get)
    print(json.dumps({
        "bench": "dashboard_speed", "database": "postgresql", "items": args.items, "answers": args.answers,
        "annotators": args.annotators, "requests_each": args.repeat, "goal_ms": GOAL_MS,
        "p95_ms": {k: round(v, 1) for k, v in results.items()},
        "max_p95_ms": round(results[worst], 1), "slowest": worst, "all_under_goal": results[worst] < GOAL_MS,
        # Finished hours of answers-per-hour are cached: its first request in an hour pays the full count.
        "answers_per_hour_first_request_ms": round(first["api_answers_per_hour"], 1),
    }))


if __name__ == "__main__":
    main()
