"""Seeds bench/dashboard_speed.py's project at any size up to a million faces and ten million answers (not a benchmark).

Rows are made with numpy a column at a time and sent with COPY as CSV chunks: a Python loop per answer and a
dense faces x annotators matrix (what the first version did) cost hours and terabytes at 1,000,000 x 10,000.
While copying, the secondary indexes of the big tables are dropped and foreign-key triggers are off
(session_replication_role = replica; every id is made here, so they hold), and the indexes are rebuilt by sorting
afterwards, which is how PostgreSQL's manual says to bulk-load.
"""
from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "not_a_face"]
TRUTH_P = np.array([30, 26, 12, 11, 9, 3, 5, 4, 0, 0], dtype=float)
# Each class's most likely mix-up, so the confusion views have structure.
CONFUSED_WITH = np.array([3, 0, 6, 0, 5, 4, 2, 0, 0, 0])
CHUNK = 500_000
BIG_TABLES = ("annotate_item", "annotate_assignment", "annotate_annotation", "annotate_qualityitemresult", "annotate_review")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _defaults(table: str, columns: list[str]) -> dict:
    """Columns the bench does not set, with their model defaults, so fields added later keep COPY working."""
    from django.apps import apps

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    extra = {}
    for field in model._meta.concrete_fields:
        if field.column in columns or field.primary_key:
            continue
        if not field.has_default():
            if field.null or not (field.blank and field.empty_strings_allowed):
                continue  # left to the database (null, or a column this bench must set)
            value = ""  # a blank text column without a default: Django would write ""
        else:
            value = field.get_default()
        extra[field.column] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return extra


def _text(values, n: int) -> list[str]:
    """One column as COPY CSV fields: numbers as written, booleans t/f, times in UTC, text quoted when it must be."""
    if values is None:
        return [""] * n  # an unquoted empty field is NULL
    if not isinstance(values, (np.ndarray, pd.Series, pd.DatetimeIndex, list)):
        return [_text(np.array([values]) if not isinstance(values, pd.Timestamp) else pd.DatetimeIndex([values]), 1)[0]] * n
    if isinstance(values, (pd.Series, pd.DatetimeIndex)) and isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = np.datetime_as_string(values.tz_convert(None).to_numpy().astype("datetime64[us]"), unit="us")
        return [f"{x}+00" for x in stamps]
    array = np.asarray(values)
    if array.dtype == bool:
        return np.where(array, "t", "f").tolist()
    if array.dtype.kind in "iuf":
        return array.astype(str).tolist()
    text = array.astype(str).tolist()
    if any(("," in x or '"' in x or "\n" in x) for x in text[:1000]) or any(("," in x or '"' in x) for x in text[-1000:]):
        return ['"' + x.replace('"', '""') + '"' for x in text]
    return [x or '""' for x in text]  # an empty string quoted, or COPY reads NULL


def copy_frame(cursor, table: str, columns: dict) -> int:
    """COPY columns (name -> array or one value for all rows) in CSV chunks, formatted a column at a time.

    pandas' to_csv took 22 s per 300,000 assignments (its per-cell time formatting); this takes about one.
    """
    columns = {**columns, **_defaults(table, list(columns))}
    n = max(len(v) for v in columns.values() if isinstance(v, (np.ndarray, pd.Series, pd.DatetimeIndex, list)))
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    with cursor.copy(sql) as copy:
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            fields = [_text(v[start:stop] if isinstance(v, (np.ndarray, pd.Series, pd.DatetimeIndex, list)) else v, stop - start)
                      for v in columns.values()]
            copy.write("\n".join(map(",".join, zip(*fields))) + "\n")
    return n


