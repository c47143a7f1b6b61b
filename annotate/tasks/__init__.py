"""Celery tasks: thin interfaces (id in, one service call, one retry policy). Celery's autodiscovery imports this package."""
from annotate.tasks.jobs import job_run, jobs_sweep, projects_reanalyse  # noqa: F401
