"""#18's dashboard reads at a million faces: p50/p95 of the valence-arousal / action-unit pages and APIs over PostgreSQL.

Run ``python bench/dimension_dashboard_speed.py [--db ferlab_bench_dims] [--items 1000000] [--checked 0.05] [--repeat 20]``.
The database is recreated and seeded in SQL (generate_series): one project asking for valence-arousal and the DISFA
AUs, ``--items`` faces with one quality run whose result rows carry VA/AU consensus, a ``--checked`` share of them
with dimension checks set, a summary["dimensions"] with a 3,000-point scatter, and three answers on each of the first
10,000 faces (the hover reads one face's answers by annotation_item_idx, whatever the table's size). Each view is
requested ``--repeat`` times through Django's test client (full middleware and DRF); the last line is JSON.
Goal (#20): p95 < 300 ms.

Measured 2026-12-01 19:50 on an idle two-core Xeon (AMX), 1,000,000 faces, 5 % with checks set, p95: agreement page
6 ms, dimensions 12, scatter 18, hover answers 8, annotator dimensions 11; the issue queue by a check 188-208 ms (the
exact count gives up after 100 ms and the block sample answers; before, this seed's run lacked the "items" every real
run records, so the queue counted all its million results: 500 ms), the issue facets 269, with a check 78; the check
facet alone reads the run's checked_faces (0 ms; counted at request time it read 50,000 heap rows, 220 ms), 263 with a
label filter too.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import django_setup  # noqa: E402
from bench.dashboard_speed import GOAL_MS, timed  # noqa: E402

AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]
LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def seed(*, n_items: int, checked: float) -> dict:
    """Rows in SQL, a few seconds per million; returns the ids the views are asked about."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from annotate.models import Membership, Project, QualityAnnotatorResult, QualityRun, Role

    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="pw-ferlab-123")
    people = [User.objects.create_user(f"annotator-{i}", password="!") for i in range(3)]
    project = Project.objects.create(name="VA and AUs at size", slug="bench-dims", labels=LABELS, valence_arousal=True, action_units=AUS)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    for person in people:
        Membership.objects.create(project=project, user=person, role=Role.ANNOTATOR)
    checks_mod = max(1, round(1 / checked))
    aus_json = "jsonb_build_object(" + ", ".join(f"'{n}', round(random()::numeric, 3)" for n in AUS) + ")"
    scatter = {"item": list(range(1, n_items + 1, max(1, n_items // 3000)))[:3000]}
    scatter.update(valence=[0.1] * len(scatter["item"]), arousal=[-0.1] * len(scatter["item"]), label=["happiness"] * len(scatter["item"]),
                   sampled_from=n_items)
    per_class = {c: {"alpha": 0.6, "icc": 0.6, "faces": n_items // 8, "answers": 3 * n_items // 8} for c in LABELS}
    va = {"alpha": 0.62, "icc": 0.61, "faces": n_items, "answers": 3 * n_items, "by_class": per_class}
    # "items" and "answers" as every quality run records them (the counts of the issue queue scale their sample by it).
    summary = {"items": n_items, "answers": 3 * n_items, "dimensions": {
        "valence": va, "arousal": va, "scatter": scatter,
        "action_units": {"numbers": AUS, "per_au": {str(n): {"name": "", "alpha": 0.5, "prevalence": 0.2, "positive_agreement": 0.6,
                                                             "intensity_alpha": None, "faces": n_items, "judgements": 3 * n_items} for n in AUS},
                         "by_expression": {"classes": LABELS, "aus": AUS, "share": [[0.2] * len(AUS)] * len(LABELS), "faces": [n_items // 8] * 8}},
        "checks": {"valence_spread": n_items // checks_mod, "arousal_spread": 0, "au_disputed": n_items // checks_mod,
                   "expression_vs_au": n_items // checks_mod, "expression_vs_valence": 0},
        "checked_faces": n_items // checks_mod}}
    run = QualityRun.objects.create(project=project, probability_source="held-out-model", annotation_count=3 * n_items, summary=summary,
                                    finished_at=timezone.now())
    for person in people:
        QualityAnnotatorResult.objects.create(run=run, annotator=person, num_answers=n_items, dimensions={
            "valence": {"offset": 0.1, "offset_bound": 0.05, "noise": 0.1, "noise_lower": 0.08, "shared": n_items}})
    with connection.cursor() as cur:
        cur.execute(f"""
            INSERT INTO annotate_item (id, project_id, image, crop, content_hash, pixel_hash, width, height, source, split, reference_label,
                is_gold, gold_label, excluded, extra_answers, priority, answer_count, lease_count, created_at)
            SELECT i, {project.pk}, '', '', md5(i::text), '', 48, 48, 'bench', 'Training', '', false, '', false, 0, 0, 3, 0, now()
            FROM generate_series(1, {n_items}) i""")
        cur.execute(f"""
            INSERT INTO annotate_qualityitemresult (run_id, item_id, num_answers, votes, consensus_label, consensus_quality, label_quality,
                label_issue, active_learning_score, model_label, model_confidence, probability_source, valence, arousal, valence_spread,
                arousal_spread, action_units, checks, check_reasons)
            SELECT {run.pk}, i, 3, '{{"happiness": 3}}', 'happiness', random(), random(), false, random(), 'happiness', random(), 'held-out',
                random() * 2 - 1, random() * 2 - 1, random() * 0.5, random() * 0.5, {aus_json},
                CASE WHEN i % {checks_mod} = 0 THEN 13 ELSE 0 END,
                CASE WHEN i % {checks_mod} = 0 THEN '["called happiness by the crowd, but AU12 absent"]'::jsonb ELSE '[]'::jsonb END
            FROM generate_series(1, {n_items}) i""")
        cur.execute(f"""
            INSERT INTO annotate_annotation (project_id, item_id, annotator_id, label, flags, valence, arousal, action_units, client_id, source, created_at)
            SELECT {project.pk}, i, p.id, 'happiness', '[]', 0.5, 0.1, '{{"12": 1}}', md5(i::text || p.id::text)::uuid, '', now()
            FROM generate_series(1, {min(n_items, 10_000)}) i, (VALUES {", ".join(f"({p.pk})" for p in people)}) AS p(id)""")
        cur.execute("ANALYZE")
    return {"project": project.pk, "item": 7, "lead": lead}


def views(s: dict) -> dict[str, str]:
    p = s["project"]
    return {
        "agreement page": f"/projects/{p}/agreement/",
        "dimensions": f"/api/projects/{p}/dimensions/",
        "scatter": f"/api/projects/{p}/dimensions/scatter/",
        "hover answers": f"/api/projects/{p}/items/{s['item']}/dimension-answers/",
        "annotator dimensions": f"/api/projects/{p}/annotators/dimensions/",
        "issues ?check=expression_vs_au": f"/api/projects/{p}/issues/?check=expression_vs_au",
        "issues ?check=any deep page": f"/api/projects/{p}/issues/?check=any&offset=5000",
        "issues ?check=au_disputed&label=happiness": f"/api/projects/{p}/issues/?check=au_disputed&label=happiness",
        "issue facets": f"/api/projects/{p}/issues/facets/",
        "issue facets ?check=any": f"/api/projects/{p}/issues/facets/?check=any",
    }


def time_check_facet(*, repeat: int) -> dict:
    """The check filter's counts (annotate.selectors.dimensions.check_facet) alone: the facets endpoint's other
    filters belong to #20's sampling and are timed by bench/dashboard_speed.py."""
    import time

    import numpy as np

    from annotate.models import Project, QualityRun
    from annotate.selectors.audit_issues import IssueFilters, issue_queryset
    from annotate.selectors.dimensions import check_facet

    project = Project.objects.get(slug="bench-dims")
    run = QualityRun.objects.get(project=project)
    out = {}
    for name, filters in (("check facet (run summary)", IssueFilters()), ("check facet ?label=happiness", IssueFilters(label="happiness"))):
        queue = issue_queryset(project=project, run=run, filters=filters, answered_default=False).filter(num_answers__gt=0)
        samples = []
        for r in range(repeat + 1):
            t0 = time.perf_counter()
            check_facet(project=project, run=run, queue=queue, default=filters == IssueFilters())
            if r:
                samples.append((time.perf_counter() - t0) * 1000)
        out[name] = {"p50_ms": round(float(np.percentile(samples, 50)), 1), "p95_ms": round(float(np.percentile(samples, 95)), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="ferlab_bench_dims")
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--checked", type=float, default=0.05, help="Share of faces with a dimension check set")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    django_setup(f"{args.url}/{args.db}")
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    s = seed(n_items=args.items, checked=args.checked)
    client = Client()
    client.force_login(s["lead"])
    figures = {}
    for name, url in views(s).items():
        (p95, p50), first = timed(client, "get", url, repeat=args.repeat)
        figures[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "first_ms": round(first, 1)}
        print(f"{name:45s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  first {first:7.1f} ms{'  OVER GOAL' if p95 > GOAL_MS else ''}", flush=True)
    for name, f in time_check_facet(repeat=args.repeat).items():
        figures[name] = f
        print(f"{name:45s} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms  (selector alone)", flush=True)
    print(json.dumps({"items": args.items, "checked": args.checked, "views": figures}))


if __name__ == "__main__":
    main()
