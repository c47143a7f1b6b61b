"""Import tasks: run an uploaded file's import job in the worker."""
from celery import shared_task
from django.db import OperationalError


@shared_task(name="annotate.tasks.import_run", autoretry_for=(OperationalError,), retry_backoff=5, max_retries=3)
def import_run(job_id: int) -> None:
    """Run one import job; retrying is safe because exact duplicates are skipped on a rerun."""
    from annotate.services.imports import import_job_run

    import_job_run(job_id=job_id)
