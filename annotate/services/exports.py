"""Exports of a dataset version: one file per version and format, built once by an export job and kept in storage.

``export_request`` is the one way in (API, command): it returns the finished export as is, the running one
while its job runs, and enqueues a job otherwise (first request, or the last job failed or was cancelled).
``export_execute`` builds the file under a partial name and publishes it only once it is whole: on local
storage the partial file sits beside the media and is renamed into place (atomic); on a remote store it is a
local temporary file uploaded under the final name (an object appears only once its upload completes). Only
then is Export.file set, so a download link never points at half a file, and a killed worker's partial file
is removed by the attempt that resumes the job.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import uuid
from typing import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.utils import timezone

from annotate.exceptions import ValidationFailed
from annotate.exports import writer_for
from annotate.exports.common import ExportRow
from annotate.models import DatasetVersion, Export, ExportFormat, Job, JobKind, JobStatus
from annotate.selectors.erasure import version_erased_count
from annotate.selectors.exports import export_info, export_rows, has_dimensions
from annotate.services.jobs import job_enqueue, job_progress

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 250
PARTIAL_FOLDER = "exports/.partial"
# Formats whose rows carry every annotator's answer (the others need the counts only); jsonl and parquet carry them
# for projects that ask for valence-arousal or action units (#18), whose answers are more than a count per class.
WITH_ANSWERS = {ExportFormat.LABEL_STUDIO}
WITH_DIMENSION_ANSWERS = {ExportFormat.JSONL, ExportFormat.PARQUET}
# Formats laid out by expression class: a version of a project that asks none (#18) has nothing to put in them.
CLASS_FORMATS = {ExportFormat.IMAGEFOLDER, ExportFormat.FER2013_CSV, ExportFormat.FERPLUS_CSV}
# How many times a build starts again when faces of its version are erased while it runs.
ERASED_REBUILDS = 3


def export_file_name(*, export: Export) -> str:
    """The name a downloaded export gets: <project slug>-v<number>-<format>.zip."""
    version = export.version
    return f"{version.project.slug}-v{version.number}-{export.format}.zip"


def export_is_finished(*, export: Export) -> bool:
    """Whether the export's file is built and still in storage."""
    return bool(export.file) and default_storage.exists(export.file)


def export_request(*, version: DatasetVersion, format: str, created_by=None) -> Export:
    """The version's export in this format: finished or running as is, else (re)built by a new job (sent on commit)."""
    if format not in ExportFormat.values:
        raise ValidationFailed(f"Unknown export format {format!r}; one of {', '.join(ExportFormat.values)}.",
                               code="unknown_format", details={"formats": list(ExportFormat.values)})
    if format in CLASS_FORMATS and not version.project.labels:
        raise ValidationFailed(f"The {format} export is laid out by expression class and this project asks none (only "
                               "valence-arousal or action units): export it as jsonl, parquet or label-studio.",
                               code="format_needs_class", status=409,
                               details={"formats": sorted(set(ExportFormat.values) - CLASS_FORMATS)})
    with transaction.atomic():
        export, _ = Export.objects.get_or_create(version=version, format=format)
        export = Export.objects.select_for_update(of=("self",)).select_related("job", "version__project").get(pk=export.pk)
        if export_is_finished(export=export):
            return export
        if export.job is not None and export.job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return export
        export.job = job_enqueue(kind=JobKind.EXPORT, project=version.project, params={"export": export.pk}, created_by=created_by)
        export.file, export.size, export.sha256, export.finished_at = "", 0, "", None
        export.save(update_fields=["job", "file", "size", "sha256", "finished_at"])
    return export


def _partial_folder() -> str:
    """Where partial files are built: beside the media on local storage (so a rename publishes them), else a temp dir."""
    if isinstance(default_storage, FileSystemStorage):
        folder = default_storage.path(PARTIAL_FOLDER)
    else:
        folder = os.path.join(tempfile.gettempdir(), "ferlab-exports")
    os.makedirs(folder, exist_ok=True)
    return folder


