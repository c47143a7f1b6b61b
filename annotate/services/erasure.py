"""Erasing a face on a lead's request (faces are biometric data): every stored byte of its images goes, its answers stay.

`item_erase` removes the face's original and crop from storage, every built export file that holds its image
(each is rebuilt by an export job that leaves the face's pixels out), the leftover upload of a failed import that
holds it, and the partial files of export builds no worker runs any more. The item row stays, marked erased, with
its answers, predictions, reviews, quality results and dataset-version entries: the face stays countable without
its image, and a dataset version's labels and content hash do not change. The face leaves the queue (its open
leases are closed; no lease, answer or model reads it again), and the audit log records who erased what and why.

What is kept on purpose: the item's hashes (content, pixel, 64-bit dHash). None of them can be turned back into
the face; they make a re-import of the same image a reported duplicate instead of bringing the face back.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import (
    JOB_FINISHED, Assignment, AssignmentStatus, Export, Item, Job, JobKind, JobStatus, Project,
)
from annotate.selectors.erasure import version_erased_count
from annotate.services.audit_log import audit_record

MAX_REASON = 1000
_SCAN_CHUNK = 1 << 20


@dataclass
class ErasureReport:
    """What one erasure did: the files it removed, the exports it touched, the leases it closed."""

    item: int
    erased_at: str
    erased_by: str
    already_erased: bool
    files_removed: list[str] = field(default_factory=list)
    exports: list[dict] = field(default_factory=list)
    uploads_removed: list[str] = field(default_factory=list)
    partial_files_removed: int = 0
    leases_closed: int = 0
    answers_kept: int = 0

    def as_dict(self) -> dict:
        return {
            "item": self.item, "erased_at": self.erased_at, "erased_by": self.erased_by, "already_erased": self.already_erased,
            "files_removed": self.files_removed, "exports": self.exports, "uploads_removed": self.uploads_removed,
            "partial_files_removed": self.partial_files_removed, "leases_closed": self.leases_closed,
            "answers_kept": self.answers_kept,
        }


def _delete(name: str) -> bool:
    """Remove one stored file; whether there was one."""
    if name and default_storage.exists(name):
        default_storage.delete(name)
        return True
    return False


def _contains(handle, needle: bytes) -> bool:
    """Whether a file's bytes contain `needle`, read in chunks (an upload can be gigabytes)."""
    tail = b""
    while chunk := handle.read(_SCAN_CHUNK):
        if needle in tail + chunk:
            return True
        tail = (tail + chunk)[-len(needle):]
    return False


