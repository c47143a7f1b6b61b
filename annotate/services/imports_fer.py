"""FER2013 csv (`emotion,pixels,Usage`) and FER+ vote csv (`fer2013new.csv`) readers, streamed row by row."""
from __future__ import annotations

import csv
import itertools
import random
import uuid
from typing import BinaryIO, Iterator

from django.db import transaction
from django.db.models import F

from annotate.models import Annotation, Item, Project
from annotate.services.imports_base import (
    BATCH_SIZE, ImportReport, ItemWriter, PendingItem, Progress, Ticker, import_user_ensure,
)
from ml import faces
from ml.config import EXTRA_ANSWERS, FER2013_CLASSES, FERPLUS_CLASSES, VOTE_NAMES

LINE_LIMIT = 64 * 1024  # a FER2013 line is under 10 kB; longer lines are skipped without reading them whole
FER2013_ANNOTATOR = "fer2013-original"
FERPLUS_ANNOTATORS = [f"ferplus-crowd-{i:02d}" for i in range(1, 11)]
FERPLUS_VOTE_COLUMNS = VOTE_NAMES
FERPLUS_LABELS = dict(zip(VOTE_NAMES, FERPLUS_CLASSES + EXTRA_ANSWERS))  # vote column -> project label


class BadHeader(ValueError):
    """The csv's header does not have the columns the format needs."""


def count_lines(path: str) -> int:
    """Data rows in a csv (newlines minus the header), counted in binary chunks: fast and bounded."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def bounded_lines(fh: BinaryIO, report: ImportReport) -> Iterator[str]:
    """Decoded lines of at most LINE_LIMIT bytes; a longer line is reported and skipped unread."""
    line_no = 0
    while True:
        raw = fh.readline(LINE_LIMIT + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) > LINE_LIMIT and not raw.endswith(b"\n"):
            while (rest := fh.readline(LINE_LIMIT)) and not rest.endswith(b"\n"):
                pass
            report.skip(f"line {line_no}", "line_too_long", f"longer than {LINE_LIMIT} bytes; not a FER csv row")
            yield ""  # keep row numbering aligned with the file
            continue
        yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8", errors="replace")


def csv_rows(lines: Iterator[str]) -> Iterator[list[str]]:
    """The rows csv.reader reads from these lines; a line without quotes, carriage returns or NULs (every FER2013
    row) is split on commas directly, ten times faster than the reader's character loop on an 8 kB row."""
    for line in lines:
        text = line.rstrip("\r\n")
        if '"' in text or "\r" in text or "\0" in text:
            # The reader takes this line and, for a quoted field that spans lines, the next ones.
            yield next(csv.reader(itertools.chain([line], lines)))
        else:
            yield text.split(",") if text else []


def read_header(rows: Iterator[list[str]]) -> list[str]:
    header = next(rows, None)
    if not header:
        raise BadHeader("the file is empty")
    return [name.strip() for name in header]


def _where(row: int) -> str:
    return f"row {row} (line {row + 2})"


def import_fer2013(*, project: Project, path: str, source: str, report: ImportReport, labels_as_answers: bool = False, job=None,
                   progress: Progress | None = None, split: str = "", gold_from_reference: bool = False) -> None:
    """Each row becomes an item (48x48 crop, split = Usage, else `split`); the label is the reference label (and the
    gold label with `gold_from_reference`) or an answer."""
    ticker = Ticker(progress, count_lines(path))
    labels = set(project.labels)
    user = import_user_ensure(project=project, username=FER2013_ANNOTATOR) if labels_as_answers else None
    with open(path, "rb") as fh, ItemWriter(project=project, report=report, answer_user=user, job=job, split=split,
                                            gold_from_reference=gold_from_reference) as writer:
        rows = csv_rows(bounded_lines(fh, report))
        header = read_header(rows)
        lowered = [h.lower() for h in header]
        if "pixels" not in lowered:
            raise BadHeader(f"wrong columns {','.join(header)[:200]!r}: a fer2013 csv needs emotion,pixels,Usage")
        i_pixels = lowered.index("pixels")
        i_emotion = lowered.index("emotion") if "emotion" in lowered else None
        i_usage = lowered.index("usage") if "usage" in lowered else None
        if i_emotion is None:
            report.notes.append("no emotion column: items are imported without a reference label")
        for row_no, row in enumerate(rows):
            report.seen += 1
            ticker(row_no)
            where = _where(row_no)
            if not row:
                if not report.skipped or report.skipped[-1]["where"] != f"line {row_no + 2}":
                    report.skip(where, "empty_row", "empty line")
                continue
            if len(row) != len(header):
                report.skip(where, "wrong_columns", f"has {len(row)} fields, the header has {len(header)}")
                continue
            try:
                pixels = faces.parse_fer_pixels(row[i_pixels])
            except ValueError as exc:
                report.skip(where, "bad_pixels", str(exc))
                continue
            label = ""
            if i_emotion is not None and row[i_emotion].strip() != "":
                emotion = row[i_emotion].strip()
                if not emotion.isdigit() or int(emotion) >= len(FER2013_CLASSES):
                    report.skip(where, "bad_emotion", f"emotion {emotion[:20]!r} is not a FER2013 class 0..6")
                    continue
                label = FER2013_CLASSES[int(emotion)]
                if label not in labels:
                    report.skip(where, "label_not_in_project", f"label {label!r} is not in the project's label set")
                    continue
            split = row[i_usage].strip() if i_usage is not None else ""
            pixel_hash = faces.sha256(pixels)  # the content of a csv row is its pixels
            writer.add(PendingItem(
                where=where, content_hash=pixel_hash, pixel_hash=pixel_hash, crop=pixels, width=48, height=48,
                source=f"{source}:{row_no}", source_row=row_no, split=split,
                reference_label="" if labels_as_answers else label, answer_label=label if labels_as_answers else "",
            ))
    ticker(report.seen, final=True)


