"""Annotator activity at crowd size: the figures as of the latest quality run, recounted only for who answered since.

stats.annotator_activity aggregates every answer of the project on each request of the annotators table: 2.2 s over
3,000,000 answers on two cores, about 7 s at 10,000,000. A run records the same figures over the answers up to its
watermark when it is written (activity_snapshot); answers are append-only, so an annotator with no answer after the
watermark still has exactly those figures, and only those who answered since are aggregated again, over their own
answers (annotation_speed_idx). The figures stay exact; the cost follows the activity since the run.
"""
from datetime import datetime

from django.db import connection

from annotate import fastpaths
from annotate.models import Annotation, Project, QualityRun
from annotate.selectors.stats import annotator_activity

_SQL = (
    "SELECT annotator_id, count(*), count(replaces_id), max(created_at), "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE replaces_id IS NULL) "
    f"FROM {Annotation._meta.db_table} WHERE project_id = %s AND {{where}} GROUP BY annotator_id"
)


def _aggregate(where: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_SQL.format(where=where), params)
        return cursor.fetchall()


def _figures(rows: int, corrections: int, last, median_seconds) -> dict:
    """stats.annotator_activity's figures (live answers = rows - corrections: each correction replaces one)."""
    return {"answers": rows - corrections, "corrections": corrections, "last_answer_at": last,
            "median_seconds": None if median_seconds is None else float(median_seconds)}


def _snapshot_figures(row: list) -> dict:
    """_figures of one annotator's snapshot entry [rows, corrections, last answer (ISO) or None, median seconds]."""
    n, fixes, last, median_seconds = row
    return _figures(n, fixes, datetime.fromisoformat(last) if last else None, median_seconds)


def _usable() -> bool:
    return connection.vendor == "postgresql" and fastpaths.enabled()


def activity_snapshot(*, project_id: int, watermark: int) -> dict | None:
    """Every annotator's activity over the answers with id <= watermark, for the run's summary (None off PostgreSQL)."""
    if not _usable():
        return None
    rows = _aggregate("id <= %s", [project_id, watermark])
    return {"watermark": watermark,
            "annotators": {str(a): [n, fixes, last.isoformat() if last else None, m] for a, n, fixes, last, m in rows}}


def activity_since_run(*, project: Project, run: QualityRun | None, only: set[int] | None = None) -> dict[int, dict]:
    """stats.annotator_activity's figures for every annotator (or those in `only`), from the run's snapshot plus who
    answered since."""
    snapshot = (run.summary or {}).get("annotator_activity") if run is not None else None
    if not snapshot or not _usable():
        figures = annotator_activity(project=project)
        return figures if only is None else {a: f for a, f in figures.items() if a in only}
    watermark = snapshot["watermark"]
    answered = Annotation.objects.filter(project=project, id__gt=watermark)
    if only is not None:
        answered = answered.filter(annotator_id__in=only)
    since = set(answered.values_list("annotator_id", flat=True).distinct())
    recorded = snapshot["annotators"]
    keys = recorded if only is None else [str(a) for a in only if str(a) in recorded]
    figures = {int(a): _snapshot_figures(recorded[a]) for a in keys if int(a) not in since}
    if since:
        figures.update({a: _figures(n, fixes, last, m) for a, n, fixes, last, m in _aggregate("annotator_id = ANY(%s)", [project.pk, list(since)])})
    return figures


def answering_annotator_ids(*, project: Project, run: QualityRun | None) -> set[int]:
    """Everyone with an answer in the project: the run snapshot's annotators plus who answered since (no figures)."""
    snapshot = (run.summary or {}).get("annotator_activity") if run is not None else None
    if not snapshot or not _usable():
        return set(Annotation.objects.filter(project=project).values_list("annotator_id", flat=True).distinct())
    since = Annotation.objects.filter(project=project, id__gt=snapshot["watermark"]).values_list("annotator_id", flat=True).distinct()
    return {int(a) for a in snapshot["annotators"]} | set(since)
