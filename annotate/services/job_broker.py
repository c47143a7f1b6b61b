"""What the broker holds for queued jobs: how many messages wait in a queue, and which jobs' messages it lost.

Kept apart from the job engine (annotate.services.jobs), whose sweep asks it.
"""
from __future__ import annotations

import logging

from django.conf import settings

from annotate.models import Job, JobStatus

logger = logging.getLogger(__name__)

# The stage of a queued job whose task could not reach the broker yet (the sweep sends it again).
STAGE_UNSENT = "waiting for the broker: sent as soon as it answers"


def jobs_lost_by_the_broker(*, before) -> list[Job]:
    """Queued jobs, sent before `before`, whose queue in the broker is empty: a message still waiting would keep
    its queue non-empty, so theirs is gone. While a queue has a backlog its jobs are left alone (no duplicates);
    a job sent twice all the same runs once, as job_claim drops the second message."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return []
    waiting = Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=before).exclude(stage=STAGE_UNSENT)
    waiting = waiting.order_by("id")
    depths: dict[str, int | None] = {}
    lost = []
    for job in waiting:
        if job.queue not in depths:
            depths[job.queue] = broker_queue_depth(name=job.queue)
        if depths[job.queue] == 0:
            lost.append(job)
    return lost


def broker_queue_depth(*, name: str) -> int | None:
    """Messages waiting in the broker's queue `name` (0 when it does not exist), or None when the broker is away."""
    from celery import current_app
    from kombu.exceptions import ChannelError
    from kombu.exceptions import OperationalError as BrokerUnavailable

    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            try:
                return channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # no such queue: nothing waits in it
                return 0
            finally:
                try:
                    channel.close()
                except Exception:  # a channel the broker already closed after the passive declare
                    pass
    except (BrokerUnavailable, ConnectionError, OSError) as exc:
        logger.warning("queue %s: depth unknown, the broker is unreachable (%s)", name, exc)
        return None
