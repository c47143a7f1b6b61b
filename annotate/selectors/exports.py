"""Export reads: a version's exports by format, and a version's faces as the rows the export writers take."""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from django.core.files.storage import FileSystemStorage, default_storage

from annotate.exports.common import Answer, Dimensions, ExportInfo, ExportRow
from annotate.models import Annotation, DatasetVersion, DatasetVersionItem, Export, Item, Project
from annotate.selectors.erasure import version_data_card, version_erased_count
from ml.config import EXTRA_ANSWERS

ROW_BATCH = 500
# Remote stores answer one small GET at a time: this many crops are fetched at once (local files are read in turn).
REMOTE_READERS = 16


def exports_for_version(*, version: DatasetVersion) -> dict[str, Export]:
    """format -> the version's export of that format (with its job), for those ever requested."""
    exports = Export.objects.filter(version=version).select_related("job", "job__created_by", "job__cancelled_by")
    return {export.format: export for export in exports}


def export_info(*, version: DatasetVersion) -> ExportInfo:
    """What a file needs to describe the version: labels, soft-label classes, flags, the card, a fixed date."""
    project = version.project
    run = version.quality_run
    created = version.created_at
    erased = version_erased_count(version_id=version.pk)
    return ExportInfo(
        name=project.slug, title=f"{project.name} v{version.number}", version=version.number, sha256=version.sha256,
        labels=tuple(project.labels), soft_classes=tuple(label for label in project.labels if label not in EXTRA_ANSWERS),
        flags=tuple(project.flags), data_card=version_data_card(version=version, erased=erased), erased_faces=erased,
        model_version=run.model_version.name if run is not None and run.model_version is not None else "",
        valence_arousal=project.valence_arousal, action_units=tuple(project.action_units or ()),
        au_intensity=bool(project.action_units) and project.au_intensity,
        date_time=(max(created.year, 1980), created.month, created.day, created.hour, created.minute, created.second),
    )


def has_dimensions(project: Project) -> bool:
    """Whether the project asks for valence-arousal or action units beside the class (#18)."""
    return project.valence_arousal or bool(project.action_units)


def _version_answers(version: DatasetVersion) -> dict[int, list[Answer]]:
    """item id -> the live answers up to the version's watermark (corrections among those applied), oldest first.

    Annotators appear under pseudonyms (a0001, ...: their rank by account id among this version's annotators).
    Valence, arousal and AUs are read only where the project asks for them (AU keys become ints).
    """
    extra = ("valence", "arousal", "action_units") if has_dimensions(version.project) else ()
    rows = list(Annotation.objects.filter(
        project_id=version.project_id, id__lte=version.annotation_watermark, item__dataset_entries__version=version,
    ).order_by("id").values_list("id", "item_id", "annotator_id", "label", "flags", "seconds", "replaces_id", *extra))
    replaced = {r[6] for r in rows if r[6] is not None}
    live = [r for r in rows if r[0] not in replaced]
    pseudonym = {a: f"a{i + 1:04d}" for i, a in enumerate(sorted({r[2] for r in live}))}
    answers: dict[int, list[Answer]] = defaultdict(list)
    for _, item_id, annotator_id, label, flags, seconds, _, *dims in live:
        given = {}
        if dims:
            valence, arousal, units = dims
            given = {"valence": valence, "arousal": arousal,
                     "action_units": None if units is None else {int(au): int(v) for au, v in units.items()}}
        answers[item_id].append(Answer(annotator=pseudonym[annotator_id], label=label, flags=tuple(flags or ()),
                                       seconds=seconds, **given))
    return answers


