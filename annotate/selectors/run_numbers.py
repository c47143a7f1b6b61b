"""Quality-run numbers: the one definition every page uses ("run #3" = the project's third run, by creation).

A run's database id counts every project's runs, so "run 57" on one page and a job's "#58" on another told a
lead nothing; the per-project sequence is stable (runs are never deleted but with their project) and is shown
as ``run #N`` everywhere: overview, agreement, annotators, jobs, dataset versions and their data cards.
"""
from django.db.models import Q

from annotate.models import QualityRun

# The order runs are numbered in, the same as quality_run_latest's (newest = highest number).
RUN_ORDER = ("created_at", "id")


def quality_run_numbers(*, project_id: int) -> dict[int, int]:
    """{run id: its number 1..n} for every run of the project."""
    ids = QualityRun.objects.filter(project_id=project_id).order_by(*RUN_ORDER).values_list("id", flat=True)
    return {run_id: number for number, run_id in enumerate(ids, start=1)}


def quality_run_number(*, run: QualityRun | None) -> int | None:
    """The run's number within its project (one count query), None for no run."""
    if run is None:
        return None
    earlier = Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, id__lte=run.pk)
    return QualityRun.objects.filter(project_id=run.project_id).filter(earlier).count()


def quality_run_number_of(*, run_id: int | None) -> int | None:
    """quality_run_number for a run id (None when there is no such run)."""
    run = QualityRun.objects.filter(pk=run_id).only("id", "project_id", "created_at").first() if run_id else None
    return quality_run_number(run=run)


def run_label(number: int | None) -> str:
    """How a run is named to people: ``run #N``."""
    return f"run #{number}" if number else "no run"


def analyse_outcome(*, result: dict | None, numbers: dict[int, int] | None = None) -> dict | None:
    """What a finished analyse job produced, named the one way: {run, number, reused, label}; None without a run.

    The quality service returns the earlier run, with ``reused``, when nothing changed since it (same answers,
    items, exclusions, model and options): the label then says so instead of naming it as if it were new."""
    run_id = (result or {}).get("quality_run")
    if not run_id:
        return None
    number = numbers[run_id] if numbers and run_id in numbers else quality_run_number_of(run_id=run_id)
    reused = bool((result or {}).get("reused"))
    name = run_label(number) if number else "a quality run that is no longer stored"
    label = f"reused {name}'s result (nothing changed since)" if reused else name
    return {"run": run_id, "number": number, "reused": reused, "label": label}


def analyse_latest_outcome(*, project_id: int, numbers: dict[int, int] | None = None) -> dict | None:
    """The newest succeeded analyse job of the project, as analyse_outcome plus its job id and finish time."""
    from annotate.models import Job, JobKind, JobStatus

    job = (Job.objects.filter(project_id=project_id, kind=JobKind.ANALYSE, status=JobStatus.SUCCEEDED)
           .order_by("-finished_at", "-id").only("id", "result", "finished_at").first())
    outcome = analyse_outcome(result=job.result, numbers=numbers) if job else None
    if outcome is None:
        return None
    return {**outcome, "job": job.pk, "finished_at": job.finished_at.isoformat() if job.finished_at else None}
