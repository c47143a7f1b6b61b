"""FER+ votes (microsoft/FERPlus's ``fer2013new.csv`` header) with the row-aligned ``fer2013.csv`` it needs, in a zip.

FER+ ships vote counts only: its rows line up with fer2013.csv's, which holds the pixels. The zip holds both,
row for row (every face of the version but the erased ones, whose pixels are gone: both files leave them out; the
emotion column is blank where the final label has no FER2013 class),
so FER+ tooling, and FERLab's own importer (fer2013.csv first, then its votes), read it as they read the originals.
"""
from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterable

from annotate.exports.common import (
    DATA_CARD_NAME, ExportInfo, ExportRow, ZipOut, csv_line, fer2013_index, fer_usage, pixels_text, png_pixels,
)
from annotate.exports.fer2013_csv import CSV_NAME as PIXELS_NAME, HEADER as PIXELS_HEADER
from ml.config import EXTRA_ANSWERS, FERPLUS_CLASSES, VOTE_NAMES

VOTES_NAME = "fer2013new.csv"
HEADER = ("Usage", "Image name") + VOTE_NAMES
# Each FER+ vote column and the FERLab label it counts (NF is not_a_face).
COLUMN_LABELS = tuple(zip(VOTE_NAMES, FERPLUS_CLASSES + EXTRA_ANSWERS))
# FER+'s own answer sheets had ten annotators per face; FERLab's importer reads no more than that.
FERPLUS_MAX_VOTES = 10


def image_name(row_number: int) -> str:
    """FER+'s name for the image of fer2013.csv's row (fer0000000.png, ...)."""
    return f"fer{row_number:07d}.png"


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    """Write fer2013.csv as the rows come and hold the short vote lines until it is done (one zip member at a time)."""
    votes = io.StringIO()
    votes_writer = csv.writer(votes, lineterminator="\n")
    votes_writer.writerow(HEADER)
    counted = {label for _, label in COLUMN_LABELS}
    faces = no_votes = over_ten = uncounted = erased = 0
    with ZipOut(out, date_time=info.date_time) as zf:
        with zf.lines_member(PIXELS_NAME) as pixels:
            pixels.write(csv_line(*PIXELS_HEADER))
            for row in rows:
                if row.erased:
                    erased += 1
                    continue
                usage = fer_usage(row.split)
                emotion = fer2013_index(row.label)
                pixels.write(csv_line("" if emotion is None else emotion, pixels_text(png_pixels(row.png)), usage))
                counts = [int(row.votes.get(label, 0)) for _, label in COLUMN_LABELS]
                votes_writer.writerow((usage, image_name(faces), *counts))
                total = sum(counts)
                no_votes += total == 0
                over_ten += total > FERPLUS_MAX_VOTES
                uncounted += sum(int(n) for label, n in row.votes.items() if label not in counted)
                faces += 1
        zf.write(VOTES_NAME, votes.getvalue())
        zf.write(DATA_CARD_NAME, info.data_card)
    return {"faces": faces, "faces_without_votes": no_votes, "faces_over_ten_votes": over_ten,
            "votes_without_a_column": uncounted, "erased_left_out": erased, "files": [VOTES_NAME, PIXELS_NAME, DATA_CARD_NAME]}
