"""The registry of background-job kinds: for each, its executor, the queue whose workers have what it needs, its parameters.

A new kind is one executor (``execute(*, job) -> result dict``, calling ``job_progress`` at each step) and one
line here. Executors are named by dotted path so that enqueueing a job never imports the code that runs it
(the web process stays free of torch).
"""
from dataclasses import dataclass, field

from annotate.models import JobKind

# Logical queues; settings.FERLAB_JOB_QUEUES maps each to the Celery queue its workers consume.
QUEUE_DEFAULT = "default"  # imports and light work
QUEUE_ML = "ml"  # everything that loads torch


@dataclass(frozen=True)
class JobKindSpec:
    """How one kind of job runs.

    ``params`` maps each parameter the kind accepts to its type (bool, int, float or str); ``required``
    names those it cannot do without. ``cleanup(*, job)``, when given, removes what a cancelled attempt
    wrote, so a cancelled job leaves nothing partial behind.
    """

    executor: str
    queue: str
    params: dict[str, type] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    cleanup: str | None = None


# The train job's parameters (annotate.services.training checks their values before a job is made).
TRAIN_PARAMS = {
    "dataset_version": int, "targets": str, "start": str, "epochs": int, "lr": float, "batch_size": int,
    "weight_decay": float, "label_smoothing": float, "dropout": float, "augment": bool, "seed": int, "device": str,
    "test_pause_after_epoch": int,
}

JOB_KINDS: dict[str, JobKindSpec] = {
    JobKind.IMPORT: JobKindSpec(
        "annotate.services.imports.import_execute", QUEUE_DEFAULT,
        params={"upload": str, "filename": str, "size": int, "format": str, "labels_as_answers": bool, "votes_as_answers": bool,
                "cropped": bool, "split": str, "gold_from_reference": bool},
        required=("upload",), cleanup="annotate.services.imports.import_cleanup",
    ),
    JobKind.PRELABEL: JobKindSpec(
        "annotate.services.prelabel.prelabel_execute", QUEUE_ML, params={"model_version": int, "then_analyse": bool},
        cleanup="annotate.services.prelabel.prelabel_cleanup",
    ),
    JobKind.ANALYSE: JobKindSpec(
        "annotate.services.quality.quality_run_execute", QUEUE_ML,
        params={"model_version": int, "issue_threshold": float, "crossval": bool, "crossval_min_items": int,
                "crossval_folds": int, "crossval_budget_s": float, "trigger": str, "test_delay_seconds": float},
        cleanup="annotate.services.prelabel.prelabel_cleanup",
    ),
    JobKind.EXPORT: JobKindSpec(
        "annotate.services.exports.export_execute", QUEUE_DEFAULT, params={"export": int}, required=("export",),
        cleanup="annotate.services.exports.export_cleanup",
    ),
    JobKind.TRAIN: JobKindSpec(
        "annotate.services.training.train_execute", QUEUE_ML, params=TRAIN_PARAMS, required=("dataset_version",),
        cleanup="annotate.services.training.train_cleanup",
    ),
    JobKind.EVALUATE: JobKindSpec("annotate.services.registry.evaluate_execute", QUEUE_ML),
    JobKind.PING: JobKindSpec(
        "annotate.services.jobs.ping_execute", QUEUE_DEFAULT, params={"seconds": float, "first_attempt_only": bool},
    ),
}
