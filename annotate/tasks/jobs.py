"""The one job task, and the periodic tasks that keep jobs moving; every kind shares one retry policy."""
from celery import shared_task
from django.db import InterfaceError, OperationalError

# A dropped database connection is worth another attempt; a failure of the job itself is not (the job
# records it as failed, and a lead can start a new one).
RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 5, "retry_backoff_max": 120, "max_retries": 3}


@shared_task(name="annotate.tasks.job_run", bind=True, acks_late=True, **RETRY)
def job_run(self, job_id: int) -> None:
    """Claim and run one job of any kind (annotate.services.job_kinds says which executor and queue)."""
    from annotate.services.jobs import job_run as run

    run(job_id=job_id, worker=self.request.hostname or "")


@shared_task(name="annotate.tasks.jobs_sweep", acks_late=True, **RETRY)
def jobs_sweep() -> None:
    """Periodic: resume jobs whose worker died, so every job finishes or says why it did not."""
    from annotate.services.jobs import jobs_sweep as sweep

    sweep()


@shared_task(name="annotate.tasks.projects_reanalyse", acks_late=True, **RETRY)
def projects_reanalyse() -> None:
    """Periodic: analyse projects that received enough new answers since their last run."""
    from annotate.services.quality import projects_reanalyse as reanalyse

    reanalyse()
