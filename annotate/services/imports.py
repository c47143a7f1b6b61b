"""Import faces into a project: FER2013 csv, FER+ votes, image folders and zips; one service for command, API and task."""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile

from django.core.files.storage import default_storage
from django.db import connection
from django.utils.text import get_valid_filename

from annotate.exceptions import ValidationFailed
from annotate.models import Annotation, Item, Job, JobKind, Project
from annotate.services.imports_base import ImportReport, Progress
from annotate.services.imports_fer import BadHeader, import_fer2013, import_ferplus
from annotate.services.audit_log import audit_record
from annotate.services.imports_images import import_images
from annotate.services.jobs import DATABASE_ERRORS, JobCancelled, JobLost, JobOutcome, job_enqueue, job_progress

logger = logging.getLogger(__name__)

FORMATS = ("auto", "fer2013", "ferplus", "images")
SPLIT_CHARACTERS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
MAX_UPLOAD_BYTES = 2 * 1024 ** 3
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def detect_format(path: str) -> str:
    """fer2013, ferplus or images, from the file itself (folders and zips are images)."""
    if os.path.isdir(path) or zipfile.is_zipfile(path):
        return "images"
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "images"
    columns = [c.strip().lower() for c in head.split(b"\n", 1)[0].decode("utf-8-sig", "replace").split(",")]
    if "pixels" in columns:
        return "fer2013"
    if "nf" in columns and "neutral" in columns:
        return "ferplus"
    raise BadHeader(
        f"cannot tell the format from the columns {','.join(columns)[:200]!r}: expected a fer2013 csv (emotion,pixels,Usage), "
        "a FER+ csv (Usage,Image name,neutral,...,NF), a zip, a folder or an image"
    )


def import_options_check(*, format: str, labels_as_answers: bool = False, split: str = "", gold_from_reference: bool = False) -> str:
    """Refuse options that cannot work together, before anything is stored; returns the split, trimmed."""
    if format not in FORMATS:
        raise ValidationFailed(f"Unknown import format {format!r}; use one of {', '.join(FORMATS)}.", code="invalid_format")
    split = (split or "").strip()
    if split and (len(split) > 32 or not SPLIT_CHARACTERS.match(split)):
        raise ValidationFailed(
            "A split name has 1 to 32 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.",
            code="invalid_split",
        )
    if gold_from_reference and labels_as_answers:
        raise ValidationFailed(
            "Labels imported as answers are not reference labels, so no face could be marked gold from them: "
            "choose one of the two options.", code="options_conflict",
        )
    return split


def items_import(
    *,
    project: Project,
    path: str,
    format: str = "auto",
    labels_as_answers: bool = False,
    votes_as_answers: bool = False,
    cropped: bool = False,
    split: str = "",
    gold_from_reference: bool = False,
    source: str | None = None,
    progress: Progress | None = None,
    job: Job | None = None,
) -> ImportReport:
    """Import the file or folder at `path` into the project and report what happened.

    Valid rows and files are imported even when others are bad; a file that cannot be read at
    all (wrong columns, not a zip) sets `report.error`. Rerunning an import is safe: exact
    duplicates are skipped. `split` is the split of new faces whose file names none (fer2013's
    Usage column and train/ test/ folders win); `gold_from_reference` makes every new face with a
    reference label a gold item with that label.
    """
    split = import_options_check(format=format, labels_as_answers=labels_as_answers, split=split,
                                 gold_from_reference=gold_from_reference)
    source = source or os.path.basename(os.path.normpath(path))
    report = ImportReport(format=format, source=source)
    started = time.monotonic()
    try:
        if not os.path.exists(path):
            raise BadHeader(f"{path} does not exist")
        report.format = format = detect_format(path) if format == "auto" else format
        if format == "fer2013":
            import_fer2013(project=project, path=path, source=source, report=report, labels_as_answers=labels_as_answers, progress=progress, job=job,
                           split=split, gold_from_reference=gold_from_reference)
        elif format == "ferplus":
            import_ferplus(project=project, path=path, source=source, report=report, votes_as_answers=votes_as_answers, progress=progress)
            if gold_from_reference or split:
                report.notes.append("FER+ votes are added to faces imported before: the split and gold options change nothing here")
        else:
            import_images(project=project, path=path, source=source, report=report, cropped=cropped, progress=progress, job=job,
                          split=split, gold_from_reference=gold_from_reference)
    except BadHeader as exc:
        report.error = f"{source}: {exc}"
    except (zipfile.BadZipFile, IsADirectoryError, UnicodeDecodeError) as exc:
        report.error = f"{source}: cannot read the file ({exc})"
    if report.imported or report.updated:
        _refresh_planner_statistics()
    report.seconds = time.monotonic() - started
    if not report.error and not report.ok:
        report.error = f"{source}: nothing could be imported"
    return report


