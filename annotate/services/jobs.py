"""The one background-job path: enqueue a Job row, send the one task by name on commit, claim, run, record.

Lifecycle: ``job_enqueue`` creates the row (queued) and, once the transaction commits, sends
``annotate.tasks.job_run`` to the queue of the job's kind (annotate.services.job_kinds). ``job_run`` claims the
job under a row lock (so a redelivered or repeated task never runs it twice at once), runs the kind's executor
while a thread keeps the heartbeat fresh, and records succeeded, failed or cancelled. Executors report through
``job_progress``, which is also where a cancel request or a takeover by another attempt is noticed.
``jobs_sweep`` (periodic) sends again every job whose worker died, so it is resumed.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import JOB_FINISHED, Job, JobKind, JobStatus, Project
from annotate.services.job_broker import STAGE_UNSENT, jobs_lost_by_the_broker
from annotate.services.job_kinds import JOB_KINDS, JobKindSpec

logger = logging.getLogger(__name__)

JOB_TASK = "annotate.tasks.job_run"
# A job whose workers died this many times is failed instead of being resumed again.
MAX_ATTEMPTS = 3
DATABASE_ERRORS = (OperationalError, InterfaceError)


def job_stale_after() -> timedelta:
    """A running job whose heartbeat is older than this is taken to be dead (its worker was killed or lost);
    with the defaults (90 s, the sweep every 30 s) a dead worker's job is resumed within two minutes of its
    last beat. Read from settings at each use, so that fault tests can shorten the wait."""
    return timedelta(seconds=settings.FERLAB_JOB_STALE_SECONDS)


def job_heartbeat_seconds() -> float:
    """How often the heartbeat thread beats while an executor runs, whatever the executor is doing."""
    return float(settings.FERLAB_JOB_HEARTBEAT_SECONDS)


class JobCancelled(Exception):
    """Raised at a progress point when a lead cancelled the job: the executor stops, the engine cleans up."""


class JobLost(Exception):
    """Raised at a progress point when another attempt took the job over (this worker was taken for dead)."""


# --- enqueue ----------------------------------------------------------------------------------------------

def job_kind_spec(kind: str) -> JobKindSpec:
    spec = JOB_KINDS.get(kind)
    if spec is None:
        raise ValidationFailed(
            f"Unknown job kind {kind!r}; one of {', '.join(sorted(JOB_KINDS))}.", code="unknown_job_kind",
        )
    return spec


def job_params_check(*, spec: JobKindSpec, params: dict | None) -> dict:
    """The params, checked against what the kind takes: unknown names, missing ones and wrong types are errors."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ValidationFailed(
            f"This kind of job takes no parameter {', '.join(unknown)}; it takes {', '.join(sorted(spec.params)) or 'none'}.",
            code="invalid_params", details={"unknown": unknown},
        )
    missing = [name for name in spec.required if name not in params]
    if missing:
        raise ValidationFailed(f"Missing parameter {', '.join(missing)}.", code="invalid_params", details={"missing": missing})
    for name, value in params.items():
        want = spec.params[name]
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            params[name], ok = float(value), True
        if not ok:
            raise ValidationFailed(
                f"Parameter {name} must be a {want.__name__}, not {type(value).__name__}.", code="invalid_params",
                details={name: want.__name__},
            )
    return params


def job_queue_name(spec: JobKindSpec) -> str:
    return settings.FERLAB_JOB_QUEUES[spec.queue]


def _job_create(*, kind: str, project: Project | None, params: dict | None, created_by) -> Job:
    spec = job_kind_spec(kind)
    params = job_params_check(spec=spec, params=params)
    return Job.objects.create(kind=kind, project=project, params=params, created_by=created_by, queue=job_queue_name(spec))


def job_enqueue(*, kind: str, project: Project | None, params: dict | None = None, created_by=None) -> Job:
    """Create a queued job and send it to its kind's queue once the surrounding transaction commits."""
    job = _job_create(kind=kind, project=project, params=params, created_by=created_by)
    transaction.on_commit(lambda: job_send(job=job))
    return job


