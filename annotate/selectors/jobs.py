"""Job reads: one job, a project's jobs newest first, and what a finished job produced."""
from django.db.models import QuerySet
from django.urls import reverse

from annotate.exceptions import NotFound
from annotate.models import Export, Job, JobKind, JobStatus
from annotate.selectors.run_numbers import analyse_outcome


def job_get(*, job_id: int) -> Job:
    job = Job.objects.select_related("created_by", "cancelled_by").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such job.")
    return job


def jobs_for_project(*, project_id: int, kind: str | None = None, status: str | None = None) -> QuerySet[Job]:
    """The project's jobs, newest first (with who started and who cancelled them)."""
    jobs = Job.objects.filter(project_id=project_id).select_related("created_by", "cancelled_by")
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "-id")


def job_output(*, job: Job, run_numbers: dict[int, int] | None = None) -> dict | None:
    """What a succeeded job produced, as {"label", "url"} for a page to link to; None while there is nothing.
    run_numbers: the project's quality_run_numbers, when the caller lists many jobs."""
    if job.status != JobStatus.SUCCEEDED or job.project_id is None:
        return None
    result = job.result or {}
    if job.kind == JobKind.ANALYSE and result.get("quality_run"):
        outcome = analyse_outcome(result=result, numbers=run_numbers)
        return {"label": outcome["label"], "url": reverse("project-overview", args=[job.project_id])}
    if job.kind == JobKind.IMPORT:
        return {"label": f"{result.get('imported', 0)} faces imported, {result.get('skipped_count', 0)} skipped (report)",
                "url": reverse("project-upload", args=[job.project_id]) + f"?job={job.pk}"}
    if job.kind == JobKind.EXPORT and result.get("export"):
        export = Export.objects.filter(pk=result["export"]).values("version_id", "version__number", "format").first()
        if export:
            return {"label": f"{export['format']} of version {export['version__number']} ({result.get('size', 0) / 1e6:.1f} MB)",
                    "url": reverse("project-version", args=[job.project_id, export["version_id"]])}
    if job.kind == JobKind.PRELABEL:
        return {"label": f"{result.get('scored', 0)} faces scored", "url": reverse("project-issues", args=[job.project_id])}
    if job.kind == JobKind.TRAIN and result.get("model_version"):
        evaluation = result.get("evaluation") or {}
        figure = f", {evaluation['accuracy_majority']:.1%} on the evaluation set's vote majority" if evaluation.get("accuracy_majority") is not None else ""
        return {"label": f"model version {result['model_version']}{figure}",
                "url": reverse("project-models", args=[job.project_id]) + f"?job={job.pk}"}
    if job.kind == JobKind.EVALUATE:
        return {"label": f"{len(result.get('scored', []))} model versions scored on {result.get('faces', 0)} faces",
                "url": reverse("project-models", args=[job.project_id])}
    return None
