"""FER2013 CSV (``emotion,pixels,Usage``) in a zip beside the data card: FER2013's seven classes in its order."""
from __future__ import annotations

from collections import Counter
from typing import BinaryIO, Iterable

from annotate.exports.common import (
    DATA_CARD_NAME, ExportInfo, ExportRow, ZipOut, csv_line, fer2013_index, fer_usage, pixels_text, png_pixels,
)

CSV_NAME = "fer2013.csv"
HEADER = ("emotion", "pixels", "Usage")


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    """Write every face whose final label is a FER2013 class; the others (contempt, ...) and erased faces (no pixels
    left) are left out and counted."""
    left_out: Counter = Counter()
    written = erased = 0
    with ZipOut(out, date_time=info.date_time) as zf:
        with zf.lines_member(CSV_NAME) as lines:
            lines.write(csv_line(*HEADER))
            for row in rows:
                if row.erased:
                    erased += 1
                    continue
                emotion = fer2013_index(row.label)
                if emotion is None:
                    left_out[row.label] += 1
                    continue
                lines.write(csv_line(emotion, pixels_text(png_pixels(row.png)), fer_usage(row.split)))
                written += 1
        zf.write(DATA_CARD_NAME, info.data_card)
    return {"faces": written, "left_out": dict(sorted(left_out.items())), "erased_left_out": erased,
            "files": [CSV_NAME, DATA_CARD_NAME]}