def _refresh_planner_statistics() -> None:
    """After a bulk import PostgreSQL's statistics still describe the old table, and the lease query's
    plan is ~100 ms until autovacuum catches up; refresh them now (SQLite plans without them)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotate_item, annotate_annotation")


def import_job_create(
    *, project: Project, upload, created_by=None, format: str = "auto", labels_as_answers: bool = False,
    votes_as_answers: bool = False, cropped: bool = False, split: str = "", gold_from_reference: bool = False,
) -> Job:
    """Store an uploaded file under MEDIA_ROOT/uploads and enqueue its import job (sent on commit).

    Call it inside a transaction: the job, its `import.started` audit event and the enqueue commit together.
    """
    split = import_options_check(format=format, labels_as_answers=labels_as_answers, split=split,
                                 gold_from_reference=gold_from_reference)
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationFailed(f"The upload is larger than {MAX_UPLOAD_BYTES:,} bytes.", code="upload_too_large")
    if not upload.size:
        raise ValidationFailed("The uploaded file is empty.", code="upload_empty")
    filename = os.path.basename((upload.name or "upload").replace("\\", "/"))[:100]
    stored = default_storage.save(f"uploads/{uuid.uuid4().hex}/{get_valid_filename(filename) or 'upload'}", upload)
    options = {
        "format": format, "labels_as_answers": labels_as_answers, "votes_as_answers": votes_as_answers, "cropped": cropped,
        "split": split, "gold_from_reference": gold_from_reference,
    }
    params = {"upload": stored, "filename": filename, "size": upload.size, **options}
    job = job_enqueue(kind=JobKind.IMPORT, project=project, params=params, created_by=created_by)
    audit_record(project=project, actor=created_by, action="import.started", target=f"job:{job.pk}",
                 details={"file": filename, "size": upload.size, "options": options})
    return job


def import_execute(*, job: Job) -> dict | JobOutcome:
    """Run a claimed import job: progress into the Job row, the report as its result; the upload is deleted once read.

    Rerunning is safe (a resumed job skips the exact duplicates its first attempt stored).
    """
    params = job.params

    def progress(done: int, total: int) -> None:
        job_progress(job=job, done=done, total=total, stage="importing")

    job_progress(job=job, done=0, stage="importing")
    local, temporary = _local_copy(params["upload"])
    try:
        report = items_import(
            project=job.project, path=local, format=params.get("format", "auto"), source=params.get("filename"),
            labels_as_answers=params.get("labels_as_answers", False), votes_as_answers=params.get("votes_as_answers", False),
            cropped=params.get("cropped", False), split=params.get("split", ""),
            gold_from_reference=params.get("gold_from_reference", False), progress=progress, job=job,
        )
    except (JobCancelled, JobLost, *DATABASE_ERRORS):
        raise  # the engine cleans up, or the task retries and the rerun skips what was stored
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        return JobOutcome(error=f"The import stopped: {exc}", result={})
    finally:
        if temporary:
            shutil.rmtree(os.path.dirname(local), ignore_errors=True)
    default_storage.delete(params["upload"])
    result = report.as_dict()
    return result if report.ok else JobOutcome(error=report.error, result=result)


def import_cleanup(*, job: Job) -> dict:
    """Remove what a cancelled import created: its faces (with their crops and imported answers) and its upload.

    Faces that an annotator already answered while the import ran are kept (answers are never lost).
    """
    created = Item.objects.filter(import_job=job)
    answered = set(Annotation.objects.filter(item__in=created).exclude(source="import").values_list("item_id", flat=True))
    doomed = list(created.exclude(pk__in=answered).values_list("pk", "crop", "image"))
    for start in range(0, len(doomed), 1000):
        Item.objects.filter(pk__in=[pk for pk, _, _ in doomed[start:start + 1000]]).delete()
    for _, *names in doomed:
        for name in names:
            if name:
                default_storage.delete(name)
    upload = job.params.get("upload")
    if upload and default_storage.exists(upload):
        default_storage.delete(upload)
    return {"items_removed": len(doomed), "items_kept_answered": len(answered)}


def _local_copy(name: str) -> tuple[str, bool]:
    """A local path for a stored upload: the file itself on local storage, else a temporary copy."""
    try:
        return default_storage.path(name), False
    except NotImplementedError:
        folder = tempfile.mkdtemp(prefix="ferlab-import-")
        local = os.path.join(folder, os.path.basename(name))
        with default_storage.open(name, "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return local, True
