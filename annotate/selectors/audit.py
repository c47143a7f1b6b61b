"""Audit reads for the project overview: progress, throughput, class balance and agreement over runs."""
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, JSONField, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber, TruncHour
from django.utils import timezone

from annotate.models import Annotation, Assignment, AssignmentStatus, Item, Project, QualityItemResult, QualityRun
from annotate.selectors.run_numbers import RUN_ORDER, quality_run_number


# The one summary key only the annotators' views read (selectors.activity_snapshot): 600 KB at 10,000 annotators.
_SNAPSHOT = "annotator_activity"


def quality_run_latest_brief(*, project_id: int) -> QualityRun | None:
    """selectors.quality.quality_run_latest for the views that only read the run (issues, facets, overview): its
    summary without the annotator activity snapshot, dropped by the database before sending. Reading and parsing the
    whole summary took 40-160 ms of every such request at 10,000 annotators (#20). Never save the run it returns:
    its summary is partial."""
    column = f'"{QualityRun._meta.db_table}"."summary"'
    if connection.vendor == "postgresql":
        brief = RawSQL(f"{column} - %s", (_SNAPSHOT,), output_field=JSONField())
    else:
        brief = RawSQL(f"json_remove({column}, %s)", (f"$.{_SNAPSHOT}",), output_field=JSONField())
    run = (QualityRun.objects.filter(project_id=project_id).order_by("-created_at", "-id").defer("summary")
           .annotate(brief_summary=brief).first())
    if run is not None:
        run.summary = run.brief_summary
    return run


def overview_progress(*, project: Project) -> dict:
    """Items by number of answers, gold coverage and live leases, in two queries: the items' figures all come from one
    pass grouped by the few columns they depend on (two passes, a scan and an index walk, at a million faces before)."""
    groups = (
        Item.objects.filter(project=project).order_by()
        .values_list("answer_count", "excluded", "is_gold", "extra_answers").annotate(n=Count("*"))
    )
    by_count: dict[int, int] = {}
    totals = {"items": 0, "excluded_items": 0, "gold": 0, "gold_answered": 0, "done": 0}
    for answers, excluded, gold, extra, n in groups:
        totals["items"] += n
        totals["excluded_items"] += n if excluded else 0
        totals["gold"] += n if gold else 0
        totals["gold_answered"] += n if gold and answers > 0 else 0
        if not excluded:
            by_count[answers] = by_count.get(answers, 0) + n
            totals["done"] += n if answers >= extra + project.overlap_target else 0
    live_leases = Assignment.objects.filter(
        project=project, status=AssignmentStatus.OPEN, expires_at__gt=timezone.now()
    ).count()
    top = max(by_count, default=0)
    histogram = [{"answers": n, "items": by_count.get(n, 0)} for n in range(0, max(top, project.overlap_target) + 1)]
    return {
        **totals,
        "answers": sum(n * c for n, c in by_count.items()),
        "live_leases": live_leases,
        "overlap_target": project.overlap_target,
        "by_answer_count": histogram,
        "gold_coverage": totals["gold_answered"] / totals["gold"] if totals["gold"] else None,
    }


def _hourly(*, project: Project, since, until=None) -> dict:
    qs = Annotation.objects.filter(project=project, created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return dict(qs.annotate(hour=TruncHour("created_at")).values_list("hour").annotate(n=Count("id")).order_by())


def answers_per_hour(*, project: Project, days: int = 14) -> list[dict]:
    """Answers submitted per hour over the last `days` days, from the first hour with an answer up to the
    current hour (hours without answers included as zero, so a quiet afternoon reads as zero, not as a gap).

    Answers are append-only and stamped on arrival, so finished hours never change: they are counted
    once per hour and cached; only the current hour is counted on every request.
    """
    this_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    since = this_hour - timedelta(days=days)
    key = f"ferlab:answers-per-hour:{project.pk}:{project.created_at.timestamp()}:{days}:{this_hour.timestamp()}"
    counts = cache.get(key)
    if counts is None:
        counts = _hourly(project=project, since=since, until=this_hour)
        cache.set(key, counts, timeout=3600)
    counts = {**counts, **_hourly(project=project, since=this_hour)}
    if not counts:
        return []
    hour, last, series = min(counts), max(max(counts), this_hour), []
    while hour <= last:
        series.append({"hour": hour.isoformat(), "answers": counts.get(hour, 0)})
        hour += timedelta(hours=1)
    return series


def class_balance(*, project: Project, run: QualityRun | None) -> list[dict]:
    """Items per consensus label in the run, in project label order (labels nobody chose included)."""
    if run is None:
        return []
    # The run counted these when it finished (services.quality's summary); grouping its million results again on
    # every overview cost 100-300 ms. A run's summary has every label as a key; without them (older runs) they are counted.
    recorded = (run.summary or {}).get("class_balance") or {}
    counts = {label: n for label, n in recorded.items() if n}
    if not recorded:
        counts = dict(
            QualityItemResult.objects.filter(run=run).exclude(consensus_label="")
            .values_list("consensus_label").annotate(n=Count("id")).order_by()
        )
    labels = list(project.labels) + sorted(set(counts) - set(project.labels))
    return [{"label": label, "items": counts.get(label, 0)} for label in labels]


def agreement_trend(*, project: Project, limit: int = 30) -> list[dict]:
    """Krippendorff's alpha and Fleiss' kappa of the last `limit` runs, oldest first, each with its run number
    (annotate.selectors.run_numbers' definition, counted in the same query by a window over all the runs).

    Only the two figures are read out of each summary: a run's summary also holds its annotator activity snapshot
    (600 KB at 10,000 annotators), read and parsed for nothing before (#20)."""
    runs = list(
        QualityRun.objects.filter(project=project)
        .annotate(number=Window(RowNumber(), order_by=[F(field).asc() for field in RUN_ORDER]))
        .order_by("-created_at", "-id")
        .values("id", "number", "created_at", "finished_at", "annotation_count",
                alpha=F("summary__krippendorff_alpha"), kappa=F("summary__fleiss_kappa"))[:limit]
    )
    return [
        {
            "run": r["id"],
            "number": r["number"],
            "at": (r["finished_at"] or r["created_at"]).isoformat(),
            "answers": r["annotation_count"],
            "krippendorff_alpha": _number(r["alpha"]),
            "fleiss_kappa": _number(r["kappa"]),
        }
        for r in reversed(runs)
    ]


def run_summary(*, run: QualityRun | None, numbers: dict[int, int] | None = None) -> dict:
    """The headline numbers of a run, tolerant of summaries that lack some keys."""
    if run is None:
        return {}
    summary = run.summary or {}
    return {
        "run": run.id,
        "number": quality_run_number(run=run) if numbers is None else numbers.get(run.id),
        "at": (run.finished_at or run.created_at).isoformat(),
        "krippendorff_alpha": _number(summary.get("krippendorff_alpha")),
        "fleiss_kappa": _number(summary.get("fleiss_kappa")),
        "probability_source": run.probability_source or summary.get("probability_source", ""),
        "annotation_count": run.annotation_count,
        "near_duplicates": _count(summary.get("near_duplicates")),
        "outliers": _count(summary.get("outliers")),
    }


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _count(value) -> int | None:
    if isinstance(value, (list, dict)):
        return len(value)
    return value if isinstance(value, int) else None