def job_start_once(*, kind: str, project: Project, params: dict | None = None, created_by=None) -> Job:
    """job_enqueue for a person's click: refused (409 ``job_in_progress``, details {"job": id}) while a job of the
    same kind and options is queued or running for the project, so a double click or a second tab starts one job.

    The project row is locked first, so two requests racing each other are checked one after the other."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("job_start_once must run inside a transaction (it locks the project row)")
    params = job_params_check(spec=job_kind_spec(kind), params=params)
    Project.objects.select_for_update().filter(pk=project.pk).first()
    running = (Job.objects.filter(project=project, kind=kind, params=params, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
               .order_by("id").first())
    if running is not None:
        raise Conflict(
            f"This {_kind_label(kind)} is already {running.status} (job #{running.pk}): it was not started twice.",
            code="job_in_progress", details={"job": running.pk, "status": running.status},
        )
    return job_enqueue(kind=kind, project=project, params=params, created_by=created_by)


def _kind_label(kind: str) -> str:
    return str(JobKind(kind).label).lower() if kind in JobKind.values else kind


def job_run_here(*, kind: str, project: Project | None, params: dict | None = None, created_by=None) -> Job:
    """Create a job and run it in this process now, through the same claim and executor (benchmarks, commands)."""
    job = _job_create(kind=kind, project=project, params=params, created_by=created_by)
    job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def job_send(*, job: Job) -> bool:
    """Send the one task by name (services never import task modules); in-process when there is no broker.

    With the broker unreachable the job stays queued, marked STAGE_UNSENT, and the sweep sends it again
    once the broker answers: the request that started it still succeeds and nothing is lost or stuck.
    """
    from celery import current_app
    from kombu.exceptions import OperationalError as BrokerUnavailable

    current_app.loader.import_default_modules()  # registers the tasks, so an eager app runs them here
    try:
        current_app.signature(JOB_TASK, args=[job.pk], queue=job.queue).apply_async()
    except (BrokerUnavailable, ConnectionError) as exc:
        logger.warning("job %s not sent, the broker is unreachable (%s); the sweep sends it again", job.pk, exc)
        Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(stage=STAGE_UNSENT)
        job.stage = STAGE_UNSENT
        return False
    if job.stage == STAGE_UNSENT:
        Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED, stage=STAGE_UNSENT).update(stage="")
        job.stage = ""
    return True


# --- run --------------------------------------------------------------------------------------------------

def job_claim(*, job_id: int, worker: str = "") -> Job | None:
    """Take the job for a new attempt, or None when it is over or a live worker holds it.

    A redelivered or repeated task therefore never runs a job twice at once, and a job whose worker died
    (running with a stale heartbeat) can be taken again. A queued job with a cancel request ends here.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in JOB_FINISHED:
            return None
        now = timezone.now()
        fresh = job.heartbeat_at is not None and job.heartbeat_at > now - job_stale_after()
        if job.status == JobStatus.RUNNING and fresh:
            return None  # a live attempt holds it (and stops at its next progress point if it was cancelled)
        if job.cancel_requested_at is not None:  # cancelled while queued, or while its dead worker held it
            if job.status == JobStatus.RUNNING:
                _cancelled(job=job, spec=JOB_KINDS[job.kind])
            else:
                _finish(job=job, status=JobStatus.CANCELLED, stage="cancelled before it started")
            return None
        if job.status == JobStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:  # a redelivery after the last death
            _finish(job=job, status=JobStatus.FAILED, error=_given_up(job))
            return None
        resumed = job.attempts > 0
        job.status, job.error = JobStatus.RUNNING, ""
        job.stage = "resumed after its worker was lost" if resumed else "starting"
        job.progress_done, job.progress_total = 0, 0
        job.attempts += 1
        job.worker = worker[:200]
        job.started_at, job.heartbeat_at, job.finished_at = now, now, None
        job.save(update_fields=["status", "error", "stage", "progress_done", "progress_total", "attempts", "worker",
                                "started_at", "heartbeat_at", "finished_at"])
        return job


