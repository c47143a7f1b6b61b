"""Load the shared FER npz format (or plain arrays) into one small dataclass."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FerData:
    """A set of faces. images: uint8 (N, 48, 48); votes: uint8 (N, 10) or None;
    fer2013: int (N,) FER2013 labels 0..6 or None; usage: str (N,)."""

    images: np.ndarray
    votes: np.ndarray | None = None
    fer2013: np.ndarray | None = None
    usage: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask_or_index: np.ndarray) -> "FerData":
        def take(a):
            return None if a is None else a[mask_or_index]

        return FerData(self.images[mask_or_index], take(self.votes), take(self.fer2013), take(self.usage))


def from_arrays(images: np.ndarray, *, votes: np.ndarray | None = None, fer2013: np.ndarray | None = None,
                usage: np.ndarray | None = None) -> FerData:
    """Check and wrap plain arrays; images: uint8 (N, H, W) grey (any H, W are kept as is)."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
    n = len(images)
    for name, a in (("votes", votes), ("fer2013", fer2013), ("usage", usage)):
        if a is not None and len(a) != n:
            raise ValueError(f"{name} has {len(a)} rows, images {n}")
    if votes is not None and (np.ndim(votes) != 2 or np.shape(votes)[1] != 10):
        raise ValueError("votes must be (N, 10)")
    return FerData(images, None if votes is None else np.asarray(votes),
                   None if fer2013 is None else np.asarray(fer2013, dtype=np.int64),
                   None if usage is None else np.asarray(usage).astype(str))


def load_npz(path: str | Path, *, usage: str | None = None, exclude_usage: str | None = None) -> FerData:
    """Read the shared format (images, usage, fer2013_label, ferplus_votes); filter rows by usage.

    ``usage="PublicTest"`` keeps those rows; ``exclude_usage="Training"`` keeps the others.
    """
    with np.load(path, allow_pickle=False) as z:
        images = z["images"]
        n = len(images)
        use = z["usage"].astype(str) if "usage" in z.files else np.full(n, "Training")
        votes = z["ferplus_votes"] if "ferplus_votes" in z.files else None
        fer = z["fer2013_label"] if "fer2013_label" in z.files else None
    data = from_arrays(images, votes=votes, fer2013=fer, usage=use)
    mask = np.ones(n, dtype=bool)
    if usage is not None:
        mask &= use == usage
    if exclude_usage is not None:
        mask &= use != exclude_usage
    return data if mask.all() else data.subset(mask)


def arrays_sha256(*arrays: np.ndarray | None) -> str:
    """Hex sha256 over the dtype, shape and bytes of each array (None is skipped but counted)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()
