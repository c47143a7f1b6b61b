"""Face images as plain arrays: safe decoding, Haar face detection, margin crops, hashes and near duplicates."""
from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class _LazyCv2:
    """OpenCV takes ~60 ms and tens of MB to import; the web process imports this module for its URLs
    but only an import job needs OpenCV, so it is loaded on first use (then replaces this stand-in)."""

    def __getattr__(self, name):
        import cv2 as module

        globals()["cv2"] = module
        return getattr(module, name)


cv2 = _LazyCv2()

CROP_SIZE = 48  # FER2013's crop size; the expression model reads 48x48 grey.
FER_PIXELS = CROP_SIZE * CROP_SIZE
# Largest declared image we decode (about 40 megapixels, 120 MB as RGB). Larger images are
# refused before any pixel is decoded, so a crafted header can never exhaust memory.
MAX_PIXELS = 40_000_000
# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; decode() turns both into errors.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
FORMATS = ("JPEG", "PNG", "WEBP")
WORK_SIDE = 1024  # detection runs on a copy whose longer side is at most this
MARGIN = 0.25  # crop margin around the detected box, as a share of the box side


class ImageRejected(ValueError):
    """The bytes are not a usable face image; the message says why, for the import report."""


@dataclass(frozen=True)
class Decoded:
    """A decoded image: rgb uint8 (h, w, 3), possibly downscaled from the original (width, height)."""

    rgb: np.ndarray
    width: int
    height: int
    format: str


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS, work_side: int = WORK_SIDE) -> Decoded:
    """Decode JPEG/PNG/WebP bytes of any colour mode into RGB, downscaled to `work_side` at most.

    Raises ImageRejected for non-images, other formats, truncated or corrupt files and
    decompression bombs (declared size above `max_pixels`).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            fmt = image.format or ""
            if width * height > max_pixels:
                raise ImageRejected(f"image is {width}x{height} pixels, above the {max_pixels:,}-pixel limit (decompression bomb?)")
            if image.format == "JPEG":
                # JPEG can decode at 1/2..1/8 scale directly, which keeps huge photos cheap.
                image.draft("RGB", (work_side, work_side))
            image.seek(0)  # animated WebP/PNG: the first frame
            image.load()
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA")  # palette images cannot be resized smoothly
            if max(image.size) > work_side:
                # Shrink before any copy (transpose, colour conversion) so big images stay cheap.
                image.thumbnail((work_side, work_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: rotated by 90 degrees
                width, height = height, width
            image = _to_rgb(ImageOps.exif_transpose(image))
            rgb = np.asarray(image, dtype=np.uint8)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"decompression bomb refused: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageRejected(f"corrupt or truncated image: {exc}") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ImageRejected("image has no pixels")
    return Decoded(rgb=rgb, width=width, height=height, format=fmt)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode (1, L, LA, P, RGBA, CMYK, I;16, F) to RGB; transparency is flattened on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = arr.max() or 1.0
        image = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """rgb uint8 (h, w, 3) -> grey uint8 (h, w)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


@lru_cache(maxsize=1)
def _cascade() -> "cv2.CascadeClassifier":
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade is missing ({path}); install opencv-python-headless 4.x")
    return cascade