def _drop_secondary_indexes(cursor) -> list[str]:
    """Drop the big tables' indexes that back no constraint; return their definitions to rebuild."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
        [list(BIG_TABLES)],
    )
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def _distinct_annotators(n_items: int, per_item: np.ndarray, n_annotators: int, rng: np.random.Generator) -> np.ndarray:
    """Face and annotator index of every answer, distinct within a face: start + j * stride (mod n) with stride coprime to n."""
    strides = np.arange(1, n_annotators + 1)
    strides = strides[np.gcd(strides, n_annotators) == 1]
    start = rng.integers(0, n_annotators, size=n_items)
    stride = rng.choice(strides, size=n_items)
    rows_item = np.repeat(np.arange(n_items), per_item)
    first = np.repeat(np.cumsum(per_item) - per_item, per_item)
    j = np.arange(len(rows_item)) - first
    # The next one in each face's sequence has not answered it: live leases go to them.
    return rows_item, (start[rows_item] + j * stride[rows_item]) % n_annotators, (start + per_item * stride) % n_annotators


def _votes_json(votes: np.ndarray) -> list[str]:
    return [json.dumps({LABELS[c]: int(v) for c, v in enumerate(row) if v}) for row in votes]


def seed(cursor_owner, *, n_items: int, n_answers: int, n_annotators: int, rng: np.random.Generator) -> dict:
    """Make the project, its people and every row; returns the ids the views are asked about."""
    from django.contrib.auth import get_user_model

    from annotate.models import Membership, Project, Role

    now = pd.Timestamp(datetime.now(timezone.utc)).round("us")
    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="pw-ferlab-123")
    people = User.objects.bulk_create([User(username=f"annotator-{i:05d}", password="!") for i in range(n_annotators)], batch_size=5000)
    project = Project.objects.create(name="FER+ at full size", slug="bench-dashboard", labels=LABELS, overlap_target=8)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people], batch_size=5000)
    ann_ids = np.array([u.pk for u in people])
    skill = rng.uniform(0.05, 0.45, size=n_annotators)  # error rate per annotator
    truth = rng.choice(len(LABELS), size=n_items, p=TRUTH_P / TRUTH_P.sum())
    cur = cursor_owner.cursor
    cur.execute("SET session_replication_role = replica")
    cur.execute("SET maintenance_work_mem = '512MB'")
    indexes = _drop_secondary_indexes(cur)

    t0 = time.perf_counter()
    i = np.arange(n_items)
    item_ids = i + 1
    gold = i % 50 == 0
    per_item = np.full(n_items, n_answers // n_items)
    per_item[: n_answers - per_item.sum()] += 1
    copy_frame(cur, "annotate_item", {
        "id": item_ids, "project_id": project.pk, "image": "", "crop": [f"items/crop/bench/{x}.png" for x in i],
        "content_hash": [f"{x:064x}" for x in i], "width": 48, "height": 48, "source": [f"fer2013.csv:{x}" for x in i],
        "split": np.array(["Training"] * 8 + ["PublicTest", "PrivateTest"])[i % 10], "reference_label": "",
        "is_gold": gold, "gold_label": np.where(gold, np.array(LABELS)[truth], ""), "excluded": False, "extra_answers": 0,
        "priority": rng.random(n_items), "answer_count": per_item, "created_at": now,
    })
    log(f"items: {n_items} in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    rows_item, rows_ann, unanswered_by = _distinct_annotators(n_items, per_item, n_annotators, rng)
    wrong = rng.random(n_answers) < skill[rows_ann]
    random_label = rng.integers(0, 8, size=n_answers)
    labels_given = np.where(wrong, np.where(rng.random(n_answers) < 0.7, CONFUSED_WITH[truth[rows_item]], random_label), truth[rows_item])
    created = now - pd.Timedelta(days=10) + pd.to_timedelta(np.sort(rng.random(n_answers)) * 10 * 86400, unit="s").round("us")
    answer_ids = np.arange(1, n_answers + 1)
    annotator_col = ann_ids[rows_ann]
    copy_frame(cur, "annotate_assignment", {
        "id": answer_ids, "project_id": project.pk, "item_id": rows_item + 1, "annotator_id": annotator_col, "status": "answered",
        "is_gold": False, "created_at": created - pd.Timedelta(seconds=30), "expires_at": created + pd.Timedelta(minutes=10), "closed_at": created,
    })
    log(f"assignments: {n_answers} in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    copy_frame(cur, "annotate_annotation", {
        "id": answer_ids, "project_id": project.pk, "item_id": rows_item + 1, "annotator_id": annotator_col, "assignment_id": answer_ids,
        "label": np.array(LABELS)[labels_given], "flags": np.where(rng.random(n_answers) < 0.04, '["occluded"]', "[]"),
        "seconds": np.round(rng.gamma(2.0, 1.6, size=n_answers) + 0.6, 2),
        "client_id": [f"00000000-0000-4000-8000-{x:012x}" for x in answer_ids], "source": "web", "created_at": created,
    })
    # 1% of answers corrected (undo): the correction replaces the original, same annotator and item.
    fixes = np.sort(rng.choice(n_answers, size=n_answers // 100, replace=False))
    fix_ids = n_answers + 1 + np.arange(len(fixes))
    copy_frame(cur, "annotate_annotation", {
        "id": fix_ids, "project_id": project.pk, "item_id": rows_item[fixes] + 1, "annotator_id": annotator_col[fixes],
        "label": np.array(LABELS)[truth[rows_item[fixes]]], "flags": "[]", "seconds": 1.0,
        "client_id": [f"00000000-0000-4000-9000-{x:012x}" for x in fix_ids], "source": "web",
        "created_at": created[fixes] + pd.Timedelta(seconds=5), "replaces_id": fixes + 1,
    })
    labels_given[fixes] = truth[rows_item[fixes]]
    # A few live leases right now, to annotators who have not answered those faces.
    lease_items = np.arange(min(40, n_items))
    copy_frame(cur, "annotate_assignment", {
        "id": n_answers + 1 + lease_items, "project_id": project.pk, "item_id": lease_items + 1,
        "annotator_id": ann_ids[unanswered_by[lease_items]],
        "status": "open", "is_gold": False, "created_at": now, "expires_at": now + pd.Timedelta(minutes=10),
    })
    log(f"answers: {n_answers} (+{len(fixes)} corrections) in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    n_labels = len(LABELS)
    votes = np.bincount(rows_item * n_labels + labels_given, minlength=n_items * n_labels).reshape(n_items, n_labels)
    consensus = votes.argmax(axis=1)
    share = votes.max(axis=1) / np.maximum(1, votes.sum(axis=1))
    model = np.where(rng.random(n_items) < 0.78, truth, CONFUSED_WITH[truth])
    quality = np.clip(share * 0.8 + 0.2 * (model == consensus) - rng.uniform(0, 0.15, n_items), 0, 1)
    votes_json = _votes_json(votes)
    confusion = np.bincount((rows_ann * n_labels + consensus[rows_item]) * n_labels + labels_given,
                            minlength=n_annotators * n_labels * n_labels).reshape(n_annotators, n_labels, n_labels)
    answered = np.bincount(rows_ann, minlength=n_annotators)
    agree = np.trace(confusion, axis1=1, axis2=2) / np.maximum(1, answered)
    recall = np.where(confusion.sum(2) > 0, np.diagonal(confusion, axis1=1, axis2=2) / np.maximum(1, confusion.sum(2)), 2)
    runs = []
    for r in range(3):
        alpha = 0.55 + 0.05 * r
        # The keys a real run's summary has that the dashboard reads (services.quality._summary).
        balance = np.bincount(consensus, minlength=n_labels)
        summary = json.dumps({"krippendorff_alpha": alpha, "fleiss_kappa": alpha - 0.03, "per_class": {},
                              "class_balance": {label: int(balance[j]) for j, label in enumerate(LABELS)}, "items": n_items,
                              "answers": n_answers, "annotators": n_annotators, "label_issues": int((quality < 0.5).sum()),
                              "near_duplicates": [], "outliers": [], "probability_source": "held-out-model"})
        at = now - timedelta(days=2 - r)
        cur.execute(
            "INSERT INTO annotate_qualityrun (project_id, probability_source, annotation_watermark, annotation_count, annotations_sha256,"
            " prediction_count, params, summary, created_at, finished_at) VALUES (%s,'held-out-model',%s,%s,'',%s,'{}',%s,%s,%s) RETURNING id",
            [project.pk, n_answers, n_answers, n_items, summary, at, at],
        )
        runs.append(cur.fetchone()[0])
        copy_frame(cur, "annotate_qualityitemresult", {
            "id": r * n_items + item_ids, "run_id": runs[-1], "item_id": item_ids, "num_answers": per_item, "votes": votes_json,
            "consensus_label": np.array(LABELS)[consensus], "consensus_quality": quality, "label_quality": quality,
            "label_issue": quality < 0.5, "active_learning_score": 1 - quality, "model_label": np.array(LABELS)[model],
            "model_confidence": rng.uniform(0.3, 0.99, n_items),
        })
        copy_frame(cur, "annotate_qualityannotatorresult", {
            "run_id": runs[-1], "annotator_id": ann_ids, "num_answers": answered, "quality": agree * 0.9 + 0.05, "agreement": agree,
            "gold_accuracy": np.minimum(1.0, agree + 0.03), "gold_answers": 20, "worst_class": np.array(LABELS)[recall.argmin(axis=1)],
            "confusion": [json.dumps(m.tolist()) for m in confusion],
        })
    # Some settled items, as after a morning of review.
    reviewed = np.arange(0, n_items, 12)
    copy_frame(cur, "annotate_review", {
        "item_id": reviewed + 1, "reviewer_id": lead.pk, "action": "accept", "label": np.array(LABELS)[consensus[reviewed]],
        "quality_run_id": runs[-1], "note": "", "created_at": now,
    })
    log(f"3 quality runs ({n_items} item results each) and {len(reviewed)} reviews in {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    cur.execute("SET session_replication_role = origin")
    for definition in indexes:
        cur.execute(definition)
    for table in ("annotate_item", "annotate_annotation", "annotate_assignment", "annotate_qualityitemresult", "annotate_review"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    cur.execute("VACUUM ANALYZE")  # sets the visibility map so index-only scans skip the heap, as autovacuum would
    log(f"{len(indexes)} indexes rebuilt and vacuumed in {time.perf_counter() - t0:.1f}s")
    return {"project": project.pk, "lead": lead.pk, "annotator": int(ann_ids[int(np.argmax(skill))]), "item": 1, "run": runs[-1]}


def backfill_summaries(cursor) -> int:
    """Give runs seeded by an earlier version of this file the summary keys a real run writes ("items",
    "class_balance"; the latest run's "annotator_activity" and "agreement"), so a reused database measures today's
    code paths; returns the runs given the first two."""
    cursor.execute(
        "UPDATE annotate_qualityrun r SET summary = summary || jsonb_build_object("
        " 'items', (SELECT count(*) FROM annotate_qualityitemresult WHERE run_id = r.id),"
        " 'class_balance', (SELECT coalesce(jsonb_object_agg(consensus_label, n), '{}') FROM (SELECT consensus_label, count(*) AS n"
        "  FROM annotate_qualityitemresult WHERE run_id = r.id AND consensus_label <> '' GROUP BY 1) x))"
        " WHERE NOT summary ? 'items'"
    )
    changed = cursor.rowcount
    from annotate.models import QualityRun
    from annotate.selectors.activity_snapshot import activity_snapshot

    # The seeded corrections came before the runs: the latest run's watermark covers them, as a real run's would, and
    # it records the activity snapshot services.quality writes for the dashboard.
    latest = QualityRun.objects.order_by("-created_at", "-id").first()
    cursor.execute("SELECT max(id) FROM annotate_annotation")
    top = cursor.fetchone()[0] or 0
    snapshot = (latest.summary or {}).get("annotator_activity") if latest else None
    if latest is not None and (not snapshot or snapshot["watermark"] < top):
        latest.annotation_watermark = top
        latest.summary["annotator_activity"] = activity_snapshot(project_id=latest.project_id, watermark=top)
        latest.save(update_fields=["summary", "annotation_watermark"])
    if latest is not None and "agreement" not in latest.summary:
        # The agreement matrices a real run records (services.quality), counted here from the seeded rows.
        from annotate.selectors.audit_agreement import annotators_vs_consensus, model_vs_consensus

        project = latest.project
        latest.summary["agreement"] = {"labels": list(project.labels),
                                       "annotators_vs_consensus": annotators_vs_consensus(project=project, run=latest),
                                       "model_vs_consensus": model_vs_consensus(project=project, run=latest)}
        latest.save(update_fields=["summary"])
    return changed
