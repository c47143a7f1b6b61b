"""Annotator activity fast path: each annotator's answers, corrections and speed in one aggregate; twin: `activity_orm`."""
from statistics import median

from django.db import connection
from django.db.models import Count, Max

from annotate.models import Annotation

_ACTIVITY_SQL = (
    "SELECT annotator_id, count(*), count(replaces_id), max(created_at), "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE replaces_id IS NULL) "
    f"FROM {Annotation._meta.db_table} WHERE project_id = %(project)s {{annotator}} GROUP BY annotator_id"
)


def _figures(*, rows: int, corrections: int, last, median_seconds) -> dict:
    return {"answers": rows - corrections, "corrections": corrections, "last_answer_at": last,
            "median_seconds": None if median_seconds is None else float(median_seconds)}


def activity_postgres(*, project_id: int, annotator_id: int | None = None) -> dict[int, dict]:
    """The same figures as `activity_orm` in one aggregate, medians included (percentile_cont).

    Hand-written because the ORM has no ordered-set aggregate: without it the medians need every answer's
    seconds fetched and sorted in Python, while this is one index-only scan of annotation_speed_idx.
    """
    sql = _ACTIVITY_SQL.format(annotator="AND annotator_id = %(annotator)s" if annotator_id is not None else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project_id, "annotator": annotator_id})
        return {
            a: _figures(rows=n, corrections=fixes, last=last, median_seconds=m) for a, n, fixes, last, m in cursor.fetchall()
        }


def activity_orm(*, project_id: int, annotator_id: int | None = None) -> dict[int, dict]:
    """Per annotator (or the one given): live answers, corrections, median seconds per answer, last answer time.

    Each correction replaces exactly one earlier answer, so live answers = rows - corrections (no self-join).
    The median is over original answers: the time taken to judge a face, not to fix a slip. The portable twin
    of `activity_postgres`; SQLite has no percentile aggregate, so the medians are taken here.
    """
    answers = Annotation.objects.filter(project_id=project_id)
    if annotator_id is not None:
        answers = answers.filter(annotator_id=annotator_id)
    totals = answers.values("annotator_id").annotate(rows=Count("id"), corrections=Count("replaces"), last=Max("created_at"))
    seconds: dict[int, list[float]] = {}
    for a, s in answers.filter(replaces__isnull=True, seconds__isnull=False).values_list("annotator_id", "seconds"):
        seconds.setdefault(a, []).append(s)
    return {
        r["annotator_id"]: _figures(rows=r["rows"], corrections=r["corrections"], last=r["last"],
                                    median_seconds=median(seconds[r["annotator_id"]]) if r["annotator_id"] in seconds else None)
        for r in totals.order_by()
    }