def detect_face(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest frontal face in grey uint8 (h, w) as (x, y, w, h) in its pixels, or None.

    Small images are upscaled and every image gets a border first: Haar needs faces of at
    least ~24 px and misses faces that touch the image edge (tight crops such as FER's).
    """
    h, w = grey.shape
    scale = max(1.0, 192.0 / min(h, w))
    work = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC) if scale > 1 else grey
    pad = round(0.2 * max(work.shape))
    work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    work = cv2.equalizeHist(work)
    min_side = max(24, round(0.08 * min(work.shape)))
    boxes = _cascade().detectMultiScale(work, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if len(boxes) == 0:
        return None
    x, y, bw, bh = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
    x0, y0 = max(0, (x - pad) / scale), max(0, (y - pad) / scale)
    x1, y1 = min(w, (x + bw - pad) / scale), min(h, (y + bh - pad) / scale)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return round(x0), round(y0), round(x1 - x0), round(y1 - y0)


def crop_with_margin(image: np.ndarray, box: tuple[int, int, int, int], *, margin: float = MARGIN) -> np.ndarray:
    """A square crop around box (x, y, w, h) grown by `margin` per side; edges are replicated."""
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    ih, iw = image.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + side - ih), max(0, x0 + side - iw)
    inner = image[max(0, y0):min(ih, y0 + side), max(0, x0):min(iw, x0 + side)]
    if top or left or bottom or right:
        inner = cv2.copyMakeBorder(inner, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return inner


def centre_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an image (for already-cropped faces that are not square)."""
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return image[y0:y0 + side, x0:x0 + side]


def normalise(grey: np.ndarray, *, size: int = CROP_SIZE) -> np.ndarray:
    """Grey uint8 face (any size) -> uint8 (size, size), resized like FER2013's crops (no equalisation,
    so the expression model sees the same statistics it was trained on)."""
    if grey.shape == (size, size):
        return np.ascontiguousarray(grey, dtype=np.uint8)
    interpolation = cv2.INTER_AREA if min(grey.shape[:2]) >= size else cv2.INTER_CUBIC
    return cv2.resize(grey, (size, size), interpolation=interpolation)


def face_crop(rgb: np.ndarray, *, cropped: bool = False) -> np.ndarray | None:
    """The normalised 48x48 grey crop of the face in rgb (h, w, 3), or None when no face is found.

    cropped=True: the image already is a face crop, so the centred square is used as is.
    """
    grey = to_grey(rgb)
    if cropped:
        return normalise(centre_square(grey))
    box = detect_face(grey)
    return None if box is None else normalise(crop_with_margin(grey, box))


def parse_fer_pixels(text: str, *, size: int = FER_PIXELS) -> np.ndarray:
    """A FER2013 `pixels` field (space-separated integers 0..255) -> uint8 (48, 48); ValueError says what is wrong."""
    if len(text) > 4 * size + 64:
        # Longer than any valid field (3 digits and a space per value): check the slow, exact way,
        # because the fast parser below would wrap huge numbers around.
        return _parse_fer_pixels_exact(text, size=size)
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")  # C speed: 10x faster than split + int
    except ValueError:
        bad = next((p for p in text.split() if not p.isdigit()), "?")
        raise ValueError(f"pixels contains {bad[:20]!r}, not a whole number 0..255") from None
    if len(values) != size:
        raise ValueError(f"pixels has {len(values)} values, expected {size}")
    if values.min() < 0 or values.max() > 255:
        raise ValueError("pixels must be integers 0..255")
    side = int(round(size ** 0.5))
    return values.astype(np.uint8).reshape(side, side)


def _parse_fer_pixels_exact(text: str, *, size: int) -> np.ndarray:
    parts = text.split()
    bad = next((p for p in parts if not p.isdigit()), None)
    if bad is not None:
        raise ValueError(f"pixels contains {bad[:20]!r}, not a whole number 0..255")
    if len(parts) != size:
        raise ValueError(f"pixels has {len(parts)} values, expected {size}")
    if any(len(p.lstrip("0")) > 3 or int(p) > 255 for p in parts):
        raise ValueError("pixels must be integers 0..255")
    side = int(round(size ** 0.5))
    return np.array(parts, dtype=np.int64).astype(np.uint8).reshape(side, side)


def sha256(data: bytes | np.ndarray) -> str:
    """Content hash: sha256 hex of raw bytes, or of an array's pixel bytes."""
    return hashlib.sha256(data.tobytes() if isinstance(data, np.ndarray) else data).hexdigest()


def dhash(grey: np.ndarray) -> int:
    """64-bit difference hash of a grey image, as a signed int64 (fits a BigIntegerField).

    Robust to rescaling, recompression and small brightness changes; Hamming distance <= ~5
    means "very probably the same picture".
    """
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming_many(h: int, hashes: np.ndarray) -> np.ndarray:
    """Hamming distances from one hash to many: hashes int64 (N,) -> uint8 (N,)."""
    return np.bitwise_count(np.bitwise_xor(hashes.view(np.uint64), np.uint64(h & 0xFFFF_FFFF_FFFF_FFFF)))


def near_duplicate_pairs(hashes: np.ndarray, *, max_distance: int = 4, max_pairs: int = 1000) -> np.ndarray:
    """64-bit perceptual hashes int64 (N,) -> int (P, 3) rows (i, j, Hamming distance), i < j, closest first.

    Multi-index hashing: split the 64 bits into max_distance + 1 chunks; two hashes within the distance
    agree exactly on at least one chunk (pigeonhole), so only items sharing a chunk value are compared.
    """
    h = np.asarray(hashes, dtype=np.int64).view(np.uint64)
    n = len(h)
    if n < 2:
        return np.zeros((0, 3), dtype=np.int64)
    chunks = max_distance + 1
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        ends = np.r_[starts[1:], n]
        for s, e in zip(starts, ends):
            if e - s < 2 or e - s > 2000:  # a huge bucket is a degenerate hash (blank images), not a duplicate signal
                continue
            group = order[s:e]
            gi, gj = np.triu_indices(len(group), 1)
            a, b = group[gi], group[gj]
            dist = np.bitwise_count(h[a] ^ h[b])
            for x, y in zip(a[dist <= max_distance], b[dist <= max_distance]):
                found.add((int(min(x, y)), int(max(x, y))))
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.array(sorted(found), dtype=np.int64)
    dist = np.bitwise_count(h[pairs[:, 0]] ^ h[pairs[:, 1]]).astype(np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], dist))[:max_pairs]
    return np.column_stack([pairs[order], dist[order]])


