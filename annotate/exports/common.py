"""What every export writer shares: the row and dataset descriptions, split names, face images, zip members."""
from __future__ import annotations

import re
import struct
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import numpy as np

from ml import faces
from ml.config import FER2013_CLASSES

CROP_SIZE = 48
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The name of the card inside every zip (the Parquet layout's card is its README.md, which the Hub reads).
DATA_CARD_NAME = "DATA_CARD.md"
# FER2013's Usage values, and the names the Hugging Face layout and image folders give the same splits.
FER_USAGE = {"train": "Training", "training": "Training", "validation": "PublicTest", "valid": "PublicTest",
             "val": "PublicTest", "publictest": "PublicTest", "test": "PrivateTest", "privatetest": "PrivateTest"}
HF_SPLIT = {"training": "train", "train": "train", "publictest": "validation", "validation": "validation",
            "valid": "validation", "val": "validation", "privatetest": "test", "test": "test"}
# Every face of the fer2013 text needs its 2,304 numbers; a table of "0 ".."255 " padded to four bytes turns a
# whole crop into text with one numpy gather (twice as fast as joining Python strings).
_PIXEL_TEXT = np.array([f"{i} ".encode().ljust(4, b"\0") for i in range(256)], dtype="S4")


@dataclass(frozen=True)
class Answer:
    """One annotator's live answer, under a pseudonym that is stable within the version (never a name)."""

    annotator: str
    label: str
    flags: tuple[str, ...] = ()
    seconds: float | None = None
    valence: float | None = None
    arousal: float | None = None
    # AU number -> 0 absent, 1 present (or 1..5 = FACS intensity A..E); an AU left out was not judged (as stored).
    action_units: dict[int, int] | None = None


# A face's consensus AU is called present when its probability is at least this (ml.action_units.au_consensus's rule).
AU_PRESENT_AT = 0.5
INTENSITY_LETTERS = "ABCDE"


@dataclass(frozen=True)
class Dimensions:
    """A face's valence-arousal and AU consensus from the quality run the version used (None: not computed)."""

    valence: float | None = None
    arousal: float | None = None
    valence_spread: float | None = None
    arousal_spread: float | None = None
    au_probability: dict[int, float | None] = field(default_factory=dict)

    def au_present(self, au: int) -> int | None:
        """The consensus decision for one AU: 1 present, 0 absent, None when nobody judged it."""
        p = self.au_probability.get(au)
        return None if p is None else int(p >= AU_PRESENT_AT)


@dataclass(frozen=True)
class ExportRow:
    """One face of a version, as the writers see it: its 48x48 grey PNG, its final label and every quality column."""

    item_id: int
    content_hash: str
    png: bytes
    label: str
    label_source: str = "consensus"
    soft_label: dict[str, float] = field(default_factory=dict)
    votes: dict[str, int] = field(default_factory=dict)
    num_answers: int = 0
    quality: float | None = None
    label_issue: bool = False
    label_score: float | None = None
    model_label: str = ""
    model_confidence: float | None = None
    flags: dict[str, int] = field(default_factory=dict)
    reference_label: str = ""
    split: str = ""
    duplicate_group: int | None = None
    answers: tuple[Answer, ...] = ()
    dimensions: Dimensions = field(default_factory=Dimensions)
    # An erased face (biometric data removed on request): ``png`` is empty and no writer puts pixels for it.
    erased: bool = False


@dataclass(frozen=True)
class ExportInfo:
    """The version the rows belong to, as much of it as a file needs to describe itself.

    ``labels`` are every final label a face may have (the ClassLabel names, in the project's order);
    ``soft_classes`` the classes a soft label is spread over, in the order of the exported lists.
    """

    name: str
    title: str
    version: int
    sha256: str
    labels: tuple[str, ...]
    soft_classes: tuple[str, ...]
    flags: tuple[str, ...] = ()
    data_card: str = ""
    model_version: str = ""
    erased_faces: int = 0  # faces of the version whose images were erased (the card says how the format shows them)
    # The dimensions the project asks for beside the class: the writers add their columns only then.
    valence_arousal: bool = False
    action_units: tuple[int, ...] = ()
    au_intensity: bool = False
    # Every member of a zip carries this time, so one version's export is the same bytes whenever it is built.
    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)


def au_name(au: int) -> str:
    """An AU's column or key name in every export (AU12): the name DISFA's and BP4D's files use."""
    return f"AU{au}"


def fer_usage(split: str) -> str:
    """FER2013's Usage value for a version's split (train -> Training, ...); other names are kept."""
    return FER_USAGE.get(split.strip().lower(), split) or "Training"


