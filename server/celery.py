"""The one Celery app; tasks are discovered in each installed app's tasks.py."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings.base")

app = Celery("ferlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