def _version_dimensions(version: DatasetVersion) -> dict[int, Dimensions]:
    """item id -> the face's valence-arousal and AU consensus as frozen into the version (none where it has none)."""
    if not has_dimensions(version.project):
        return {}
    rows = DatasetVersionItem.objects.filter(version=version).exclude(dimensions={}).values_list("item_id", "dimensions")
    return {item_id: Dimensions(valence=d.get("valence"), arousal=d.get("arousal"), valence_spread=d.get("valence_spread"),
                                arousal_spread=d.get("arousal_spread"),
                                au_probability={int(au): p for au, p in (d.get("action_units") or {}).items()})
            for item_id, d in rows.iterator(chunk_size=5000)}


def _read_local(storage: FileSystemStorage, names: list[str]) -> list[bytes]:
    out = []
    for name in names:
        with open(storage.path(name), "rb") as fh:
            out.append(fh.read())
    return out


def _read_remote(storage, pool: ThreadPoolExecutor, names: list[str]) -> list[bytes]:
    def read_one(name: str) -> bytes:
        with storage.open(name, "rb") as fh:
            return fh.read()

    return list(pool.map(read_one, names))


def export_rows(*, version: DatasetVersion, with_answers: bool = False) -> Iterator[ExportRow]:
    """The version's faces ordered by split then item id, each with its stored crop (and answers, if asked)."""
    answers = _version_answers(version) if with_answers else {}
    dimensions = _version_dimensions(version)
    entries = DatasetVersionItem.objects.filter(version=version).order_by("split", "item_id").values_list(
        "item_id", "content_hash", "label", "label_source", "soft_label", "votes", "num_answers", "quality", "label_issue",
        "label_score", "model_label", "model_confidence", "flags", "reference_label", "split", "duplicate_group", "item__crop", "item__erased_at")
    storage = default_storage
    pool = None if isinstance(storage, FileSystemStorage) else ThreadPoolExecutor(REMOTE_READERS, thread_name_prefix="export-crops")
    read = (lambda names: _read_local(storage, names)) if pool is None else (lambda names: _read_remote(storage, pool, names))
    try:
        batch: list[tuple] = []
        for entry in entries.iterator(chunk_size=2000):
            batch.append(entry)
            if len(batch) >= ROW_BATCH:
                yield from _rows(batch, read, answers, dimensions)
                batch = []
        yield from _rows(batch, read, answers, dimensions)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _read_all(entries: list[tuple], read) -> dict[int, bytes]:
    missing = [e[0] for e in entries if not e[16]]
    if missing:
        raise ValueError(f"faces without a stored crop: {', '.join(map(str, missing[:10]))}")
    return dict(zip([e[0] for e in entries], read([e[16] for e in entries])))


def _read_unless_erased(batch: list[tuple], read) -> dict[int, bytes]:
    """item id -> stored crop bytes for the batch's faces that are not erased. A face erased after the rows were
    read has lost its file: it is asked again whether it is erased now (then it has no image), else it is an error."""
    kept = [e for e in batch if e[17] is None]
    try:
        return _read_all(kept, read)
    except FileNotFoundError:
        erased_now = set(Item.objects.filter(pk__in=[e[0] for e in kept], erased_at__isnull=False).values_list("pk", flat=True))
        if not erased_now:
            raise
        return _read_all([e for e in kept if e[0] not in erased_now], read)


def _rows(batch: list[tuple], read, answers: dict[int, list[Answer]],
          dimensions: dict[int, Dimensions]) -> Iterator[ExportRow]:
    if not batch:
        return
    images = _read_unless_erased(batch, read)
    for e in batch:
        png = images.get(e[0])
        yield ExportRow(
            item_id=e[0], content_hash=e[1], png=png or b"", label=e[2], label_source=e[3], soft_label=e[4] or {}, votes=e[5] or {},
            num_answers=e[6], quality=e[7], label_issue=e[8], label_score=e[9], model_label=e[10], model_confidence=e[11],
            flags=e[12] or {}, reference_label=e[13], split=e[14], duplicate_group=e[15], answers=tuple(answers.get(e[0], ())),
            dimensions=dimensions.get(e[0], Dimensions()), erased=png is None,
        )