def hf_split(split: str) -> str:
    """The Hugging Face name of a split (Training -> train, PublicTest -> validation, PrivateTest -> test).

    Other names become lower-case words, which is what the Hub accepts as a split name.
    """
    known = HF_SPLIT.get(split.strip().lower())
    if known:
        return known
    return re.sub(r"[^0-9a-z]+", "_", split.strip().lower()).strip("_") or "train"


def fer2013_index(label: str) -> int | None:
    """The FER2013 class 0..6 of a final label, or None (contempt, unknown, not_a_face have none)."""
    return FER2013_CLASSES.index(label) if label in FER2013_CLASSES else None


def png_is_crop(data: bytes) -> bool:
    """Whether a PNG is already a 48x48 8-bit grey image (read from its header: no decoding)."""
    if len(data) < 33 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        return False
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width == height == CROP_SIZE and depth == 8 and colour == 0


def png_pixels(data: bytes) -> np.ndarray:
    """A stored face image -> uint8 (48, 48) grey, resized when it was stored larger."""
    pixels = faces.cv2.imdecode(np.frombuffer(data, np.uint8), faces.cv2.IMREAD_GRAYSCALE)
    if pixels is None:
        raise ValueError("the stored face image cannot be decoded")
    if pixels.shape != (CROP_SIZE, CROP_SIZE):
        pixels = faces.cv2.resize(pixels, (CROP_SIZE, CROP_SIZE), interpolation=faces.cv2.INTER_AREA)
    return pixels


def png_crop(data: bytes) -> bytes:
    """The face as a 48x48 grey PNG: the stored bytes themselves when they are one already."""
    return data if png_is_crop(data) else faces.png_bytes(png_pixels(data))


def pixels_text(pixels: np.ndarray) -> bytes:
    """uint8 (48, 48) -> FER2013's ``pixels`` field (ASCII): the values, row by row, separated by single spaces."""
    padded = _PIXEL_TEXT[pixels.ravel()].view(np.uint8)
    return padded[padded != 0].tobytes()[:-1]


def csv_line(*fields: bytes | str | int) -> bytes:
    """One CSV line (``\\n`` ended, as FER2013's files); a text field is quoted only if it needs it."""
    out = []
    for value in fields:
        if isinstance(value, bytes):
            out.append(value)
            continue
        text = str(value)
        if any(c in text for c in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text.encode())
    return b",".join(out) + b"\n"


class _Lines:
    """Lines gathered into ~1 MB chunks, each deflated into the member by one background thread.

    zlib gives up the GIL while it compresses, so the next chunk's rows are made meanwhile: on two cores the
    CSV exports take about the time of making their text instead of that plus compressing it. At most two
    chunks wait, which bounds the memory.
    """

    CHUNK = 1 << 20

    def __init__(self, member):
        self.member, self.parts, self.size = member, [], 0
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip-deflate")
        self.pending: list[Future] = []

    def write(self, line: bytes) -> None:
        self.parts.append(line)
        self.size += len(line)
        if self.size >= self.CHUNK:
            self._send()

    def _send(self) -> None:
        if self.parts:
            self.pending.append(self.pool.submit(self.member.write, b"".join(self.parts)))
            self.parts, self.size = [], 0
        while len(self.pending) > 2:
            self.pending.pop(0).result()

    def close(self) -> None:
        try:
            self._send()
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown(wait=True)


class ZipOut:
    """A zip written member by member into a file object, every member dated ``date_time`` (reproducible bytes).

    Images are stored (PNG is compressed already); text is deflated at level 1, which keeps most of the gain
    at a fraction of the time of the default level.
    """

    def __init__(self, out: BinaryIO, *, date_time: tuple = (1980, 1, 1, 0, 0, 0)):
        self.zip = zipfile.ZipFile(out, "w", allowZip64=True)
        self.date_time = date_time

    def _info(self, name: str, *, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        if compress:
            info._compresslevel = 1  # the level a ZipInfo carries (no public name for it before Python 3.13)
        info.external_attr = 0o644 << 16
        return info

    def write(self, name: str, data: bytes | str, *, compress: bool = True) -> None:
        self.zip.writestr(self._info(name, compress=compress), data.encode() if isinstance(data, str) else data)

    def open(self, name: str, *, compress: bool = True):
        """A writable member (for text streamed row by row); large members are allowed (zip64)."""
        return self.zip.open(self._info(name, compress=compress), "w", force_zip64=True)

    @contextmanager
    def lines_member(self, name: str) -> Iterator["_Lines"]:
        """A deflated member written line by line, compressed by a background thread (see _Lines)."""
        with self.open(name) as member:
            lines = _Lines(member)
            try:
                yield lines
            finally:
                lines.close()

    def write_file(self, name: str, path: str, *, compress: bool = False) -> None:
        with open(path, "rb") as src, self.open(name, compress=compress) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> "ZipOut":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

