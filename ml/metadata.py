"""Metadata stripping for stored originals: no GPS position, camera, thumbnails or comments leave an import.

Photos are stored as uploaded, byte for byte in their pixels: metadata segments (JPEG), chunks
(PNG) and RIFF chunks (WebP) are removed without re-encoding, and the EXIF orientation, the one
tag that changes how the pixels are shown, is written back alone. Colour profiles (ICC, Adobe
APP14) are kept because they change the colours. Bytes that cannot be walked safely are
re-encoded by Pillow with the orientation applied to the pixels, so nothing passes unstripped.
"""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageOps

ORIENTATION = 0x0112
_JPEG_KEEP = {0xE0, 0xEE}  # APP0 (JFIF), APP14 (Adobe colour transform); APP2 only for ICC below
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}


class _Unwalkable(ValueError):
    pass


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """JPEG/PNG/WebP bytes (fmt as Pillow names it) without metadata but with their orientation;
    unchanged when there was nothing to remove."""
    orientation = _orientation(data)
    try:
        if fmt == "JPEG":
            return _strip_jpeg(data, orientation)
        if fmt == "PNG":
            return _strip_png(data, orientation)
        if fmt == "WEBP":
            return _strip_webp(data, orientation)
    except (_Unwalkable, struct.error, IndexError):
        pass
    return _reencode(data, fmt)


def _orientation(data: bytes) -> int:
    try:
        value = Image.open(io.BytesIO(data)).getexif().get(ORIENTATION, 1)
    except Exception:  # an unreadable EXIF block: no orientation to keep
        return 1
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def _exif_tiff(orientation: int) -> bytes:
    """A TIFF block holding only the orientation tag (without the APP1 "Exif\\0\\0" prefix)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()[6:]


def _strip_jpeg(data: bytes, orientation: int) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise _Unwalkable("no SOI")
    out, pos, n, inserted = bytearray(b"\xff\xd8"), 2, len(data), False

    def insert_orientation():
        if orientation != 1:
            payload = b"Exif\x00\x00" + _exif_tiff(orientation)
            out.extend(b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)

    while pos < n:
        if data[pos] != 0xFF:
            raise _Unwalkable("expected a marker")
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI: anything after it (appended previews with their own EXIF) is dropped
            out.extend(b"\xff\xd9")
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.extend(data[pos:pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        if len(segment) != 2 + length or length < 2:
            raise _Unwalkable("truncated segment")
        is_app = 0xE0 <= marker <= 0xEF or marker == 0xFE
        keep = not is_app or marker in _JPEG_KEEP or (marker == 0xE2 and segment[4:16] == b"ICC_PROFILE\x00")
        if not inserted and marker != 0xE0:
            insert_orientation()
            inserted = True
        if keep:
            out.extend(segment)
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data up to the next real marker
            end = pos
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0x00 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
            out.extend(data[pos:end])
            pos = end
    raise _Unwalkable("no EOI")


def _strip_png(data: bytes, orientation: int) -> bytes:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise _Unwalkable("no signature")
    out, pos, dropped, inserted = bytearray(data[:8]), 8, False, False
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunk = data[pos:pos + 12 + length]
        if len(chunk) != 12 + length:
            raise _Unwalkable("truncated chunk")
        if kind == b"IDAT" and orientation != 1 and not inserted:
            body = b"eXIf" + _exif_tiff(orientation)
            out.extend(struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body)))
            inserted = True
        if kind in _PNG_DROP:
            dropped = True
        else:
            out.extend(chunk)
        pos += 12 + length
        if kind == b"IEND":
            break
    return bytes(out) if dropped or inserted or len(out) != len(data) else data


def _strip_webp(data: bytes, orientation: int) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _Unwalkable("not RIFF/WEBP")
    chunks, pos, end = [], 12, min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end:
        kind, (size,) = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        if len(body) != size:
            raise _Unwalkable("truncated chunk")
        if kind not in _WEBP_DROP:
            chunks.append([kind, body])
        pos += 8 + size + (size & 1)
    has_exif = orientation != 1
    if has_exif:
        chunks.append([b"EXIF", _exif_tiff(orientation)])
    if chunks and chunks[0][0] == b"VP8X":
        flags = (chunks[0][1][0] & ~0x0C) | (0x08 if has_exif else 0)
        chunks[0][1] = bytes([flags]) + chunks[0][1][1:]
    elif has_exif:  # a simple-format WebP cannot carry EXIF: re-encode with the orientation applied
        raise _Unwalkable("orientation needs VP8X")
    body = b"".join(k + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for k, b in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _reencode(data: bytes, fmt: str) -> bytes:
    """The fallback: decode, apply the orientation to the pixels, save with no metadata but the colour profile."""
    image = Image.open(io.BytesIO(data))
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image)
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(buffer, format=fmt, icc_profile=icc, **options) if icc else image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
