"""The job engine in-process: enqueue checks, the jobs API, cancel with cleanup, the sweep, heartbeats and takeovers."""
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from annotate.exceptions import Conflict, ValidationFailed
from annotate.models import Item, Job, JobKind, JobStatus, Prediction
from annotate.services import jobs as engine
from annotate.services.imports import import_job_create
from annotate.services.jobs import JobLost, job_cancel, job_claim, job_enqueue, job_progress, job_run, jobs_sweep
from tests.annotate.imports_support import SAMPLE
from tests.annotate.quality_support import model_version_make, tiny_checkpoint


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """run_on_commit(fn) -> fn()'s job after the on-commit task ran in-process."""

    def run(fn) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                job = fn()
        job.refresh_from_db()
        return job

    return run


def cancel_at_progress(monkeypatch, module, *, after: int):
    """Make the n-th progress point of an executor in `module` find a cancel request (a lead clicked cancel)."""
    calls = {"n": 0}
    real = engine.job_progress

    def progress(*, job, **kwargs):
        calls["n"] += 1
        if calls["n"] == after:
            job_cancel(job=job)
        return real(job=job, **kwargs)

    monkeypatch.setattr(module, "job_progress", progress)
    return calls


def test_every_registered_kind_names_an_executor_and_cleanup_that_exist():
    from django.utils.module_loading import import_string

    from annotate.services.job_kinds import JOB_KINDS, QUEUE_DEFAULT, QUEUE_ML

    for kind, spec in JOB_KINDS.items():
        assert kind in JobKind.values and spec.queue in (QUEUE_DEFAULT, QUEUE_ML)
        assert callable(import_string(spec.executor)) and (spec.cleanup is None or callable(import_string(spec.cleanup)))
        assert set(spec.required) <= set(spec.params)


# --- enqueue --------------------------------------------------------------------------------------------

def test_unknown_kinds_and_parameters_are_refused_and_nothing_is_created(make_project):
    project, lead, _ = make_project(annotators=0)
    with pytest.raises(ValidationFailed) as error:
        job_enqueue(kind="reticulate", project=project)
    assert error.value.code == "unknown_job_kind"
    with pytest.raises(ValidationFailed) as error:
        job_enqueue(kind=JobKind.PRELABEL, project=project, params={"epochs": 3})
    assert error.value.code == "invalid_params" and error.value.details == {"unknown": ["epochs"]}
    with pytest.raises(ValidationFailed) as error:
        job_enqueue(kind=JobKind.ANALYSE, project=project, params={"issue_threshold": "high"})
    assert error.value.code == "invalid_params"
    with pytest.raises(ValidationFailed) as error:
        job_enqueue(kind=JobKind.IMPORT, project=project, params={})
    assert error.value.details == {"missing": ["upload"]}
    assert not Job.objects.exists()


def test_each_kind_is_sent_to_the_queue_of_what_it_needs(make_project, settings, django_capture_on_commit_callbacks):
    settings.FERLAB_JOB_QUEUES = {"default": "light-q", "ml": "torch-q"}
    project, lead, _ = make_project(annotators=0)
    with django_capture_on_commit_callbacks(execute=False):
        queues = {kind: job_enqueue(kind=kind, project=project).queue for kind in (JobKind.PRELABEL, JobKind.ANALYSE, JobKind.PING)}
    assert queues == {JobKind.PRELABEL: "torch-q", JobKind.ANALYSE: "torch-q", JobKind.PING: "light-q"}
    assert engine.job_queue_name(engine.job_kind_spec(JobKind.IMPORT)) == "light-q"


# --- the jobs API ---------------------------------------------------------------------------------------

def test_a_lead_starts_lists_and_reads_jobs(make_project, api_client, django_capture_on_commit_callbacks):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "analyse", "params": {"issue_threshold": 0.4}}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "analyse" and body["status"] == "queued" and body["created_by"] == lead.username
    assert body["params"] == {"issue_threshold": 0.4} and body["queue"] == "ml" and body["output"] is None
    listed = api_client.get(f"/api/projects/{project.pk}/jobs/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert api_client.get(f"/api/projects/{project.pk}/jobs/?status=queued&kind=analyse").json()["count"] == 1
    assert api_client.get(f"/api/projects/{project.pk}/jobs/?status=running").json()["count"] == 0


@pytest.mark.parametrize("payload, code", [
    ({"kind": "reticulate"}, "unknown_job_kind"),
    ({"kind": "import", "params": {"upload": "uploads/../../etc/passwd"}}, "unknown_job_kind"),
    ({"kind": "ping"}, "unknown_job_kind"),
    ({"kind": "prelabel", "params": {"epochs": 3}}, "invalid_params"),
    ({"kind": "analyse", "params": {"test_delay_seconds": 600}}, "invalid"),
])
def test_the_api_refuses_bad_job_requests_with_its_error_shape(make_project, api_client, payload, code):
    project, lead, _ = make_project(annotators=0)
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/projects/{project.pk}/jobs/", payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not Job.objects.exists()


def test_only_the_projects_leads_see_and_cancel_its_jobs(make_project, make_user, api_client, django_capture_on_commit_callbacks):
    project, lead, (annotator,) = make_project(annotators=1)
    other, other_lead, _ = make_project(annotators=0)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead)
    for user, status in ((annotator, 403), (other_lead, 404), (make_user(), 404)):
        api_client.force_authenticate(user)
        assert api_client.get(f"/api/jobs/{job.pk}/").status_code == status
        assert api_client.post(f"/api/jobs/{job.pk}/cancel/").status_code == status
        assert api_client.get(f"/api/projects/{project.pk}/jobs/").status_code == status
    api_client.force_authenticate(None)
    assert api_client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 401
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.cancel_requested_at is None


