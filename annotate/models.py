"""FERLab's domain tables (projects, items, answers, leases, jobs, runs, reviews, versions) and their invariants.

Models hold data and constraints only; every write goes through `annotate.services`, every
non-trivial read through `annotate.selectors`.
"""
import enum

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from ml.config import EXTRA_ANSWERS, FERPLUS_CLASSES

DEFAULT_LABELS = list(FERPLUS_CLASSES + EXTRA_ANSWERS)
DEFAULT_FLAGS = ["occluded", "non_frontal", "low_quality"]


def default_labels() -> list[str]:
    return list(DEFAULT_LABELS)


def default_flags() -> list[str]:
    return list(DEFAULT_FLAGS)


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    LEAD = "lead", "ML lead"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A job in one of these states is over: it is never claimed, resumed or cancelled again.
JOB_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Project(models.Model):
    """One dataset under construction, with its label schema and collection policy."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Shown to annotators on the labelling page.")
    labels = models.JSONField(default=default_labels, help_text="Answer choices, in key order (1..n).")
    flags = models.JSONField(default=default_flags, help_text="Optional per-answer flags.")
    overlap_target = models.PositiveSmallIntegerField(default=3, help_text="Answers wanted per item (k).")
    gold_rate = models.FloatField(default=0.05, help_text="Share of served items that are gold items.")
    show_model_hints = models.BooleanField(default=False, help_text="Show the model's suggestion to annotators.")
    valence_arousal = models.BooleanField(default=False, help_text="Ask for valence and arousal too.")
    # db_default too: rows copied in raw (bench/dashboard_speed.py, bench/import_speed.py) leave these out.
    action_units = models.JSONField(
        default=list, db_default=[], blank=True,
        help_text="FACS action units asked for, as AU numbers in ascending order (ml.action_units.AU_CATALOGUE); empty: none.",
    )
    au_intensity = models.BooleanField(
        default=False, db_default=False, help_text="Ask for each present AU's FACS intensity A-E, not only presence.",
    )
    lease_seconds = models.PositiveIntegerField(default=600, help_text="How long an assignment holds an item.")
    model_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="active_in_projects",
        help_text="The project's pre-labeller, set by promotion; empty: the shipped model.",
    )
    evaluation_set = models.JSONField(
        default=dict, blank=True,
        help_text='The faces every model version is scored on: {"kind": "split", "split": name} or {"kind": "gold"}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap_target__gte=1), name="project_overlap_target_positive"),
            models.CheckConstraint(condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_0_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a project; leads can pause an annotator or exclude their answers."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    paused = models.BooleanField(default=False, help_text="A paused annotator gets no new work.")
    excluded_from_consensus = models.BooleanField(default=False, help_text="Their answers are left out of quality runs.")
    message = models.TextField(blank=True, help_text="Shown on the annotator's labelling page.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user_per_project")]
        indexes = [models.Index(fields=["user", "project"])]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.project}"


class Item(models.Model):
    """One face image in a project: the stored original, a normalised grey crop, hashes and references."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    image = models.FileField(upload_to="items/original/%Y/%m/", max_length=300, blank=True)
    crop = models.FileField(upload_to="items/crop/%Y/%m/", max_length=300)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the source bytes (or pixels).")
    pixel_hash = models.CharField(
        max_length=64, blank=True,
        help_text="sha256 of the stored grey crop's decoded pixels: the same face in any file format has the same one.",
    )
    perceptual_hash = models.BigIntegerField(null=True, blank=True, help_text="64-bit dHash of the crop, signed.")
    width = models.PositiveIntegerField(help_text="Width of the original image.")
    height = models.PositiveIntegerField(help_text="Height of the original image.")
    source = models.CharField(max_length=300, blank=True, help_text="File name, archive member or csv row.")
    source_row = models.IntegerField(null=True, blank=True, help_text="Row in the imported csv, if any.")
    split = models.CharField(max_length=32, blank=True, help_text="e.g. Training / PublicTest / PrivateTest.")
    reference_label = models.CharField(max_length=32, blank=True, help_text="A label imported with the item.")
    reference_votes = models.JSONField(null=True, blank=True, help_text="Imported vote counts by label.")
    is_gold = models.BooleanField(default=False)
    gold_label = models.CharField(max_length=32, blank=True)
    excluded = models.BooleanField(default=False, help_text="Set by a review; excluded items get no more work.")
    extra_answers = models.PositiveSmallIntegerField(default=0, help_text="Answers wanted beyond the project's k.")
    priority = models.FloatField(default=0.0, help_text="Higher is served first (active-learning score).")
    answer_count = models.PositiveIntegerField(default=0, help_text="Annotators who answered (kept by the services).")
    # Live leases, kept on the row itself so that the row lock taken to lease it also guards the count:
    # leases counted since the last time all of them had expired. Live = lease_count while lease_until is ahead.
    lease_count = models.PositiveIntegerField(default=0, help_text="Open leases counted (kept by the assignment service).")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="When the latest counted lease expires.")
    import_job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="imported_items",
        help_text="The import job that created the item (a cancelled import removes what it created).",
    )
    erased_at = models.DateTimeField(null=True, blank=True, help_text="When a lead erased its images (biometric data).")
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="item_unique_content_per_project"),
            models.CheckConstraint(condition=Q(is_gold=False) | ~Q(gold_label=""), name="item_gold_has_label"),
        ]
        indexes = [
            models.Index(fields=["project", "excluded", "answer_count", "priority"], name="item_queue_idx"),
            # The annotator queue's order (priority, then the faces closest to their target first), walked from
            # the top per lease; faces at their target are passed over inside the index (answers - extra >= k).
            models.Index(
                F("project"), F("priority").desc(), (F("answer_count") - F("extra_answers")).desc(), F("id"),
                condition=Q(excluded=False), name="item_next_idx",
            ),
            models.Index(fields=["project", "answer_count"], condition=Q(is_gold=True), name="item_gold_idx"),
            models.Index(fields=["project", "perceptual_hash"], name="item_phash_idx"),
            models.Index(fields=["project", "split"], name="item_split_idx"),
            models.Index(fields=["project", "source_row"], name="item_source_row_idx"),
            models.Index(fields=["project", "pixel_hash"], name="item_pixel_hash_idx"),
            # The overview's progress (faces at their target, answers still wanted, gold) read from the index alone:
            # 334-412 -> 175-216 ms at a million faces (bench/dashboard_speed.py, #20).
            models.Index(fields=["project", "excluded", "answer_count", "extra_answers", "is_gold"], name="item_progress_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.source})"


class AssignmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    SKIPPED = "skipped", "Skipped"


class Assignment(models.Model):
    """A lease of an item to an annotator; an annotator is leased any item at most once, ever."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.OPEN)
    is_gold = models.BooleanField(default=False, help_text="Served as a gold check (never shown to the annotator).")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_once_per_annotator"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="assignment_expires_after_start"),
        ]
        indexes = [
            models.Index(fields=["item", "status", "expires_at"], name="assignment_live_idx"),
            models.Index(fields=["annotator", "project", "status"], name="assignment_annotator_idx"),
            # The dashboard counts a project's live leases without scanning every assignment.
            models.Index(fields=["project", "status", "expires_at"], name="assignment_project_live_idx"),
        ]


class Annotation(models.Model):
    """One annotator's answer for one item. Append-only: a correction is a new row that `replaces` the old.

    The database guarantees one live answer per annotator per item: at most one original answer
    (``replaces`` empty) per (item, annotator), and every answer is replaced at most once.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    assignment = models.ForeignKey(Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations")
    label = models.CharField(max_length=32)
    flags = models.JSONField(default=list, blank=True)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    action_units = models.JSONField(
        null=True, blank=True,
        help_text='{"<AU number>": value} over the project\'s AUs: 0 absent; 1 present, or 1-5 = FACS intensity A-E '
                  "where the project asks for intensity. A missing AU was not judged; null: no AUs given.",
    )
    seconds = models.FloatField(null=True, blank=True, help_text="Time the annotator took.")
    client_id = models.UUIDField(unique=True, help_text="Generated by the client; a repeated submit is a no-op.")
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by",
        help_text="The earlier answer this one corrects (undo).",
    )
    source = models.CharField(max_length=32, default="web", help_text="web, api, import, replay.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], condition=Q(replaces__isnull=True), name="annotation_one_original_per_annotator"
            ),
            models.CheckConstraint(
                condition=(Q(valence__isnull=True) | (Q(valence__gte=-1) & Q(valence__lte=1)))
                & (Q(arousal__isnull=True) | (Q(arousal__gte=-1) & Q(arousal__lte=1))),
                name="annotation_valence_arousal_range",
            ),
            models.CheckConstraint(condition=Q(seconds__isnull=True) | Q(seconds__gte=0), name="annotation_seconds_positive"),
        ]
        indexes = [
            models.Index(fields=["project", "id"], name="annotation_project_idx"),
            models.Index(fields=["annotator", "project", "created_at"], name="annotation_annotator_idx"),
            models.Index(fields=["item", "annotator"], name="annotation_item_idx"),
            # Answers per hour on the dashboard: an index-only scan over one project's timestamps.
            models.Index(fields=["project", "created_at"], name="annotation_time_idx"),
            # The annotator table (answers, corrections, median seconds) in one index-only scan.
            models.Index(fields=["project", "annotator", "seconds"], include=["replaces", "created_at"], name="annotation_speed_idx"),
            # Few answers carry flags: the issue queue's flag filter reads only those.
            models.Index(fields=["item"], condition=~Q(flags=[]), name="annotation_flagged_idx"),
        ]


class ModelVersion(models.Model):
    """Trained expression-model weights with their config, metrics and provenance.

    Shipped versions (``project`` empty) are the file the release ships; the others were trained by a
    `train` job on one dataset version of ``project`` and exist only once training finished.
    """

    name = models.CharField(max_length=120, unique=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="model_versions")
    job = models.OneToOneField("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version")
    checkpoint = models.CharField(max_length=500, help_text="Path or storage name of the checkpoint file.")
    sha256 = models.CharField(max_length=64, blank=True)
    classes = models.JSONField(default=list)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    confusion = models.JSONField(default=list, blank=True)
    data_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the training data.")
    dataset_version = models.ForeignKey("DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions")
    dataset_sha256 = models.CharField(max_length=64, blank=True, help_text="The dataset version's hash when it was trained on.")
    recipe = models.JSONField(default=dict, blank=True, help_text="Targets, start, splits and the ml.train config.")
    device = models.CharField(max_length=32, blank=True, help_text="cpu or cuda, chosen when training ran.")
    machine = models.JSONField(default=dict, blank=True, help_text="Host, CPU, threads and torch of the training worker.")
    train_seconds = models.FloatField(null=True, blank=True)
    curves = models.JSONField(default=list, blank=True, help_text="Per epoch: loss, validation accuracy, seconds.")
    trained_items = models.JSONField(default=list, blank=True, help_text="Ids of the project's items it trained on.")
    size = models.BigIntegerField(default=0)
    is_active = models.BooleanField(default=False, help_text="The shipped pre-labeller of projects that promoted none.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="model_version_one_active")]

    def __str__(self) -> str:
        return self.name

    @property
    def shipped(self) -> bool:
        return self.project_id is None


class ModelEvaluation(models.Model):
    """A model version's figures on one project's evaluation set, as it was (``evaluation_sha256``).

    ``predictions`` keeps, per scored face, the predicted class index and its confidence, so two versions
    can be compared face by face; faces the model trained on are counted in ``excluded`` and left out.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_evaluations")
    evaluation_sha256 = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict)
    predictions = models.JSONField(default=dict, help_text="{item_ids, predicted, confidence} of the scored faces.")
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "project", "evaluation_sha256"],
                                               name="model_evaluation_once")]


class PromotionAction(models.TextChoices):
    PROMOTE = "promote", "Promoted"
    ROLLBACK = "rollback", "Rolled back"


class ModelPromotion(models.Model):
    """The project's pre-labeller changed: who, when, from which version to which (the registry's history)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="promotions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=PromotionAction.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class Prediction(models.Model):
    """A model version's class probabilities for an item (in the model's class order)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    probs = models.JSONField(help_text="Probabilities, one per class of the model version.")
    label = models.CharField(max_length=32)
    confidence = models.FloatField()
    job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions",
        help_text="The job that scored it (a cancelled job removes its predictions).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "model_version"], name="prediction_once_per_model")]


class JobKind(models.TextChoices):
    IMPORT = "import", "Import"
    PRELABEL = "prelabel", "Pre-label"
    ANALYSE = "analyse", "Quality run"
    EXPORT = "export", "Export"
    TRAIN = "train", "Training"
    EVALUATE = "evaluate", "Model evaluation"
    PING = "ping", "Health check"


class Job(models.Model):
    """A background job's state and progress, as shown over the API and on progress bars.

    Every kind goes through annotate.services.jobs: enqueued there, claimed and run by the one task,
    with its executor looked up in annotate.services.job_kinds.
    """

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=120, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    queue = models.CharField(max_length=64, blank=True, help_text="The Celery queue the job was sent to.")
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that ran the latest attempt.")
    cancel_requested_at = models.DateTimeField(null=True, blank=True, help_text="A lead asked to cancel; the executor stops at its next progress point.")
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "kind", "-created_at"], name="job_project_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="job_sweep_idx"),
        ]

    @property
    def progress(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0


class QualityRun(models.Model):
    """One analysis over a project, frozen: it records exactly which answers and predictions it used.

    A run is written once, in one transaction, when its job succeeds; so every row is a finished run
    (the job's state says whether one is queued or running). Annotations are append-only, so "every annotation with id <= annotation_watermark, with
    corrections applied among those" identifies the input set; its count and a hash of the ids
    are stored to check that.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quality_runs")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="quality_run")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="quality_runs")
    probability_source = models.CharField(max_length=32, blank=True, help_text="e.g. held-out-model, crossval-5fold.")
    annotation_watermark = models.BigIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    annotations_sha256 = models.CharField(max_length=64, blank=True)
    prediction_count = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Agreement, class balance, duplicates, outliers.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="quality_run_project_idx")]


