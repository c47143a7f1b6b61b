"""Running a background job exactly once per attempt: claim it, run one service, record the outcome."""
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from annotate.models import Job, JobStatus
from annotate.services.jobs import STALE_AFTER, job_fail, job_start, job_succeed


def job_claim(*, job_id: int) -> Job | None:
    """Take the job for this attempt, or None when it already succeeded or a live worker holds it.

    A redelivered or repeated task therefore never runs a job twice at once, and a job whose worker
    died (failed, or running with a stale heartbeat) can be taken again.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == JobStatus.SUCCEEDED:
            return None
        fresh = job.heartbeat_at is not None and job.heartbeat_at > timezone.now() - STALE_AFTER
        if job.status == JobStatus.RUNNING and fresh:
            return None
        return job_start(job=job, stage="starting")


def job_execute(*, job_id: int, execute: Callable[..., dict]) -> Job | None:
    """Claim the job, call ``execute(job=job) -> result``, and mark it succeeded or failed (re-raising)."""
    job = job_claim(job_id=job_id)
    if job is None:
        return None
    try:
        result = execute(job=job)
    except Exception as exc:
        job_fail(job=job, error=f"{type(exc).__name__}: {exc}")
        raise
    return job_succeed(job=job, result=result)