def partials_remove(*, export_id: int, keep: str | None = None) -> int:
    """Remove the export's partial files (a killed or cancelled attempt's), except `keep`; returns how many."""
    folder, removed = _partial_folder(), 0
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.startswith(f"{export_id}-") and path != keep:
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _with_progress(rows: Iterable[ExportRow], *, job: Job, total: int) -> Iterator[ExportRow]:
    """The rows, with a progress point (where a cancel stops the export) every PROGRESS_EVERY faces."""
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % PROGRESS_EVERY == 0:
            job_progress(job=job, done=done, total=max(total, done))


def _digest(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return os.path.getsize(path), digest.hexdigest()


def _publish(partial: str, name: str) -> str:
    """Put the whole file under its final storage name; returns the name storage gave it."""
    if isinstance(default_storage, FileSystemStorage):
        path = default_storage.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.replace(partial, path)
        return name
    with open(partial, "rb") as fh:
        stored = default_storage.save(name, File(fh, name=os.path.basename(name)))
    os.remove(partial)
    return stored


def export_execute(*, job: Job) -> dict:
    """Build the export's file, publish it whole, record it on the Export; a rerun of a finished export does nothing."""
    started = time.monotonic()
    export = Export.objects.select_related("version__project", "version__quality_run__model_version").filter(
        pk=job.params["export"]).first()
    if export is None:
        raise ValueError(f"export {job.params['export']} no longer exists")
    if export_is_finished(export=export):
        return {"export": export.pk, "format": export.format, "file": export.file, "size": export.size,
                "sha256": export.sha256, "reused": True}
    version = export.version
    total = version.item_count or version.entries.count()
    # A face erased while the file is built may be in it already: the build starts again without it (a few times).
    for _ in range(ERASED_REBUILDS):
        erased = version_erased_count(version_id=version.pk)
        name, size, sha256, written = _build(export=export, job=job, total=total)
        with transaction.atomic():
            locked = Export.objects.select_for_update().filter(pk=export.pk, job=job).first()
            if locked is None:  # the export was handed to another job meanwhile: this file is nobody's
                default_storage.delete(name)
                raise ValueError(f"export {export.pk} is no longer this job's")
            if version_erased_count(version_id=version.pk) == erased:
                Export.objects.filter(pk=export.pk).update(file=name, size=size, sha256=sha256, erased_items=erased,
                                                           finished_at=timezone.now())
                break
            default_storage.delete(name)
    else:
        raise ValueError(f"faces of export {export.pk}'s version kept being erased while it was built; build it again")
    return {"export": export.pk, "format": export.format, "file": name, "size": size, "sha256": sha256,
            "erased_faces": erased, "seconds": round(time.monotonic() - started, 2), **written}


def _build(*, export: Export, job: Job, total: int) -> tuple[str, int, str, dict]:
    """Write the export's file under a partial name and publish it; (storage name, size, sha256, writer's report)."""
    version = export.version
    job_progress(job=job, done=0, total=total, stage=f"writing {export.format}")
    partials_remove(export_id=export.pk)
    partial = os.path.join(_partial_folder(), f"{export.pk}-{job.pk}-{job.attempts}-{uuid.uuid4().hex[:8]}.part")
    try:
        with_answers = export.format in WITH_ANSWERS or (
            export.format in WITH_DIMENSION_ANSWERS and has_dimensions(version.project))
        rows = _with_progress(export_rows(version=version, with_answers=with_answers), job=job, total=total)
        with open(partial, "wb") as out:
            written = writer_for(export.format)(rows, out, info=export_info(version=version))
        job_progress(job=job, done=total, stage="storing the file")  # the last point where a cancel stops it
        size, sha256 = _digest(partial)
        name = _publish(partial, f"exports/{version.project_id}/v{version.number}-{version.sha256[:12]}/{job.pk}/"
                                 f"{export_file_name(export=export)}")
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return name, size, sha256, written


def export_cleanup(*, job: Job) -> dict:
    """After a cancel: remove every partial file of the job's export, so nothing half-written is left."""
    return {"partial_files_removed": partials_remove(export_id=int(job.params.get("export", 0)))}