def import_ferplus(*, project: Project, path: str, source: str, report: ImportReport, votes_as_answers: bool = False,
                   progress: Progress | None = None) -> None:
    """Attach FER+ votes to the items of a fer2013.csv imported before, matched on the row number.

    Rows are read and checked first (the progress points, where a cancel stops it with nothing written),
    then every vote is written in one transaction: a votes import lands whole or not at all.
    """
    ticker = Ticker(progress, count_lines(path))
    if votes_as_answers:
        missing = [FERPLUS_LABELS[c] for c in FERPLUS_VOTE_COLUMNS if FERPLUS_LABELS[c] not in project.labels]
        if missing:
            raise BadHeader(f"the project's label set lacks {', '.join(missing)}: FER+ votes cannot become answers")
        crowd = [import_user_ensure(project=project, username=name) for name in FERPLUS_ANNOTATORS]
    if not Item.objects.filter(project=project, source_row__isnull=False).exists():
        raise BadHeader("the project has no items from a fer2013.csv: import fer2013.csv first, then its FER+ votes")
    with open(path, "rb") as fh:
        rows = csv_rows(bounded_lines(fh, report))
        header = read_header(rows)
        if [h.lower() for h in header[:12]] != [c.lower() for c in ("Usage", "Image name") + FERPLUS_VOTE_COLUMNS]:
            raise BadHeader(
                f"wrong columns {','.join(header)[:200]!r}: a FER+ csv needs Usage,Image name,{','.join(FERPLUS_VOTE_COLUMNS)}"
            )
        batches: list[list[tuple[int, str, dict]]] = [[]]
        for row_no, row in enumerate(rows):
            report.seen += 1
            ticker(row_no)
            where = _where(row_no)
            if not row:
                continue
            if len(row) != len(header):
                report.skip(where, "wrong_columns", f"has {len(row)} fields, the header has {len(header)}")
                continue
            counts = [c.strip() for c in row[2:12]]
            if not all(c.isdigit() for c in counts):
                report.skip(where, "bad_votes", "vote counts must be whole numbers >= 0")
                continue
            votes = {FERPLUS_LABELS[name]: int(c) for name, c in zip(FERPLUS_VOTE_COLUMNS, counts)}
            if not 0 < sum(votes.values()) <= len(FERPLUS_ANNOTATORS):
                report.skip(where, "bad_votes", f"{sum(votes.values())} votes; expected 1..{len(FERPLUS_ANNOTATORS)}")
                continue
            batches[-1].append((row_no, row[0].strip(), votes))
            if len(batches[-1]) >= BATCH_SIZE:
                batches.append([])
    ticker(report.seen, final=True)
    with transaction.atomic():
        for batch in batches:
            _apply_votes(project, batch, report, crowd if votes_as_answers else None)


def _apply_votes(project: Project, batch: list[tuple[int, str, dict]], report: ImportReport, crowd: list | None) -> None:
    if not batch:
        return
    items: dict[int, Item] = {}
    for item in Item.objects.filter(project=project, source_row__in=[r for r, _, _ in batch]).only("id", "source_row", "split").order_by("-id"):
        items[item.source_row] = item  # the oldest item wins if two fer2013 files were imported
    done_items = set()
    if crowd is not None:
        done_items = set(Annotation.objects.filter(item__in=items.values(), annotator__in=crowd).values_list("item_id", flat=True).distinct())
    to_update, answers, by_count = [], [], {}
    for row_no, usage, votes in batch:
        where = _where(row_no)
        item = items.get(row_no)
        if item is None:
            report.skip(where, "no_matching_item", f"no item from fer2013.csv row {row_no} in this project (was that row skipped or a duplicate?)")
            continue
        if usage and item.split and usage != item.split:
            report.skip(where, "usage_mismatch", f"Usage {usage!r} but item {item.pk} is {item.split!r}: are the files aligned?")
            continue
        if crowd is None:
            item.reference_votes = votes
            to_update.append(item)
            continue
        if item.pk in done_items:
            report.duplicate(where, f"FER+ votes already imported as answers for item {item.pk}", item.pk)
            continue
        # Each vote is a different person's answer; which crowd account gives which vote is shuffled
        # per row (seeded, so reimports agree) so that no account always holds the majority vote.
        labels = [label for label, n in votes.items() for _ in range(n)]
        people = random.Random(row_no).sample(crowd, len(labels))
        answers += [
            Annotation(project=project, item=item, annotator=person, label=label, client_id=uuid.uuid4(), source="import")
            for person, label in zip(people, labels)
        ]
        by_count.setdefault(len(labels), []).append(item.pk)
        to_update.append(item)
    with transaction.atomic():
        if crowd is None:
            Item.objects.bulk_update(to_update, ["reference_votes"])
        else:
            Annotation.objects.bulk_create(answers)
            for n, ids in by_count.items():
                Item.objects.filter(pk__in=ids).update(answer_count=F("answer_count") + n)
    report.updated += len(to_update)
    report.answers += len(answers)