def test_cancelling_a_queued_job_ends_it_and_its_task_does_nothing(make_project, api_client, django_capture_on_commit_callbacks):
    project, lead, _ = make_project(annotators=0)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead)
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 202 and response.json()["status"] == "cancelled" and response.json()["cancelled_by"] == lead.username
    assert job_run(job_id=job.pk) is None  # the message arrives later: nothing runs
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.attempts == 0
    again = api_client.post(f"/api/jobs/{job.pk}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_cancelling_a_finished_job_is_a_conflict_and_changes_nothing(make_project, run_on_commit):
    project, lead, _ = make_project(annotators=0)
    job = run_on_commit(lambda: job_enqueue(kind=JobKind.PING, project=project, created_by=lead))
    assert job.status == JobStatus.SUCCEEDED
    with pytest.raises(Conflict):
        job_cancel(job=job, cancelled_by=lead)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.cancel_requested_at is None


# --- cancel while running leaves nothing partial --------------------------------------------------------

def test_an_import_cancelled_at_a_progress_point_removes_what_it_created(make_project, run_on_commit, monkeypatch):
    import annotate.services.imports as imports

    project, lead, _ = make_project(annotators=0)
    cancel_at_progress(monkeypatch, imports, after=3)  # the start, the first ticks, then the end of the rows
    upload = SimpleUploadedFile("fer2013.csv", (SAMPLE / "fer2013_sample.csv").read_bytes())
    job = run_on_commit(lambda: import_job_create(project=project, upload=upload, created_by=lead))
    assert job.status == JobStatus.CANCELLED, (job.status, job.error, job.stage)
    assert job.result["cleanup"] == {"items_removed": 300, "items_kept_answered": 0}
    assert not Item.objects.filter(project=project).exists()
    assert not default_storage.exists(job.params["upload"])
    folder = Path(settings.MEDIA_ROOT) / "items" / str(project.pk)
    assert folder.is_dir() and not [p for p in folder.rglob("*") if p.is_file()]  # no crop left behind


def test_a_prelabel_cancelled_between_batches_removes_its_predictions(make_project, make_items, run_on_commit, monkeypatch, tmp_path):
    import annotate.services.prelabel as prelabel

    project, lead, _ = make_project(annotators=0)
    make_items(project, 12)
    model_version_make(checkpoint=tiny_checkpoint(tmp_path / "tiny.pt"))
    monkeypatch.setattr(prelabel, "PRELABEL_BATCH", 4)
    calls = cancel_at_progress(monkeypatch, prelabel, after=2)  # after the first batch of 4 was written
    job = run_on_commit(lambda: job_enqueue(kind=JobKind.PRELABEL, project=project, created_by=lead))
    assert job.status == JobStatus.CANCELLED and calls["n"] == 2
    assert job.progress_done == 0 and job.result == {"cleanup": {"predictions_removed": 4}}
    assert not Prediction.objects.exists()


# --- a dead worker's job is resumed; a live one is never run twice --------------------------------------

def _running(project, *, attempts=1, beat_minutes_ago=10) -> Job:
    return Job.objects.create(
        kind=JobKind.PING, project=project, status=JobStatus.RUNNING, attempts=attempts, queue="default",
        heartbeat_at=timezone.now() - timedelta(minutes=beat_minutes_ago), started_at=timezone.now() - timedelta(minutes=20),
    )


def test_the_sweep_resumes_a_dead_workers_job_which_then_completes(make_project, django_capture_on_commit_callbacks):
    project, lead, _ = make_project(annotators=0)
    dead, alive = _running(project), _running(project, beat_minutes_ago=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == {"sent": 0, "resumed": 1, "cancelled": 0, "failed": 0}
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == JobStatus.SUCCEEDED and dead.attempts == 2 and dead.result["attempt"] == 2
    assert alive.status == JobStatus.RUNNING and alive.attempts == 1


def test_the_sweep_fails_a_job_whose_workers_died_too_often_and_finishes_cancelled_ones(make_project):
    project, lead, _ = make_project(annotators=0)
    hopeless = _running(project, attempts=engine.MAX_ATTEMPTS)
    cancelled = _running(project)
    Job.objects.filter(pk=cancelled.pk).update(cancel_requested_at=timezone.now() - timedelta(minutes=9))
    assert jobs_sweep() == {"sent": 0, "resumed": 0, "cancelled": 1, "failed": 1}
    hopeless.refresh_from_db()
    cancelled.refresh_from_db()
    assert hopeless.status == JobStatus.FAILED and "3 times" in hopeless.error
    assert cancelled.status == JobStatus.CANCELLED


def test_a_live_job_is_not_claimed_twice_and_a_taken_over_attempt_stops(make_project):
    project, lead, _ = make_project(annotators=0)
    job = Job.objects.create(kind=JobKind.PING, project=project, queue="default")
    first = job_claim(job_id=job.pk, worker="a")
    assert first is not None and first.attempts == 1 and first.worker == "a"
    assert job_claim(job_id=job.pk, worker="b") is None  # the heartbeat is fresh
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=6))
    second = job_claim(job_id=job.pk, worker="b")
    assert second.attempts == 2 and second.stage == "resumed after its worker was lost"
    with pytest.raises(JobLost):
        job_progress(job=first, done=1)  # the first worker was only slow: it stops instead of writing
    engine._finish(job=first, status=JobStatus.FAILED, error="late")  # nor can it end the job
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 2 and job.worker == "b"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_a_step_runs_without_progress(make_project):
    project, lead, _ = make_project(annotators=0)
    job = job_claim(job_id=Job.objects.create(kind=JobKind.PING, project=project).pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=4))
    before = Job.objects.get(pk=job.pk).heartbeat_at
    with engine._Heartbeat(job=job, every=0.05):
        time.sleep(0.4)  # one long step, say a cross-validation fold
    assert Job.objects.get(pk=job.pk).heartbeat_at > before + timedelta(minutes=3)


