"""Celery tasks: thin interfaces (id in, load, one service call, retry policy), enqueued on commit.

Celery's autodiscovery imports this package; each concern's module is imported here.
"""
from annotate.tasks.health import ping  # noqa: F401
from annotate.tasks.quality import analyse, jobs_fail_stale, prelabel, projects_reanalyse  # noqa: F401
from annotate.tasks.imports import import_run  # noqa: F401
