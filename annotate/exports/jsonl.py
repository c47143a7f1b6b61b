"""JSON Lines in a zip: ``data.jsonl`` with one face per line, its image at the path the line names, the data card.

An erased face keeps its line, with ``"image": null`` and ``"erased": true`` (its image is in no file). A project that
asks for valence-arousal or action units adds each face's consensus of them and an ``answers`` list: every annotator's
answer with its dimensions (annotate.exports.dimensions)."""
from __future__ import annotations

import io
import json
from typing import BinaryIO, Iterable

from annotate.exports.common import DATA_CARD_NAME, ExportInfo, ExportRow, ZipOut, png_crop
from annotate.exports.dimensions import answer_fields, consensus_fields, has_dimensions

LINES_NAME = "data.jsonl"


def face_line(row: ExportRow, image: str | None, info: ExportInfo) -> dict:
    """Everything the version knows about one face (the soft label as an object over the expression classes)."""
    line = {
        "id": row.item_id, "image": image, "split": row.split, "label": row.label, "label_source": row.label_source,
        "soft_label": row.soft_label, "votes": row.votes, "num_answers": row.num_answers, "quality": row.quality,
        "label_issue": row.label_issue, "label_score": row.label_score, "model_label": row.model_label or None,
        "model_confidence": row.model_confidence, "flags": row.flags, "reference_label": row.reference_label or None,
        "duplicate_group": row.duplicate_group, "content_hash": row.content_hash,
    }
    if has_dimensions(info):
        line.update(consensus_fields(row, info))
        line["answers"] = [answer_fields(answer, info) for answer in row.answers]
    return line


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    lines = io.StringIO()
    faces = erased = 0
    with ZipOut(out, date_time=info.date_time) as zf:
        for row in rows:
            if row.erased:
                line = {**face_line(row, None, info), "erased": True}
                erased += 1
            else:
                image = f"images/{row.item_id}.png"
                zf.write(image, png_crop(row.png), compress=False)
                line = face_line(row, image, info)
                faces += 1
            lines.write(json.dumps(line, sort_keys=False, separators=(",", ":")) + "\n")
        zf.write(LINES_NAME, lines.getvalue())
        zf.write(DATA_CARD_NAME, info.data_card)
    return {"faces": faces, "erased_without_image": erased, "files": [LINES_NAME, "images/<id>.png", DATA_CARD_NAME]}