def test_a_failing_executor_is_recorded_not_raised(make_project, run_on_commit, monkeypatch):
    project, lead, _ = make_project(annotators=0)

    def broken(*, job):
        raise RuntimeError("the model file is corrupt")

    monkeypatch.setattr(engine, "ping_execute", broken)
    job = run_on_commit(lambda: job_enqueue(kind=JobKind.PING, project=project, created_by=lead))
    assert job.status == JobStatus.FAILED and job.error == "RuntimeError: the model file is corrupt" and job.finished_at


def test_a_redelivered_task_leaves_a_live_cancelled_job_to_its_worker_and_ends_a_dead_ones(make_project, monkeypatch):
    project, lead, _ = make_project(annotators=0)
    live, dead = _running(project, beat_minutes_ago=0), _running(project, beat_minutes_ago=10)
    Job.objects.filter(pk__in=[live.pk, dead.pk]).update(cancel_requested_at=timezone.now())
    cleaned = []
    monkeypatch.setitem(engine.JOB_KINDS, JobKind.PING, engine.JobKindSpec("annotate.services.jobs.ping_execute", "default",
                                                                          cleanup="tests.annotate.test_jobs.record_cleanup"))
    monkeypatch.setattr("tests.annotate.test_jobs.CLEANED", cleaned)
    assert job_claim(job_id=live.pk) is None and job_claim(job_id=dead.pk) is None
    live.refresh_from_db()
    dead.refresh_from_db()
    assert live.status == JobStatus.RUNNING  # its worker stops at the next progress point and cleans up itself
    assert dead.status == JobStatus.CANCELLED and cleaned == [dead.pk]


CLEANED: list = []


def record_cleanup(*, job):
    CLEANED.append(job.pk)
    return {"removed": 0}


def test_with_the_broker_down_a_job_is_queued_durably_and_the_sweep_sends_it_later(make_project, api_client, monkeypatch,
                                                                                     django_capture_on_commit_callbacks):
    from celery.canvas import Signature
    from kombu.exceptions import OperationalError as BrokerUnavailable

    project, lead, _ = make_project(annotators=0)
    real = Signature.apply_async

    def refused(self, *args, **kwargs):
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Signature, "apply_async", refused)
    api_client.force_authenticate(lead)
    upload = SimpleUploadedFile("fer2013.csv", (SAMPLE / "fer2013_sample.csv").read_bytes()[:20_000])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content  # not a 500: the job is kept and said to be waiting
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.QUEUED and job.stage == engine.STAGE_UNSENT
    assert default_storage.exists(job.params["upload"])  # the upload waits with its job
    assert jobs_sweep()["sent"] == 0  # still down: nothing changes
    monkeypatch.setattr(Signature, "apply_async", real)  # the broker is back
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep()["sent"] == 1
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] > 0
    assert not default_storage.exists(job.params["upload"])
