"""The one job task, and the periodic tasks that keep jobs moving; every kind shares one retry policy."""
import logging

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.worker.request import Request
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

logger = logging.getLogger(__name__)

# A dropped database connection is worth another attempt; a failure of the job itself is not (the job
# records it as failed, and a lead can start a new one).
RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 5, "retry_backoff_max": 120, "max_retries": 3}


class JobRequest(Request):
    """The job task's request as the worker's main process holds it. When the pool child running it dies
    (SIGKILL, out of memory), the job's attempt is marked dead before Celery requeues the message
    (task_reject_on_worker_lost), so the redelivered task resumes the job in seconds."""

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # unwrap ExceptionWithTraceback
        if isinstance(exc, WorkerLostError) and self.args:
            from annotate.services.jobs import job_worker_lost

            try:
                close_old_connections()
                if job_worker_lost(job_id=self.args[0], worker=self.hostname or ""):
                    logger.warning("job %s: its worker child died mid-job; marked dead for the redelivered task",
                                   self.args[0])
            except DatabaseError:  # the sweep resumes the job once its heartbeat is stale
                logger.warning("job %s: its worker child died; not marked (database unavailable)", self.args[0])
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


@shared_task(name="annotate.tasks.job_run", bind=True, acks_late=True, Request=JobRequest, **RETRY)
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