class NearDuplicateIndex:
    """Nearest earlier hash within ``max_distance`` bits, for imports, a batch at a time, in a few array operations.

    Multi-index hashing with a neighbourhood: the 64 bits are split into ``max_distance // 2 + 1`` chunks, so two
    hashes within the distance differ in at most one bit of some chunk (pigeonhole); a lookup probes, in each
    chunk's sorted table, its own chunk value and the values one bit away. With 21-bit chunks the 67 probes of a
    face find about 67 n / 2**21 others if hashes were uniform; FER2013's cluster about 7x more (7 candidates per
    face among its 30,636 distinct hashes), so a few hundred vectorised comparisons per face at a million distinct
    faces, where the 13-bit exact chunks this replaced compared thousands in Python lists. Each distinct hash is stored once (with the first id that had it):
    copies of one picture neither grow the tables nor the probes. The tables are numpy arrays (about 60 bytes per
    distinct hash), not Python objects; a batch's new hashes are inserted into them in one pass.
    """

    def __init__(self, *, max_distance: int = 4):
        self.max_distance = max_distance
        chunks = max_distance // 2 + 1
        self._radius = max_distance // chunks  # 0 or 1
        # Chunk c holds bits c, c + chunks, c + 2 chunks, ...: neighbouring dHash bits (neighbouring pixels) are
        # correlated, so contiguous chunks cluster; interleaved ones spread faces over 3x fewer shared values.
        self._bits = [np.arange(c, 64, chunks, dtype=np.uint64) for c in range(chunks)]
        self._flips = [np.r_[np.uint64(0), np.uint64(1) << np.arange(len(b), dtype=np.uint64)] if self._radius
                       else np.zeros(1, np.uint64) for b in self._bits]
        self._hashes = np.zeros(0, dtype=np.uint64)  # by position (order of first add)
        self._ids = np.zeros(0, dtype=np.int64)
        self._sorted = np.zeros(0, dtype=np.uint64)  # the hashes sorted, with their positions
        self._sorted_pos = np.zeros(0, dtype=np.int64)
        self._keys = [np.zeros(0, dtype=np.uint64) for _ in self._bits]  # per chunk: sorted chunk values ...
        self._key_pos = [np.zeros(0, dtype=np.int64) for _ in self._bits]  # ... and their positions
        self._waiting: list[tuple[int, int]] = []  # add()ed, not yet in the tables

    @property
    def count(self) -> int:
        """Distinct hashes held (hashes waiting to be merged are counted once merged)."""
        return len(self._hashes)

    def add(self, h: int, item_id: int) -> None:
        """Remember a hash without asking for its neighbour (loading a project's faces); merged on the next add_many."""
        self._waiting.append((h, item_id))

    def add_many(self, hashes, ids) -> list[tuple[int, int] | None]:
        """For each hash in order, (id, distance) of the closest hash added before it (earlier in this call included)
        within max_distance, the earliest added on a tie, or None; then all of them are added."""
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            self.add_many([h for h, _ in waiting], [i for _, i in waiting])
        h = np.asarray(hashes, dtype=np.int64).view(np.uint64)
        ids = np.asarray(ids, dtype=np.int64)
        n = len(h)
        if n == 0:
            return []
        best_pos = np.full(n, -1, dtype=np.int64)
        best_dist = np.full(n, 65, dtype=np.int64)
        # Exact copies: of a stored hash, or of one earlier in this call; a copy's answer is distance 0.
        where = np.minimum(np.searchsorted(self._sorted, h), max(len(self._sorted) - 1, 0))
        stored = (self._sorted[where] == h) if len(self._sorted) else np.zeros(n, dtype=bool)
        best_pos[stored], best_dist[stored] = self._sorted_pos[where[stored]], 0
        _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
        fresh = np.flatnonzero(~stored & (first[inverse] == np.arange(n)))  # first time this hash is seen
        copies = np.flatnonzero(~stored & (first[inverse] != np.arange(n)))
        start = len(self._hashes)
        self._append(h[fresh], ids[fresh])
        new_pos = start + np.arange(len(fresh))
        later = np.full(n, -1, dtype=np.int64)
        later[fresh] = new_pos
        # A copy of a hash first seen in this call: distance 0 to that first one.
        best_pos[copies], best_dist[copies] = later[first[inverse[copies]]], 0
        if len(fresh):
            owner, candidate = self._probe(h[fresh])
            keep = candidate < new_pos[owner]  # only hashes added before this one
            owner, candidate = owner[keep], candidate[keep]
            dist = np.bitwise_count(self._hashes[candidate] ^ h[fresh][owner]).astype(np.int64)
            close = dist <= self.max_distance
            owner, candidate, dist = owner[close], candidate[close], dist[close]
            if len(owner):
                order = np.lexsort((candidate, dist, owner))  # per owner: nearest, then earliest
                owner, candidate, dist = owner[order], candidate[order], dist[order]
                head = np.r_[True, owner[1:] != owner[:-1]]
                best_pos[fresh[owner[head]]], best_dist[fresh[owner[head]]] = candidate[head], dist[head]
        found = best_pos >= 0
        out_ids = np.where(found, self._ids[np.maximum(best_pos, 0)], -1)
        return [(int(i), int(d)) if ok else None for i, d, ok in zip(out_ids, best_dist, found)]

    def _append(self, h: np.ndarray, ids: np.ndarray) -> None:
        """Add distinct new hashes at the next positions: appended by position, inserted into each sorted table."""
        if not len(h):
            return
        pos = len(self._hashes) + np.arange(len(h))
        self._hashes, self._ids = np.concatenate([self._hashes, h]), np.concatenate([self._ids, ids])
        self._sorted, self._sorted_pos = _insert_sorted(self._sorted, self._sorted_pos, h, pos)
        for c, key in enumerate(self._chunk_keys(h)):
            self._keys[c], self._key_pos[c] = _insert_sorted(self._keys[c], self._key_pos[c], key, pos)

    def _chunk_keys(self, h: np.ndarray) -> list[np.ndarray]:
        """Each chunk's value of each hash, uint64 (N,) per chunk."""
        out = []
        for bits in self._bits:
            picked = (h[:, None] >> bits[None, :]) & np.uint64(1)
            out.append(np.bitwise_or.reduce(picked << np.arange(len(bits), dtype=np.uint64)[None, :], axis=1))
        return out

    def _probe(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, stored position) pairs whose chunk values are within the radius in some chunk (may repeat)."""
        owners, candidates = [], []
        for key, flips, keys, key_pos in zip(self._chunk_keys(h), self._flips, self._keys, self._key_pos):
            probes = (key[:, None] ^ flips[None, :]).ravel()
            order = np.argsort(probes)  # sorted needles: each search starts where the last one ended
            lo_i, hi_i = np.searchsorted(keys, probes[order], "left"), np.searchsorted(keys, probes[order], "right")
            sizes = hi_i - lo_i
            total = int(sizes.sum())
            if not total:
                continue
            probe_owner = np.repeat(order // len(flips), sizes)
            offsets = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            owners.append(probe_owner)
            candidates.append(key_pos[np.repeat(lo_i, sizes) + offsets])
        if not owners:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(owners), np.concatenate(candidates)


def _insert_sorted(keys: np.ndarray, values: np.ndarray, new_keys: np.ndarray, new_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """keys sorted (ties by value) with values alongside, plus new pairs (values larger than every stored one)."""
    order = np.argsort(new_keys, kind="stable")
    new_keys, new_values = new_keys[order], new_values[order]
    at = np.searchsorted(keys, new_keys, "right")
    return np.insert(keys, at, new_keys), np.insert(values, at, new_values)


def png_bytes(grey: np.ndarray) -> bytes:
    """Encode a grey uint8 image as PNG quickly (low compression: crops are tiny, speed matters)."""
    ok, buffer = cv2.imencode(".png", grey, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()
