"""Import plumbing shared by every format: the report, the batched item writer with dedup, crop storage."""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, connection, transaction

from annotate.models import Annotation, Item, Membership, Project, Role
from annotate.services.imports_sql import item_ids_by_hash, item_rows_insert
from ml import faces

BATCH_SIZE = 1000
# dHash bits that may differ for two crops to count as near duplicates: 0-4 is "same picture,
# re-encoded, resized or slightly edited"; above ~8 unrelated FER faces start to match.
NEAR_DUPLICATE_BITS = 4
# The report keeps every count, and lists at most this many entries per list (Job.result stays small).
REPORT_LIST_CAP = 5000
# Original image files wait in memory until their batch is written; this bounds that memory.
MAX_PENDING_BYTES = 64 * 1024 * 1024
# The faces table's planner statistics are refreshed when an import has added this many faces, then at each doubling.
ANALYZE_FIRST_AT = 5_000

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did; every skipped row or file is listed with its reason."""

    format: str
    source: str
    seen: int = 0
    imported: int = 0
    updated: int = 0
    answers: int = 0
    gold: int = 0  # new faces marked gold from their reference label
    error: str = ""
    skipped: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    near_duplicates: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict = field(default_factory=lambda: {"skipped": 0, "duplicates": 0, "near_duplicates": 0})

    @property
    def ok(self) -> bool:
        """Something usable was read: new items, updated items, or rows already imported before."""
        return not self.error and bool(self.imported or self.updated or self.counts["duplicates"])

    def skip(self, where: str, code: str, reason: str) -> None:
        self._add("skipped", {"where": where, "code": code, "reason": f"{where}: {reason}"})

    def duplicate(self, where: str, reason: str, item_id: int | None = None) -> None:
        self._add("duplicates", {"where": where, "item": item_id, "reason": f"{where}: {reason}"})

    def near_duplicate(self, where: str, item_id: int, similar_item_id: int, distance: int) -> None:
        self._add("near_duplicates", {"where": where, "item": item_id, "similar_item": similar_item_id, "distance": distance})

    def _add(self, name: str, entry: dict) -> None:
        self.counts[name] += 1
        entries = getattr(self, name)
        if len(entries) < REPORT_LIST_CAP:
            entries.append(entry)

    def as_dict(self) -> dict:
        listed = {name: len(getattr(self, name)) for name in self.counts}
        notes = list(self.notes) + [
            f"only the first {listed[name]} of {count} {name.replace('_', ' ')} are listed"
            for name, count in self.counts.items() if count > listed[name]
        ]
        return {
            "format": self.format, "source": self.source, "ok": self.ok, "error": self.error, "seen": self.seen,
            "imported": self.imported, "updated": self.updated, "answers": self.answers, "gold": self.gold,
            "skipped_count": self.counts["skipped"], "duplicate_count": self.counts["duplicates"],
            "near_duplicate_count": self.counts["near_duplicates"], "seconds": round(self.seconds, 2),
            "skipped": self.skipped, "duplicates": self.duplicates, "near_duplicates": self.near_duplicates, "notes": notes,
        }


class FileWriter:
    """Writes item files under deterministic, content-addressed names.

    Names are derived from the project id and the content hash only (never from an uploaded
    name), so nothing can land outside the media folder. On local storage files are written
    directly: Storage.save()'s name probing and locking cost more than the tiny crop itself.
    """

    def __init__(self) -> None:
        self.storage = default_storage
        self.local = isinstance(self.storage, FileSystemStorage)
        self._dirs: set[str] = set()
        # One background thread: file creation waits in the kernel and PNG encoding releases
        # the GIL, so the next batch is parsed while this one is written.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-files")

    def submit(self, files: list[tuple[str, bytes | np.ndarray]]) -> Future:
        """Store (name, bytes or a grey crop to encode as PNG) pairs in the background; the future
        gives the stored names."""
        return self._pool.submit(lambda: [self._write(name, data) for name, data in files])

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _write(self, name: str, data: bytes | np.ndarray) -> str:
        if isinstance(data, np.ndarray):
            data = faces.png_bytes(data)
        if not self.local:
            return self.storage.save(name, ContentFile(data))
        path = self.storage.path(name)  # safe_join: raises if the name escapes MEDIA_ROOT
        folder = os.path.dirname(path)
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return name


@dataclass
class PendingItem:
    where: str
    content_hash: str
    crop: np.ndarray
    width: int
    height: int
    source: str
    source_row: int | None = None
    split: str = ""
    reference_label: str = ""
    original: bytes | None = None
    original_ext: str = ""
    answer_label: str = ""
    pixel_hash: str = ""  # sha256 of the crop's pixels; set by the writer


class ItemWriter:
    """Collects new items, drops exact duplicates, reports near duplicates, writes in batches.

    Exact duplicates are never stored twice in a project: the same file bytes (content hash), or the same
    decoded pixels after the grey 48x48 crop an item is stored with (pixel hash), so a PNG of a face imported
    before from a CSV is a duplicate too. Near duplicates (dHash within NEAR_DUPLICATE_BITS of an existing or
    earlier item) are stored and reported. Each batch is one transaction, so an interrupted import keeps what
    it wrote and a rerun skips it as duplicates.
    """

    def __init__(self, *, project: Project, report: ImportReport, answer_user=None, batch_size: int = BATCH_SIZE, job=None,
                 split: str = "", gold_from_reference: bool = False):
        self.project, self.report, self.answer_user, self.batch_size = project, report, answer_user, batch_size
        self.job = job  # items are tagged with their import job, so a cancelled import can remove them
        self.split = split  # the split of faces whose row or folder names none
        self.gold_from_reference = gold_from_reference  # a face with a reference label becomes gold with that label
        self.files = FileWriter()
        self.pending: list[PendingItem] = []
        self.pending_bytes = 0
        self._inflight: tuple[list[PendingItem], list[int], Future] | None = None
        self.seen: dict[str, str] = {}
        self.seen_pixels: dict[str, str] = {}
        self.near = faces.NearDuplicateIndex(max_distance=NEAR_DUPLICATE_BITS)
        self._analyze_at = ANALYZE_FIRST_AT
        rows = Item.objects.filter(project=project, perceptual_hash__isnull=False).values_list("id", "perceptual_hash")
        for item_id, phash in rows.iterator(chunk_size=10_000):
            self.near.add(phash, item_id)

    def is_known(self, content_hash: str, where: str) -> bool:
        """True (and reported) if this content is already in the import or the project."""
        return self._known("content_hash", content_hash, self.seen, where, "same image as {} in this import",
                           "already in the project as item {}")

    def is_known_pixels(self, pixel_hash: str, where: str) -> bool:
        """True (and reported) if a face with these crop pixels is already in the import or the project."""
        return self._known("pixel_hash", pixel_hash, self.seen_pixels, where, "same face pixels as {} in this import",
                           "same face pixels as item {}, already in the project")

    def _known(self, field: str, value: str, seen: dict[str, str], where: str, in_import: str, in_project: str) -> bool:
        if value in seen:
            self.report.duplicate(where, in_import.format(seen[value]))
            return True
        existing = Item.objects.filter(project=self.project, **{field: value}).values_list("id", flat=True).first()
        if existing is not None:
            self.report.duplicate(where, in_project.format(existing), existing)
            return True
        return False

    def add(self, pending: PendingItem) -> None:
        if pending.content_hash in self.seen:
            self.report.duplicate(pending.where, f"same image as {self.seen[pending.content_hash]} in this import")
            return
        pending.pixel_hash = pending.pixel_hash or faces.sha256(pending.crop)
        if pending.pixel_hash in self.seen_pixels:
            self.report.duplicate(pending.where, f"same face pixels as {self.seen_pixels[pending.pixel_hash]} in this import")
            return
        self.seen[pending.content_hash] = pending.where
        self.seen_pixels[pending.pixel_hash] = pending.where
        self.pending.append(pending)
        self.pending_bytes += len(pending.original or b"")
        if len(self.pending) >= self.batch_size or self.pending_bytes >= MAX_PENDING_BYTES:
            self.flush()

    def __enter__(self) -> "ItemWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
                self._commit()
            else:
                self._discard_inflight()
        finally:
            self.files.close()

    def _discard_inflight(self) -> None:
        """On a stop (a cancel, an error) the files of the batch not yet committed would belong to no item: delete them."""
        if self._inflight is None:
            return
        _, _, future = self._inflight
        self._inflight = None
        try:
            names = [name for name in future.result() if name]
        except Exception:  # the write itself failed: nothing more to remove than what it wrote
            return
        used = set(Item.objects.filter(project=self.project, crop__in=names).values_list("crop", flat=True))
        used |= set(Item.objects.filter(project=self.project, image__in=names).values_list("image", flat=True))
        for name in set(names) - used:
            self.files.storage.delete(name)

    def flush(self) -> None:
        """Send the pending batch's files to the writer thread, then insert the previous batch's rows
        (a row is inserted only once its files are on disk)."""
        batch, self.pending, self.pending_bytes = self._drop_existing(self.pending), [], 0
        self._commit()
        if batch:
            files, hashes = [], []
            for p in batch:
                hashes.append(faces.dhash(p.crop))
                shard = f"items/{self.project.pk}/{p.content_hash[:2]}/{p.content_hash}"
                files.append((f"{shard}.png", p.crop))
                if p.original is not None:
                    files.append((f"{shard}.{p.original_ext}", p.original))
            self._inflight = (batch, hashes, self.files.submit(files))

    def _drop_existing(self, batch: list[PendingItem]) -> list[PendingItem]:
        """The batch without the faces the project holds already, by file bytes or by crop pixels (each reported)."""
        if not batch:
            return batch
        by_content = item_ids_by_hash(project=self.project, field="content_hash", values=[p.content_hash for p in batch])
        by_pixels = item_ids_by_hash(project=self.project, field="pixel_hash", values=[p.pixel_hash for p in batch])
        kept = []
        for p in batch:
            if p.content_hash in by_content:
                self.report.duplicate(p.where, f"already in the project as item {by_content[p.content_hash]}", by_content[p.content_hash])
            elif p.pixel_hash in by_pixels:
                self.report.duplicate(p.where, f"same face pixels as item {by_pixels[p.pixel_hash]}, already in the project",
                                      by_pixels[p.pixel_hash])
            else:
                kept.append(p)
        return kept

    def _commit(self) -> None:
        if self._inflight is None:
            return
        batch, hashes, future = self._inflight
        self._inflight = None
        names = iter(future.result())
        stored = [(next(names), next(names) if p.original is not None else "") for p in batch]
        try:
            created = self._insert(batch, hashes, stored)
        except _DuplicatesArrived:
            batch, hashes, stored = self._keep_new(batch, hashes, stored)
            created = self._insert(batch, hashes, stored)
        except IntegrityError:
            # A concurrent import stored some of the same faces first: they are duplicates now.
            keep = {p.content_hash for p in self._drop_existing(batch)}
            rows = [(p, h, s) for p, h, s in zip(batch, hashes, stored) if p.content_hash in keep]
            batch, hashes, stored = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            created = self._insert(batch, hashes, stored)
        self.report.imported += len(created)
        if self.report.imported >= self._analyze_at:
            self._analyze_at *= 2
            table_statistics_refresh()
        self.report.gold += sum(bool(p.reference_label) for p in batch) if self.gold_from_reference else 0
        # The whole batch in one call: the index answers a thousand faces with a few array operations.
        for item_id, p, found in zip(created, batch, self.near.add_many(hashes, created)):
            if found is not None:
                self.report.near_duplicate(p.where, item_id, *found)

    def _keep_new(self, batch: list[PendingItem], hashes: list[int], stored: list[tuple[str, str]]):
        """The rows a concurrent import has not stored meanwhile (batch, hashes, stored names); drop the files of the rest."""
        keep = {id(p) for p in self._drop_existing(batch)}
        rows = [(p, h, s) for p, h, s in zip(batch, hashes, stored) if id(p) in keep]
        dropped = {name for p, _, names in zip(batch, hashes, stored) if id(p) not in keep for name in names if name}
        used = set(Item.objects.filter(project=self.project, crop__in=dropped).values_list("crop", flat=True))
        used |= set(Item.objects.filter(project=self.project, image__in=dropped).values_list("image", flat=True))
        for name in dropped - used:
            self.files.storage.delete(name)
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def _insert(self, batch: list[PendingItem], hashes: list[int], stored: list[tuple[str, str]]) -> list[int]:
        """Insert the batch's items (and imported answers) in one transaction; returns their ids in batch order."""
        answer = bool(self.answer_user)
        rows = {
            "image": [image_name for _, image_name in stored], "crop": [crop_name for crop_name, _ in stored],
            "content_hash": [p.content_hash for p in batch], "pixel_hash": [p.pixel_hash for p in batch],
            "perceptual_hash": list(hashes), "width": [p.width for p in batch], "height": [p.height for p in batch],
            "source": [p.source[:300] for p in batch], "source_row": [p.source_row for p in batch],
            "split": [(p.split or self.split)[:32] for p in batch], "reference_label": [p.reference_label for p in batch],
            "answer_count": [1 if p.answer_label and answer else 0 for p in batch],
            "is_gold": [self.gold_from_reference and bool(p.reference_label) for p in batch],
            "gold_label": [p.reference_label if self.gold_from_reference else "" for p in batch],
        }
        with transaction.atomic():
            # One import at a time writes a project's faces: the pixel-hash check (no unique constraint can hold
            # it: projects imported before pixel hashes existed may have such copies) is repeated under the lock.
            Project.objects.select_for_update().filter(pk=self.project.pk).first()
            if item_ids_by_hash(project=self.project, field="pixel_hash", values=[p.pixel_hash for p in batch]):
                raise _DuplicatesArrived()
            ids = item_rows_insert(common={"project": self.project, "import_job": self.job}, rows=rows)
            if self.answer_user is not None:
                answers = [
                    Annotation(project=self.project, item_id=item_id, annotator=self.answer_user, label=p.answer_label,
                               client_id=uuid.uuid4(), source="import")
                    for item_id, p in zip(ids, batch) if p.answer_label
                ]
                Annotation.objects.bulk_create(answers)
                self.report.answers += len(answers)
        return ids


def table_statistics_refresh() -> None:
    """ANALYZE the faces table (PostgreSQL): a table that grows by a million rows in minutes outruns autovacuum's
    statistics (its threshold is a tenth of the table, checked once a minute, and it may be off), and with the old
    row counts the planner answered each batch's hash lookup by reading every face of the project through
    item_progress_idx: 160 ms a lookup at 430,000 faces and growing with each batch, where the hash index takes
    ~10 ms. About ten refreshes in a million rows, each reads a fixed sample."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(Item._meta.db_table)}")


class _DuplicatesArrived(Exception):
    """A concurrent import stored faces with the same pixels between the check and the insert."""


def import_user_ensure(*, project: Project, username: str):
    """An account standing for an imported annotator: cannot log in, is an annotator of the project."""
    user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
    return user


class Ticker:
    """Calls progress(done, total) at most every `every` seconds, and always at the end."""

    def __init__(self, progress: Progress | None, total: int, every: float = 0.5):
        self.progress, self.total, self.every, self.last = progress, total, every, 0.0

    def __call__(self, done: int, *, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if final or now - self.last >= self.every:
            self.last = now
            self.progress(done, self.total)