class DimensionCheck(enum.IntFlag):
    """Bits of QualityItemResult.checks: why a face is an issue beyond its expression label (#18)."""

    VALENCE_SPREAD = 1
    AROUSAL_SPREAD = 2
    AU_DISPUTED = 4
    EXPRESSION_VS_AU = 8  # ml.cross_checks.AU_CONFLICT
    EXPRESSION_VS_VALENCE = 16  # ml.cross_checks.VALENCE_CONFLICT

    @property
    def label(self) -> str:
        return _DIMENSION_CHECK_LABELS[self]


_DIMENSION_CHECK_LABELS = {
    DimensionCheck.VALENCE_SPREAD: "valence answers spread widely",
    DimensionCheck.AROUSAL_SPREAD: "arousal answers spread widely",
    DimensionCheck.AU_DISPUTED: "an action unit is disputed",
    DimensionCheck.EXPRESSION_VS_AU: "expression contradicts the action units",
    DimensionCheck.EXPRESSION_VS_VALENCE: "expression contradicts the valence",
}


class QualityItemResult(models.Model):
    """Per-item outcome of a quality run."""

    run = models.ForeignKey(QualityRun, on_delete=models.CASCADE, related_name="item_results")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="quality_results")
    num_answers = models.PositiveSmallIntegerField(default=0)
    votes = models.JSONField(default=dict, help_text="Live answer counts by label.")
    consensus_label = models.CharField(max_length=32, blank=True)
    consensus_quality = models.FloatField(null=True, blank=True)
    label_quality = models.FloatField(null=True, blank=True, help_text="Single-label quality score.")
    label_issue = models.BooleanField(default=False)
    active_learning_score = models.FloatField(null=True, blank=True)
    model_label = models.CharField(max_length=32, blank=True)
    model_confidence = models.FloatField(null=True, blank=True)
    probability_source = models.CharField(max_length=16, blank=True, default="", db_default="", help_text="held-out, crossval or in-sample: where this face's model probabilities came from.")
    # Valence-arousal and action units (#18); null where the project does not ask for them or the face has no such answer.
    valence = models.FloatField(null=True, blank=True, help_text="Consensus valence (ml.valence_arousal).")
    arousal = models.FloatField(null=True, blank=True, help_text="Consensus arousal.")
    valence_spread = models.FloatField(null=True, blank=True, help_text="Root mean square distance of the answers from their mean.")
    arousal_spread = models.FloatField(null=True, blank=True)
    action_units = models.JSONField(null=True, blank=True, help_text='Consensus per AU: {"<AU number>": probability present}.')
    checks = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Bit set of DimensionCheck: the dimension issues and cross-check conflicts of this face.",
    )
    check_reasons = models.JSONField(default=list, db_default=[], blank=True, help_text="One sentence per set bit of checks.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="quality_item_once_per_run")]
        indexes = [
            models.Index(fields=["run", "consensus_quality"], name="quality_item_rank_idx"),
            models.Index(fields=["run", "consensus_label", "consensus_quality"], name="quality_item_class_idx"),
            models.Index(fields=["run", "label_issue"], name="quality_item_issue_idx"),
            # The dashboard's issue queue order (worst first, ties by item), paged by an index-only scan.
            models.Index(fields=["run", "consensus_quality", "item"], include=["id"], name="quality_item_queue_idx"),
            # Few faces fail a dimension check: the issue queue's dimension filters read only those, and the bits and
            # counts they test come from the index itself (bench/dimension_dashboard_speed.py: 1,655 -> 503 ms p95).
            models.Index(fields=["run", "consensus_quality", "item"], include=["checks", "num_answers", "id"],
                         condition=Q(checks__gt=0), name="quality_item_checks_idx"),
        ]


class QualityAnnotatorResult(models.Model):
    """Per-annotator outcome of a quality run (ml.quality.analyse). worst_class is their lowest recall; bias_* is
    relative to their peers on the same faces (co-annotators and the held-out model), so it names a confusion of
    theirs, not a hard class."""

    run = models.ForeignKey(QualityRun, on_delete=models.CASCADE, related_name="annotator_results")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quality_results")
    num_answers = models.PositiveIntegerField(default=0)
    quality = models.FloatField(null=True, blank=True, help_text="crowdlab_quality * (1 - bias): the ranking.")
    crowdlab_quality = models.FloatField(null=True, blank=True, help_text="CROWDLAB's annotator quality.")
    bias = models.FloatField(null=True, blank=True, help_text="Share of bias_from faces answered bias_to beyond "
                             "what peers (co-annotators, the model) answer on them (lower bound; 0 = none).")
    # db_default too: rows copied in raw (bench/dashboard_speed.py) leave these out.
    bias_from = models.CharField(max_length=32, blank=True, default="", db_default="",
                                 help_text="Peers' label of the faces they confuse.")
    bias_to = models.CharField(max_length=32, blank=True, default="", db_default="",
                               help_text="The answer they give those faces too often.")
    agreement = models.FloatField(null=True, blank=True, help_text="Share of answers equal to the consensus.")
    gold_accuracy = models.FloatField(null=True, blank=True)
    gold_answers = models.PositiveIntegerField(default=0)
    worst_class = models.CharField(max_length=32, blank=True)
    confusion = models.JSONField(default=list, blank=True, help_text="Rows: consensus label; columns: their answer.")
    dimensions = models.JSONField(
        default=dict, db_default={}, blank=True,
        help_text="Valence / arousal offset and noise, per-AU sensitivity and specificity, self-contradiction share.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "annotator"], name="quality_annotator_once_per_run")]


class ReviewAction(models.TextChoices):
    ACCEPT = "accept", "Accept consensus"
    RELABEL = "relabel", "Set final label"
    EXCLUDE = "exclude", "Exclude"
    INCLUDE = "include", "Include again"
    REQUEST_MORE = "request_more", "Request more answers"


class Review(models.Model):
    """An ML lead's decision on an item. Append-only: the latest review of an item is in force."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    action = models.CharField(max_length=16, choices=ReviewAction.choices)
    label = models.CharField(max_length=32, blank=True, help_text="The final label, for accept and relabel.")
    quality_run = models.ForeignKey(QualityRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(action__in=["accept", "relabel"]) | ~Q(label=""), name="review_label_for_accept_relabel"
            )
        ]
        indexes = [models.Index(fields=["item", "-created_at"], name="review_item_idx")]


class DatasetVersion(models.Model):
    """An immutable, content-hashed snapshot of a project's curated labels (written once by the freeze service).

    It records exactly what it was made from: the quality run (and so the answers up to its watermark),
    the reviews up to ``review_watermark``, and the label policy; ``sha256`` covers every face's content
    hash, final label, soft label and split, plus the policy, so equal inputs give an equal hash.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    quality_run = models.ForeignKey(QualityRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="dataset_versions")
    annotation_watermark = models.BigIntegerField(default=0, help_text="Answers with id <= this were used (the run's).")
    review_watermark = models.BigIntegerField(default=0, help_text="Reviews with id <= this were applied.")
    policy = models.JSONField(default=dict, help_text="The label policy and split options the version was frozen with.")
    stats = models.JSONField(default=dict, blank=True, help_text="Counts per class and split, what was left out and why.")
    item_count = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hash of the version's manifest.")
    data_card = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="dataset_version_number_unique")]


