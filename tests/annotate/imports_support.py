"""Builders for the import tests: tiny csv files, real sample faces as photos, hostile zips (no tests here)."""
import csv
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ml import faces

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
# Sample rows whose face OpenCV's Haar cascade finds once upscaled into a larger picture.
DETECTABLE_ROWS = (6, 12, 13, 14, 16, 18)
FERPLUS_HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                  "contempt", "unknown", "NF"]


def sample_rows(n: int | None = None) -> list[dict]:
    with open(SAMPLE / "fer2013_sample.csv") as fh:
        rows = list(csv.DictReader(fh))
    return rows[:n] if n else rows


def sample_face(row: int) -> np.ndarray:
    """A real 48x48 FER face from the committed sample."""
    return faces.parse_fer_pixels(sample_rows(row + 1)[row]["pixels"])


def write_fer2013(path: Path, rows: list[list], header=("emotion", "pixels", "Usage")) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def fer_rows(n: int, *, offset: int = 0) -> list[list]:
    return [[r["emotion"], r["pixels"], r["Usage"]] for r in sample_rows(offset + n)[offset:]]


def photo(row: int, *, mode: str = "RGB", size=(400, 300), fmt: str = "JPEG") -> bytes:
    """A 'photo': a real FER face upscaled onto a larger grey background, encoded in `fmt`."""
    face = cv2.resize(sample_face(row), (160, 160), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((size[1], size[0]), 128, np.uint8)
    y, x = (size[1] - 160) // 2, (size[0] - 160) // 2
    canvas[y:y + 160, x:x + 160] = face
    image = Image.fromarray(canvas, "L").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def crop_png(row: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(sample_face(row), "L").save(buffer, format="PNG")
    return buffer.getvalue()


def blank_jpeg() -> bytes:
    """A picture without a face."""
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (200, 1)), "L").save(buffer, format="JPEG")
    return buffer.getvalue()


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header declares a huge image (decompression bomb) with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def make_zip(path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)  # ZipInfo keeps hostile names (../x, /x) exactly as given
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path