def job_run(*, job_id: int, worker: str = "") -> Job | None:
    """Claim the job and run its kind's executor; the outcome (result, error or cancel) goes into the row.

    A lost database connection is raised for the task's retry policy, after giving the job back (queued) so
    the retry can claim it; every other failure is recorded on the job and not raised.
    """
    job = job_claim(job_id=job_id, worker=worker or f"{socket.gethostname()}:{os.getpid()}")
    if job is None:
        return None
    spec = JOB_KINDS[job.kind]
    try:
        with _Heartbeat(job=job):
            result = import_string(spec.executor)(job=job)
    except JobLost:
        logger.warning("job %s was taken over by another attempt; this one stops", job.pk)
        return None
    except JobCancelled:
        return _cancelled(job=job, spec=spec)
    except DATABASE_ERRORS:
        _release(job=job)
        raise
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        _finish(job=job, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return job
    if isinstance(result, JobOutcome):
        _finish(job=job, status=JobStatus.FAILED, error=result.error, result=result.result)
    else:
        _finish(job=job, status=JobStatus.SUCCEEDED, result=result)
    return job


class JobOutcome:
    """An executor's way to end a job as failed while keeping a result (an import's report of what it skipped)."""

    def __init__(self, *, error: str, result: dict):
        self.error, self.result = error, result


def job_progress(*, job: Job, done: int, total: int | None = None, stage: str | None = None) -> None:
    """Record progress (visible to pages at once) and stop the executor if the job was cancelled or taken over.

    Called by executors at each step; raises JobCancelled or JobLost, which the engine handles.
    """
    job.progress_done = done
    if total is not None:
        job.progress_total = total
    if stage is not None:
        job.stage = stage
    job.heartbeat_at = timezone.now()
    updated = Job.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, cancel_requested_at__isnull=True,
    ).update(progress_done=job.progress_done, progress_total=job.progress_total, stage=job.stage, heartbeat_at=job.heartbeat_at)
    if not updated:
        _raise_why_stopped(job)


def job_hold(*, job: Job, seconds: float, stage: str | None = None) -> None:
    """A test hook's pause: hold the running job open for ``seconds`` at a progress point every 0.2 s, so a test
    can kill the worker meanwhile, and stop at once (JobCancelled, JobLost) if it is cancelled or taken over."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job_progress(job=job, done=job.progress_done, stage=stage)
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def job_report(*, job: Job, result: dict) -> None:
    """Publish a running job's partial result (a training's curves so far) for pages to read; stops like job_progress."""
    job.result = result
    updated = Job.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, cancel_requested_at__isnull=True,
    ).update(result=result, heartbeat_at=timezone.now())
    if not updated:
        _raise_why_stopped(job)


def job_check(*, job: Job | None) -> None:
    """A progress point that records nothing: stop here if the job was cancelled or taken over."""
    if job is None:
        return
    if not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, cancel_requested_at__isnull=True).exists():
        _raise_why_stopped(job)


def _raise_why_stopped(job: Job) -> None:
    row = Job.objects.filter(pk=job.pk).values("status", "attempts", "cancel_requested_at").first()
    if row is None:
        raise JobLost(f"job {job.pk} no longer exists")
    if row["cancel_requested_at"] is not None and row["attempts"] == job.attempts:
        raise JobCancelled(f"job {job.pk} was cancelled")
    raise JobLost(f"job {job.pk} is now {row['status']} (attempt {row['attempts']}, this is {job.attempts})")


def _finish(*, job: Job, status: str, error: str = "", result: dict | None = None, stage: str | None = None) -> None:
    """End this attempt, unless another attempt has taken the job over meanwhile."""
    now = timezone.now()
    fields = {"status": status, "error": error[:5000], "finished_at": now, "heartbeat_at": now}
    if result is not None:
        fields["result"] = result
    if stage is not None:
        fields["stage"] = stage
    if status == JobStatus.SUCCEEDED:
        fields["progress_done"] = max(job.progress_done, job.progress_total)
    if Job.objects.filter(pk=job.pk, attempts=job.attempts).exclude(status__in=JOB_FINISHED).update(**fields):
        for name, value in fields.items():
            setattr(job, name, value)
    else:
        job.refresh_from_db()


def _cancelled(*, job: Job, spec: JobKindSpec) -> Job:
    removed = import_string(spec.cleanup)(job=job) if spec.cleanup else {}
    _finish(job=job, status=JobStatus.CANCELLED, stage="cancelled", result={"cleanup": removed or {}})
    return job


def _release(*, job: Job) -> None:
    """After a lost database connection: hand the job back (queued) so the task's retry can claim it."""
    try:
        connection.close()
        Job.objects.filter(pk=job.pk, attempts=job.attempts, status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED, stage="waiting for the database", heartbeat_at=None,
        )
    except DATABASE_ERRORS:
        logger.warning("job %s: the database is still away; the sweep resumes the job once it is back", job.pk)


class _Heartbeat:
    """A thread that keeps the job's heartbeat fresh while the executor runs, however long one step takes."""

    def __init__(self, *, job: Job, every: float | None = None):
        self.job, self.every = job, every if every is not None else job_heartbeat_seconds()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job-{job.pk}-heartbeat", daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING, attempts=self.job.attempts).update(
                        heartbeat_at=timezone.now(),
                    )
                except DATABASE_ERRORS:
                    logger.warning("job %s: heartbeat not recorded (database unavailable)", self.job.pk)
                    close_old_connections()
        finally:
            connection.close()


