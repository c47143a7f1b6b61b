"""Health tasks: a round trip through the real broker and worker."""
from celery import shared_task


@shared_task(name="annotate.tasks.ping")
def ping(job_id: int) -> None:
    """Round trip that proves a worker consumes the broker and reaches the database."""
    from annotate.services.jobs import job_ping

    job_ping(job_id=job_id)
