"""A run's annotator results as the API's JSON body, written by PostgreSQL; twin: `annotator_results_json_orm`.

10,000 annotators each with a confusion matrix make a 5 MB body: decoding every matrix from jsonb into Python lists
and encoding it back took most of a second on two cores. json_agg writes the body in the database instead, in the
order and the shape (AnnotatorResultOutput) the ORM twin gives.
"""
import json

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F

from annotate.models import QualityAnnotatorResult, QualityRun

# Keys of AnnotatorResultOutput after annotator and username, each one of the result's columns.
COLUMNS = ("num_answers", "quality", "crowdlab_quality", "bias", "bias_from", "bias_to", "agreement", "gold_accuracy",
           "gold_answers", "worst_class", "confusion")

# row_to_json writes each row compactly, in the select list's order; the run's evidence is read once (a
# materialised CTE: as a join, PostgreSQL took the key out of the whole summary again for every row). The page's rows
# are chosen first: written before the LIMIT, every row of the run was encoded (175 ms for a page of 10,000's run).
_SQL = (
    f"WITH e AS MATERIALIZED (SELECT summary -> 'annotator_evidence' AS evidence FROM {QualityRun._meta.db_table}"
    " WHERE id = %(run)s),"
    f" page AS MATERIALIZED (SELECT * FROM {QualityAnnotatorResult._meta.db_table} WHERE run_id = %(run)s"
    "  ORDER BY quality ASC NULLS LAST, id LIMIT %(limit)s OFFSET %(offset)s)"
    " SELECT coalesce(json_agg(t.body ORDER BY t.quality ASC NULLS LAST, t.id), '[]')::text FROM ("
    "  SELECT r.quality, r.id, (SELECT row_to_json(x) FROM (SELECT r.annotator_id AS annotator, u.username, "
    + ", ".join(f"r.{c}" for c in COLUMNS)
    + ", CASE WHEN jsonb_typeof(e.evidence) = 'object' THEN e.evidence -> r.annotator_id::text END AS evidence)"
    "  x) AS body"
    "  FROM page r"
    f"  JOIN {get_user_model()._meta.db_table} u ON u.id = r.annotator_id"
    "  CROSS JOIN e) t"
)


def annotator_results_json_postgres(*, run: QualityRun, offset: int = 0, limit: int | None = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute(_SQL, {"run": run.pk, "offset": offset, "limit": limit})
        return cursor.fetchone()[0]


def annotator_results_json_orm(*, run: QualityRun, offset: int = 0, limit: int | None = None) -> str:
    """Lowest quality first, annotators without one last (`limit` of them from `offset`; None: all); each with its
    evidence from the run's summary (None for runs from before it was recorded)."""
    recorded = (run.summary or {}).get("annotator_evidence")
    evidence = recorded if isinstance(recorded, dict) else {}
    rows = (QualityAnnotatorResult.objects.filter(run=run).order_by(F("quality").asc(nulls_last=True), "id")
            .values("annotator_id", "annotator__username", *COLUMNS))
    rows = rows[offset:] if limit is None else rows[offset:offset + limit]
    return json.dumps([{"annotator": r["annotator_id"], "username": r["annotator__username"],
                        **{k: r[k] for k in COLUMNS}, "evidence": evidence.get(str(r["annotator_id"]))} for r in rows])