def _upload_holds_face(name: str, *, content_hash: str, pixels: bytes | None) -> bool:
    """Whether a stored upload holds the face: a zip member or the whole file with its content hash, or (a FER2013
    csv) its pixel field."""
    with default_storage.open(name, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if head == b"PK\x03\x04":
            with zipfile.ZipFile(fh) as zf:
                for info in zf.infolist():
                    digest = hashlib.sha256()
                    with zf.open(info) as member:
                        while chunk := member.read(_SCAN_CHUNK):
                            digest.update(chunk)
                    if digest.hexdigest() == content_hash:
                        return True
            return False
        digest = hashlib.sha256()
        while chunk := fh.read(_SCAN_CHUNK):
            digest.update(chunk)
        if digest.hexdigest() == content_hash:
            return True
        if pixels is None:
            return False
        fh.seek(0)
        return _contains(fh, pixels)


def _crop_pixel_text(name: str) -> bytes | None:
    """The crop as FER2013's pixel field (how a csv upload spells the face), while it is still stored."""
    if not name or not default_storage.exists(name):
        return None
    from annotate.exports.common import pixels_text, png_pixels

    with default_storage.open(name, "rb") as fh:
        try:
            return pixels_text(png_pixels(fh.read()))
        except ValueError:
            return None


def _leftover_uploads(*, project: Project, content_hash: str, pixels: bytes | None) -> list[tuple[Job, str]]:
    """Uploads still stored by finished import jobs of the project (a failed import keeps its file) that hold the
    face. A running import's upload is its own: that job deletes it once read."""
    found = []
    jobs = Job.objects.filter(project=project, kind=JobKind.IMPORT, status__in=JOB_FINISHED).only("id", "params")
    for job in jobs:
        name = (job.params or {}).get("upload")
        if name and default_storage.exists(name) and _upload_holds_face(name, content_hash=content_hash, pixels=pixels):
            found.append((job, name))
    return found


def _close_leases(*, item: Item, now) -> int:
    """Close the face's open leases (as skipped) and uncount them: nobody is shown it again."""
    closed = Assignment.objects.filter(item=item, status=AssignmentStatus.OPEN).update(
        status=AssignmentStatus.SKIPPED, closed_at=now)
    item.lease_count, item.lease_until = 0, None
    return closed


def _exports_strip(*, item: Item, report: ErasureReport) -> list[Export]:
    """Take every built file of the face's dataset versions out of storage and mark each export; returns those
    to rebuild. A build running now checks the erased count again before it publishes (services.exports)."""
    from annotate.services.exports import partials_remove

    rebuild = []
    exports = (Export.objects.select_for_update(of=("self",)).select_related("job", "version")
               .filter(version__entries__item=item).order_by("id"))
    erased_in: dict[int, int] = {}
    for export in exports:
        if export.version_id not in erased_in:
            erased_in[export.version_id] = version_erased_count(version_id=export.version_id)
        entry = {"export": export.pk, "version": export.version_id, "version_number": export.version.number,
                 "format": export.format, "file_removed": None, "rebuild_job": None}
        if export.file:
            if _delete(export.file):
                entry["file_removed"] = export.file
                report.files_removed.append(export.file)
            rebuild.append(export)
        export.file, export.size, export.sha256, export.finished_at = "", 0, "", None
        export.erased_items = erased_in[export.version_id]
        export.save(update_fields=["file", "size", "sha256", "finished_at", "erased_items"])
        if export.job is None or export.job.status != JobStatus.RUNNING:
            report.partial_files_removed += partials_remove(export_id=export.pk)
        report.exports.append(entry)
    return rebuild


def _export_line(entry: dict) -> str:
    """One export as the audit log lists it (a sentence: the log page reads details generically)."""
    done = "built file removed" if entry["file_removed"] else "no built file"
    rebuild = f", rebuilt without the face by job {entry['rebuild_job']}" if entry["rebuild_job"] else ""
    return f"v{entry['version_number']} {entry['format']} (export {entry['export']}): {done}{rebuild}"


def item_erase(*, project: Project, item_id: int, actor, reason: str = "") -> ErasureReport:
    """Erase a face's images everywhere (see the module docstring); erasing an erased face again removes only what
    may have appeared since (and records nothing when there was nothing)."""
    from annotate.services.exports import export_request

    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"The reason is longer than {MAX_REASON} characters.", code="reason_too_long")
    with transaction.atomic():
        item = Item.objects.select_for_update(of=("self",)).filter(pk=item_id, project=project).first()
        if item is None:
            raise NotFound("No such item in this project.")
        already = item.erased_at is not None
        now = timezone.now()
        if not already:
            item.erased_at, item.erased_by = now, actor if getattr(actor, "is_authenticated", False) else None
        report = ErasureReport(item=item.pk, erased_at=item.erased_at.isoformat(), already_erased=already,
                               erased_by=(item.erased_by.get_username() if item.erased_by_id else ""))
        names = [name for name in (item.crop.name, item.image.name) if name]
        pixels = _crop_pixel_text(item.crop.name)
        report.leases_closed = _close_leases(item=item, now=now)
        item.crop, item.image = "", ""
        item.save(update_fields=["erased_at", "erased_by", "crop", "image", "lease_count", "lease_until"])
        rebuild = _exports_strip(item=item, report=report)
        report.files_removed += [name for name in names if _delete(name)]
        for job, name in _leftover_uploads(project=project, content_hash=item.content_hash, pixels=pixels):
            if _delete(name):
                report.uploads_removed.append(name)
        for export in rebuild:
            rebuilt = export_request(version=export.version, format=export.format, created_by=report_actor(actor))
            next(e for e in report.exports if e["export"] == export.pk)["rebuild_job"] = rebuilt.job_id
        report.answers_kept = item.annotations.count()
        removed = report.files_removed or report.uploads_removed or report.partial_files_removed or report.leases_closed
        if not already or removed:
            details = {"reason": reason or "(none given)", "files_removed": report.files_removed,
                       "exports": [_export_line(e) for e in report.exports], "uploads_removed": report.uploads_removed,
                       "partial_files_removed": report.partial_files_removed, "leases_closed": report.leases_closed,
                       "answers_kept": report.answers_kept}
            if already:
                details["repeat"] = "erased before; this removed what had appeared since"
            audit_record(project=project, actor=actor, action="item.erased", target=f"item:{item.pk}", details=details)
    return report


def report_actor(actor):
    """The user a rebuild job is created by (None for the system)."""
    return actor if getattr(actor, "is_authenticated", False) else None
