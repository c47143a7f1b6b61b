"""Quality tasks: pre-label, analyse, the periodic re-analysis and the stale-job sweep (thin, retried on lost DB connections)."""
from celery import shared_task
from django.db import InterfaceError, OperationalError

# A dropped database connection is worth another attempt; a failure of the analysis itself is not
# (the job records it as failed, and a lead can start a new one).
RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 5, "retry_backoff_max": 120, "max_retries": 3}


@shared_task(name="annotate.tasks.prelabel", acks_late=True, **RETRY)
def prelabel(job_id: int) -> None:
    """Score a project's items with a model version (idempotent: scored items are skipped)."""
    from annotate.services.prelabel import prelabel_execute
    from annotate.services.quality_jobs import job_execute

    job_execute(job_id=job_id, execute=prelabel_execute)


@shared_task(name="annotate.tasks.analyse", acks_late=True, **RETRY)
def analyse(job_id: int) -> None:
    """One quality run over a project (idempotent: same inputs return the existing run)."""
    from annotate.services.quality import quality_run_execute
    from annotate.services.quality_jobs import job_execute

    job_execute(job_id=job_id, execute=quality_run_execute)


@shared_task(name="annotate.tasks.projects_reanalyse", acks_late=True, **RETRY)
def projects_reanalyse() -> None:
    """Periodic: analyse projects that received enough new answers since their last run."""
    from annotate.services.quality import projects_reanalyse as reanalyse

    reanalyse()


@shared_task(name="annotate.tasks.jobs_fail_stale", acks_late=True, **RETRY)
def jobs_fail_stale() -> None:
    """Periodic: mark jobs whose worker stopped sending heartbeats as failed, so they can be run again."""
    from annotate.services.jobs import jobs_fail_stale as fail_stale

    fail_stale()