class LabelSource(models.TextChoices):
    REVIEW = "review", "A lead's review"
    CONSENSUS = "consensus", "The quality run's consensus"
    REFERENCE = "reference", "The imported reference label"
    ANNOTATOR = "annotator", "One annotator's answer (a baseline version)"


class DatasetVersionItem(models.Model):
    """One face's frozen labels, soft labels and quality inside a dataset version."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="entries")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="dataset_entries")
    content_hash = models.CharField(max_length=64, default="")
    label = models.CharField(max_length=32)
    label_source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.CONSENSUS)
    soft_label = models.JSONField(default=dict, help_text="Normalised vote distribution over the expression classes.")
    votes = models.JSONField(default=dict, help_text="Answer counts by label (the run's, or the imported votes).")
    num_answers = models.PositiveSmallIntegerField(default=0)
    quality = models.FloatField(null=True, blank=True, help_text="Consensus quality (CROWDLAB).")
    label_issue = models.BooleanField(default=False)
    label_score = models.FloatField(null=True, blank=True, help_text="Single-label quality score, where there is one.")
    model_label = models.CharField(max_length=32, blank=True)
    model_confidence = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=dict, blank=True, help_text="Answers carrying each flag.")
    reference_label = models.CharField(max_length=32, blank=True)
    split = models.CharField(max_length=32, blank=True)
    duplicate_group = models.IntegerField(null=True, blank=True, help_text="Near-duplicate group (kept in one split).")
    dimensions = models.JSONField(
        default=dict, db_default={}, blank=True,
        help_text='Frozen valence-arousal and AU consensus: {"valence", "arousal", "valence_spread", "arousal_spread", '
                  '"action_units": {"<AU>": probability present}}; empty where the project asks for neither.',
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "item"], name="dataset_item_once_per_version")]
        indexes = [models.Index(fields=["version", "split", "label"], name="dataset_item_split_idx")]


class ExportFormat(models.TextChoices):
    FER2013_CSV = "fer2013-csv", "FER2013 CSV"
    FERPLUS_CSV = "ferplus-csv", "FER+ votes CSV"
    IMAGEFOLDER = "imagefolder", "Image folders (zip)"
    PARQUET = "parquet", "Hugging Face Parquet (zip)"
    JSONL = "jsonl", "JSON Lines with images (zip)"
    LABEL_STUDIO = "label-studio", "Label Studio JSON"


class Export(models.Model):
    """One file of a dataset version in one format, built once by an export job and kept in storage."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports")
    file = models.CharField(max_length=300, blank=True, help_text="Storage name of the finished file; empty until then.")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    erased_items = models.PositiveIntegerField(
        default=0, help_text="Faces of this file erased after it was built (their images are no longer in it).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "format"], name="export_once_per_version_format")]


class AuditEvent(models.Model):
    """Who did what to a project, and when: members, settings, invitations, erasures, tokens. Append-only.

    `action` is a dotted name (`member.role_changed`, `item.erased`, ...); `target` names what it was done to
    (`user:12`, `item:345`); `details` holds the before/after values. `actor_name` outlives a deleted account.
    """

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_event_project_idx")]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} {self.target}"


class ApiToken(models.Model):
    """A named API key of one user. Only its sha256 is stored; the key is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    auth_hash = models.CharField(
        max_length=128, blank=True,
        help_text="The user's session auth hash when the token was made: a password change makes them differ.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="api_token_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}...)"


class Invitation(models.Model):
    """A link a lead sends to bring people into a project with a role; it expires and can be revoked."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for, as the lead wrote it.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveSmallIntegerField(default=1)
    uses = models.PositiveSmallIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(uses__lte=F("max_uses")), name="invitation_uses_within_max")]

    def __str__(self) -> str:
        return f"invitation to {self.project} as {self.role}"
