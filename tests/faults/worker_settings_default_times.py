"""Settings for a fault-test worker with production's job intervals (heartbeat 20 s, stale after 90 s): the test
settings, with tasks sent to the broker rather than run in-process. Broker and cache URLs come from the environment."""
from server.settings.test import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = False
