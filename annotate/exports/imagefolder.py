"""Image folders (``<split>/<class>/<id>.png``, what torchvision's ImageFolder and Keras read) as a zip.

Beside the folders: ``labels.csv`` with every face's soft label and quality columns (named so that the Hugging
Face imagefolder loader, which reads metadata.csv, still takes the classes from the folders), and the data card.
An erased face has no image: its labels.csv row stays, with an empty file_name. A project that asks for
valence-arousal or action units adds each face's consensus of them as the last columns (individual answers are not
in this format: the jsonl, parquet and label-studio exports carry them).
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import BinaryIO, Iterable

from annotate.exports import dimensions
from annotate.exports.common import DATA_CARD_NAME, ExportInfo, ExportRow, ZipOut, hf_split, png_crop

LABELS_NAME = "labels.csv"


def face_path(row: ExportRow) -> str:
    return f"{hf_split(row.split)}/{row.label}/{row.item_id}.png"


def metadata_header(info: ExportInfo) -> list[str]:
    return (["file_name", "item_id", "split", "label", "label_source"] + [f"soft_{c}" for c in info.soft_classes]
            + ["votes", "num_answers", "quality", "label_issue", "label_score", "model_label", "model_confidence", "flags",
               "reference_label", "duplicate_group", "content_hash"] + dimensions.csv_header(info))


def metadata_row(row: ExportRow, path: str, info: ExportInfo) -> list:
    """One face's line of labels.csv (votes and flags as JSON objects; empty where a score is missing)."""
    blank = lambda x: "" if x is None else x  # noqa: E731
    return ([path, row.item_id, hf_split(row.split), row.label, row.label_source]
            + [row.soft_label.get(c, 0.0) for c in info.soft_classes]
            + [json.dumps(row.votes, sort_keys=True), row.num_answers, blank(row.quality), int(row.label_issue),
               blank(row.label_score), row.model_label, blank(row.model_confidence), json.dumps(row.flags, sort_keys=True),
               row.reference_label, blank(row.duplicate_group), row.content_hash] + dimensions.csv_values(row, info))


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    counts: Counter = Counter()
    erased = 0
    metadata = io.StringIO()
    writer = csv.writer(metadata, lineterminator="\n")
    writer.writerow(metadata_header(info))
    with ZipOut(out, date_time=info.date_time) as zf:
        for row in rows:
            if row.erased:
                writer.writerow(metadata_row(row, "", info))
                erased += 1
                continue
            path = face_path(row)
            zf.write(path, png_crop(row.png), compress=False)
            writer.writerow(metadata_row(row, path, info))
            counts[(hf_split(row.split), row.label)] += 1
        zf.write(LABELS_NAME, metadata.getvalue())
        zf.write(DATA_CARD_NAME, info.data_card)
    per_split: dict[str, dict[str, int]] = {}
    for (split, label), n in sorted(counts.items()):
        per_split.setdefault(split, {})[label] = n
    return {"faces": sum(counts.values()), "per_split": per_split, "erased_without_image": erased, "files": ["<split>/<class>/<id>.png", LABELS_NAME, DATA_CARD_NAME]}
