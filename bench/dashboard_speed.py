"""Audit-dashboard speed at crowd size: p50/p95 of every dashboard page and API a lead uses, over PostgreSQL.

Run ``python bench/dashboard_speed.py [--db ferlab_bench_dash] [--items 36000] [--answers 300000] [--annotators 60]``,
or ``--ladder 36000/300000/300,360000/3000000/3000,1000000/10000000/10000`` for several sizes in one run.
Each size has its own database (``<db>_<items>_<answers>_<annotators>``), seeded with COPY by bench/dashboard_seed.py
(items, answers, leases, three quality runs, reviews); ``--reuse`` keeps a database seeded before (a ten-million-answer
one takes minutes and gigabytes). Each page/API is then requested ``--repeat`` times through Django's test client
(the full middleware, session and DRF stack, no network); the last line is JSON. Goal (#20): p95 < 300 ms everywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import recreate_database  # noqa: E402
from bench.dashboard_seed import backfill_summaries, log, seed  # noqa: E402

GOAL_MS = 300
MARKERS = ROOT / "var" / "bench_dashboard"


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p95, p50) in ms."""
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 95)), float(np.percentile(ms, 50))


def timed(client, method: str, url: str, *, repeat: int, body=None, bodies=None) -> tuple[tuple[float, float], float]:
    """((p95, p50) ms of `repeat` requests, ms of the first request, which warms connections and caches)."""
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
    return percentiles(samples), first


def views(s: dict, n_items: int, n_annotators: int, deep_after: int) -> dict[str, str]:
    """Every page and GET API of the lead's dashboard, with each issue filter, as the pages call them.

    deep_after: the face 100 rows before the queue's end; the page after it is what the next-page button asks for there.
    """
    project, item, user, run = s["project"], s["item"], s["annotator"], s["run"]
    api = f"/api/projects/{project}/"
    pages = {f"page_{name}": f"/projects/{project}/{path}" for name, path in [
        ("overview", ""), ("issues", "issues/"), ("annotators", "annotators/"), ("agreement", "agreement/"), ("jobs", "jobs/"),
        ("versions", "versions/"), ("models", "models/"), ("settings", "settings/"), ("audit_log", "audit-log/"), ("people", "people/"),
    ]}
    issues = {f"api_issues{'_' + name if name else ''}": api + "issues/" + query for name, query in [
        ("", ""), ("label", "?label=fear"), ("pair", "?pair=fear,surprise"), ("annotator", f"?annotator={user}"),
        ("flag", "?flag=occluded"), ("flag_label_issue", "?flag=label_issue"), ("flag_model", "?flag=model_disagrees"),
        ("open_split", "?state=open&split=PublicTest"), ("settled", "?state=settled"), ("source_review", "?source=review"),
        ("source_crowd", "?source=crowd"), ("answers_3", "?answers=3%2B"), ("gold", "?gold=gold"), ("reference_none", "?reference=none"),
        # Offsets alone go 10,000 rows deep (the API refuses deeper ones); past that the page seeks by key both ways.
        ("offset_10000", "?offset=10000"), ("deep_page_by_key", f"?offset={max(0, n_items - 100)}&after={deep_after}"),
        ("deep_page_before", f"?offset={max(0, n_items - 150)}&before={deep_after}"),
        ("limit_200", "?limit=200"),
    ]}
    apis = {
        "api_projects": "/api/projects/", "api_project": api, "api_overview": api + "overview/",
        "api_answers_per_hour": api + "answers-per-hour/?days=14", **issues,
        "api_issue_facets": api + "issues/facets/", "api_issue_facets_flag": api + "issues/facets/?flag=occluded",
        "api_annotators": api + "annotators/", "api_annotators_last_page": api + f"annotators/?offset={max(0, n_annotators - 100)}",
        "api_annotators_search": api + "annotators/?q=annotator-0012", "api_annotator_confusion": api + f"annotators/{user}/confusion/",
        "api_stats_annotator": api + f"stats/annotators/{user}/", "api_agreement": api + "agreement/",
        "api_item_reviews": api + f"items/{item}/reviews/", "api_item_answers": api + f"items/{item}/answers/",
        "api_audit_log": api + "audit-log/", "api_members": api + "members/", "api_members_search": api + "members/?q=annotator-0012", "api_invitations": api + "invitations/",
        "api_versions": api + "versions/", "api_jobs": api + "jobs/", "api_models": api + "models/",
        "api_quality_runs": api + "quality-runs/", "api_quality_run": f"/api/quality-runs/{run}/",
        "api_quality_run_items": f"/api/quality-runs/{run}/items/", "api_quality_run_annotators": f"/api/quality-runs/{run}/annotators/",
        "api_quality_run_annotators_last_page": f"/api/quality-runs/{run}/annotators/?offset={max(0, n_annotators - 1000)}",
    }
    return {**pages, **apis}


