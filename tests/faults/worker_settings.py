"""Settings for the fault tests' worker and beat: production's job intervals shortened (heartbeat 20 -> 0.5 s,
stale after 90 -> 5 s, sweep every 30 -> 1 s) so the sweep's takeover of a dead worker's job shows in seconds."""
from tests.faults.worker_settings_default_times import *  # noqa: F401,F403

FERLAB_JOB_HEARTBEAT_SECONDS = 0.5
FERLAB_JOB_STALE_SECONDS = 5.0
FERLAB_JOB_SWEEP_SECONDS = 1.0
CELERY_BEAT_SCHEDULE = {"sweep-jobs": {"task": "annotate.tasks.jobs_sweep", "schedule": FERLAB_JOB_SWEEP_SECONDS}}
