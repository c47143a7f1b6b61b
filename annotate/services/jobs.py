"""Background-job bookkeeping: state, progress and heartbeat of Job rows, shared by every task."""
import os
import socket
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from annotate.models import Job, JobKind, JobStatus

# A running job whose heartbeat is older than this is taken to be dead (its worker was killed).
STALE_AFTER = timedelta(minutes=5)


def job_create(*, kind: str, project=None, params: dict | None = None, created_by=None) -> Job:
    if kind not in JobKind.values:
        raise ValueError(f"unknown job kind {kind!r}")
    return Job.objects.create(kind=kind, project=project, params=params or {}, created_by=created_by)


def job_start(*, job: Job, total: int = 0, stage: str = "") -> Job:
    """Claim the job for this attempt: running, progress reset, one more attempt counted."""
    now = timezone.now()
    job.status, job.error, job.stage = JobStatus.RUNNING, "", stage
    job.progress_done, job.progress_total = 0, total
    job.attempts += 1
    job.started_at, job.heartbeat_at, job.finished_at = now, now, None
    job.save(update_fields=["status", "error", "stage", "progress_done", "progress_total", "attempts", "started_at", "heartbeat_at", "finished_at"])
    return job


def job_progress(*, job: Job, done: int, total: int | None = None, stage: str | None = None) -> None:
    """Record progress outside any surrounding transaction so that pages see it while the job runs."""
    job.progress_done = done
    if total is not None:
        job.progress_total = total
    if stage is not None:
        job.stage = stage
    job.heartbeat_at = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        progress_done=job.progress_done, progress_total=job.progress_total, stage=job.stage, heartbeat_at=job.heartbeat_at
    )


def job_succeed(*, job: Job, result: dict | None = None) -> Job:
    job.status, job.result, job.finished_at = JobStatus.SUCCEEDED, result or {}, timezone.now()
    job.progress_done = max(job.progress_done, job.progress_total)
    job.save(update_fields=["status", "result", "finished_at", "progress_done"])
    return job


def job_fail(*, job: Job, error: str) -> Job:
    job.status, job.error, job.finished_at = JobStatus.FAILED, error[:5000], timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job


def jobs_fail_stale(*, now=None) -> int:
    """Mark running jobs whose heartbeat stopped (worker killed) as failed, so they can be rerun."""
    now = now or timezone.now()
    with transaction.atomic():
        return Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
            status=JobStatus.FAILED, error="The worker stopped sending heartbeats (killed or lost).", finished_at=now
        )


def job_ping(*, job_id: int) -> Job:
    """Mark a ping job done, recording which process and database answered."""
    job = Job.objects.get(pk=job_id)
    return job_succeed(job=job, result={"pid": os.getpid(), "host": socket.gethostname(), "database": connection.vendor})
