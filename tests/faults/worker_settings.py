"""Settings for the worker and beat processes of the fault tests: the test settings, with tasks sent to the
broker (not run in-process) and job heartbeats, staleness and the sweep shortened from 20/90/30 s so a dead
worker's job is taken over in seconds. The broker and cache URLs come from the environment, as in production."""
from server.settings.test import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = False
FERLAB_JOB_HEARTBEAT_SECONDS = 0.5
FERLAB_JOB_STALE_SECONDS = 5.0
FERLAB_JOB_SWEEP_SECONDS = 1.0
CELERY_BEAT_SCHEDULE = {"sweep-jobs": {"task": "annotate.tasks.jobs_sweep", "schedule": FERLAB_JOB_SWEEP_SECONDS}}