# --- cancel and sweep -------------------------------------------------------------------------------------

def job_cancel(*, job: Job, cancelled_by=None) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its next progress point."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status in JOB_FINISHED:
            raise Conflict(f"The job has {job.status} already; there is nothing to cancel.", code="job_finished")
        if job.cancel_requested_at is not None:
            return job
        job.cancel_requested_at, job.cancelled_by = timezone.now(), cancelled_by
        fields = ["cancel_requested_at", "cancelled_by"]
        if job.status == JobStatus.QUEUED:
            job.status, job.finished_at, job.stage = JobStatus.CANCELLED, job.cancel_requested_at, "cancelled before it started"
            # It wrote nothing yet, but what it was given can be in storage (an import's upload, up to 2 GB): its kind's
            # cleanup removes that, as after a cancel mid-run.
            cleanup = JOB_KINDS[job.kind].cleanup
            job.result = {"cleanup": (import_string(cleanup)(job=job) if cleanup else {}) or {}}
            fields += ["status", "finished_at", "stage", "result"]
        job.save(update_fields=fields)
    return job


def jobs_sweep(*, now=None) -> dict:
    """Periodic: send jobs the broker missed, resume jobs whose worker died (stale heartbeat), finish the
    cancelled ones, fail the hopeless.

    A job is sent again (queued, the next attempt claims it) until MAX_ATTEMPTS attempts have died. A queued job
    whose message the broker lost (a Redis that restarted without its data) is sent again too.
    """
    now = now or timezone.now()
    counts = {"sent": 0, "resumed": 0, "cancelled": 0, "failed": 0}
    sent = set()
    for job in Job.objects.filter(status=JobStatus.QUEUED, stage=STAGE_UNSENT).order_by("id"):
        if job_send(job=job):
            counts["sent"] += 1
            sent.add(job.pk)
    before = now - job_stale_after()
    for job in jobs_lost_by_the_broker(before=before):
        if job.pk not in sent:
            logger.warning("job %s, queued since %s, is not in its empty queue %s: the broker lost it; sent again",
                           job.pk, job.created_at, job.queue)
            counts["sent"] += job_send(job=job)
    stale = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=before).values_list("pk", flat=True))
    for job_id in stale:
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=before).first()
            if job is None:
                continue
            if job.cancel_requested_at is not None:  # cancelled while its worker was dying: clean up here
                _cancelled(job=job, spec=JOB_KINDS[job.kind])
                counts["cancelled"] += 1
            elif job.attempts >= MAX_ATTEMPTS:
                _finish(job=job, status=JobStatus.FAILED, error=_given_up(job))
                counts["failed"] += 1
            else:
                Job.objects.filter(pk=job.pk).update(
                    status=JobStatus.QUEUED, stage=f"worker lost during attempt {job.attempts}; queued to resume",
                )
                transaction.on_commit(lambda job=job: job_send(job=job))
                counts["resumed"] += 1
    return counts


def job_worker_lost(*, job_id: int, worker: str) -> bool:
    """The process running the job's attempt died (its worker's main process saw it go): age the heartbeat past
    staleness, so the task Celery redelivers takes the job over at once instead of finding a fresh beat and
    leaving it to the sweep (up to two minutes). Should the redelivery not come, the next sweep resumes it."""
    dead = timezone.now() - job_stale_after() - timedelta(seconds=1)
    return bool(Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker=worker[:200]).update(heartbeat_at=dead))


def _given_up(job: Job) -> str:
    return f"The worker stopped sending heartbeats {job.attempts} times (killed or lost); not resumed again."


# --- the health-check kind --------------------------------------------------------------------------------

def ping_execute(*, job: Job) -> dict:
    """A round trip through the broker and a worker; ``seconds`` holds it open at progress points (5 a second)."""
    seconds = float(job.params.get("seconds", 0.0))
    if job.params.get("first_attempt_only") and job.attempts > 1:
        seconds = 0.0
    steps = int(seconds * 5)
    job_progress(job=job, done=0, total=steps, stage="holding" if steps else "answering")
    for step in range(steps):
        time.sleep(0.2)
        job_progress(job=job, done=step + 1)
    return {"pid": os.getpid(), "host": socket.gethostname(), "database": connection.vendor, "attempt": job.attempts}