def prepare(args, n_items: int, n_answers: int, n_annotators: int) -> tuple[dict, float | None]:
    """The size's database seeded (or reused): the ids to ask about and the build seconds (None when reused)."""
    name = f"{args.db}_{n_items}_{n_answers}_{n_annotators}"
    marker = MARKERS / f"{name}.json"
    url = f"{args.postgres}/{name}"
    from django.db import connections

    connections.close_all()
    settings_db = connections.databases["default"]
    settings_db["NAME"] = name
    if args.reuse and marker.exists():
        from django.db import connection

        log(f"database {name}: reused ({backfill_summaries(connection.cursor())} run summaries backfilled)")
        return json.loads(marker.read_text()), None
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    recreate_database(url)
    log(f"database {name}: migrating")
    call_command("migrate", verbosity=0)
    s = seed(connection.cursor(), n_items=n_items, n_answers=n_answers, n_annotators=n_annotators, rng=np.random.default_rng(0))
    backfill_summaries(connection.cursor())
    MARKERS.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(s))
    cursor = connection.cursor()
    cursor.execute("SELECT pg_database_size(current_database())")
    s["database_bytes"] = cursor.fetchone()[0]
    marker.write_text(json.dumps(s))
    return s, time.perf_counter() - t0


def deep_face(s: dict, n_items: int) -> int:
    """The face 101 rows before the end of the default issue queue (what the next-page button reaches there)."""
    from annotate.models import Project, QualityRun
    from annotate.selectors.audit_issues import IssueFilters, issue_queryset
    from annotate.selectors.issue_sources import answers_parse

    project = Project.objects.get(pk=s["project"])
    run = QualityRun.objects.get(pk=s["run"])
    queue = issue_queryset(project=project, run=run, filters=IssueFilters(answers=answers_parse("any")))
    found = list(queue.values_list("item_id", flat=True)[max(0, n_items - 101): max(0, n_items - 100)])
    return found[0] if found else s["item"]


def measure(args, n_items: int, n_answers: int, n_annotators: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    s, build = prepare(args, n_items, n_answers, n_annotators)
    client = Client()
    client.force_login(get_user_model().objects.get(pk=s["lead"]))
    results, medians, first = {}, {}, {}
    # Untimed: the face the deep page-by-key requests start after / end before (found by the slow offset walk, once).
    deep_after = deep_face(s, n_items)
    for name, url in views(s, n_items, n_annotators, deep_after).items():
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        (results[name], medians[name]), first[name] = timed(client, "get", url, repeat=args.repeat)
        log(f"{name:28s} p50 {medians[name]:7.1f}  p95 {results[name]:7.1f} ms   (first request {first[name]:7.1f} ms)")
    if not args.only:
        api, item, user = f"/api/projects/{s['project']}/", s["item"], s["annotator"]
        actions = ["accept", "relabel", "exclude", "include", "request_more"]
        writes = {
            "api_review_create": ("post", api + "reviews/", [{"item": item + 1 + r, "action": actions[r % 5], "label": "fear"} for r in range(args.repeat + 1)]),
            "api_review_undo": ("post", api + "reviews/", [{"item": item + 1 + r, "action": "undo"} for r in range(args.repeat + 1)]),
            "api_member_patch": ("patch", api + f"members/{user}/", [{"paused": bool(r % 2)} for r in range(args.repeat + 1)]),
        }
        for name, (method, url, bodies) in writes.items():
            (results[name], medians[name]), _ = timed(client, method, url, repeat=args.repeat, bodies=bodies)
            log(f"{name:28s} p50 {medians[name]:7.1f}  p95 {results[name]:7.1f} ms")
    worst = max(results, key=results.get)
    return {
        "items": n_items, "answers": n_answers, "annotators": n_annotators, "build_s": None if build is None else round(build, 1),
        "database_bytes": s.get("database_bytes"), "load_average": [round(x, 2) for x in os.getloadavg()],
        # This process serves every request (Django's test client): its peak memory is the web tier's for these views.
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "p50_ms": {k: round(v, 1) for k, v in medians.items()}, "p95_ms": {k: round(v, 1) for k, v in results.items()},
        "max_p95_ms": round(results[worst], 1), "slowest": worst, "all_under_goal": results[worst] < GOAL_MS,
        # Finished hours of answers-per-hour are cached: its first request in an hour pays the full count.
        "answers_per_hour_first_request_ms": round(first.get("api_answers_per_hour", 0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--db", default="ferlab_bench_dash", help="Prefix of each size's database name")
    parser.add_argument("--items", type=int, default=36_000)
    parser.add_argument("--answers", type=int, default=300_000)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument("--ladder", default="", help="Sizes items/answers/annotators, comma-separated (replaces the three above)")
    parser.add_argument("--reuse", action="store_true", help="Keep a database this script seeded before at the same size")
    parser.add_argument("--only", default="", help="Measure only the views whose name contains one of these (comma-separated)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in rung.split("/")) for rung in args.ladder.split(",")] if args.ladder else [(args.items, args.answers, args.annotators)]

    os.environ["DATABASE_URL"] = f"{args.postgres}/{args.db}_{sizes[0][0]}_{sizes[0][1]}_{sizes[0][2]}"
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.settings.base"
    os.environ.setdefault("FERLAB_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's "testserver" host
    rungs = [measure(args, *size) for size in sizes]
    for rung in rungs:
        log(f"{rung['items']:>9,} faces {rung['answers']:>11,} answers {rung['annotators']:>6,} annotators: slowest {rung['slowest']} "
            f"p95 {rung['max_p95_ms']} ms, peak memory {rung['peak_memory_mb']} MB, build {rung['build_s']} s, load {rung['load_average']}")
    print(json.dumps({"bench": "dashboard_speed", "database": "postgresql", "requests_each": args.repeat, "goal_ms": GOAL_MS,
                      "ladder": rungs, **({k: rungs[-1][k] for k in ("max_p95_ms", "slowest", "all_under_goal")})}))


if __name__ == "__main__":
    main()
