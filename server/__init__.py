"""FERLab wiring: settings, URLs, the Celery app."""
from server.celery import app as celery_app

__all__ = ("celery_app",)
