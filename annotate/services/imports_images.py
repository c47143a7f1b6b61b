"""Image folders and zip files: safe reading (caps, no extraction, no path tricks), face detection, crops."""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from annotate.models import Project
from annotate.services.imports_base import ImportReport, ItemWriter, PendingItem, Progress, Ticker
from ml import faces, metadata

MAX_FILE_BYTES = 50 * 1024 * 1024  # one image file or archive member
MAX_ARCHIVE_BYTES = 4 * 1024 ** 3  # all members of one zip, uncompressed
MAX_MEMBERS = 200_000  # entries of one zip (files and folders), counted before its directory is parsed
MAX_RATIO = 200  # uncompressed/compressed, for every member: photos compress ~1-3x; a bomb compresses ~1000x
SYSTEM_NAMES = {"thumbs.db", "desktop.ini"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}

# Class folder names seen in the wild -> the FER+ label names used by projects.
CLASS_NAMES = {
    "angry": "anger", "anger": "anger", "happy": "happiness", "happiness": "happiness", "sad": "sadness",
    "sadness": "sadness", "surprise": "surprise", "surprised": "surprise", "fear": "fear", "fearful": "fear",
    "scared": "fear", "disgust": "disgust", "disgusted": "disgust", "neutral": "neutral", "contempt": "contempt",
    "unknown": "unknown", "nf": "not_a_face", "not_a_face": "not_a_face", "notaface": "not_a_face", "noface": "not_a_face",
}
# Folder names that name a split, not a class (Kaggle: train/<class>/x.jpg, test/<class>/x.jpg).
SPLIT_NAMES = {
    "train": "Training", "training": "Training", "val": "Validation", "valid": "Validation", "validation": "Validation",
    "test": "Test", "testing": "Test", "publictest": "PublicTest", "privatetest": "PrivateTest",
}


@dataclass
class Entry:
    """One file of the input: where it is (for the report), its path parts, and its bytes or why it was refused."""

    where: str
    parts: tuple[str, ...]
    data: bytes | None = None
    refused: tuple[str, str] | None = None  # (code, reason)


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name is unsafe (absolute, drive letter, backslashes, `..`), or None."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if "\\" in name:
        return "backslash in path"
    if any(part == ".." for part in name.split("/")):
        return "path leaves the archive (..)"
    if "\x00" in name:
        return "NUL byte in name"
    return None


def _is_system(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1].lower() in SYSTEM_NAMES


class ArchiveRefused(zipfile.BadZipFile):
    """The archive as a whole is refused before any member is read; the import reports it as its error."""


def _declared_members(path: str) -> int | None:
    """The member count in the zip's end record, read without parsing the central directory (which
    costs ~1 kB of memory per member, so a zip of millions of empty members would be a bomb by itself)."""
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # private but stable since Python 2; handles zip64 end records
    return end[zipfile._ECD_ENTRIES_TOTAL] if end else None


def zip_entries(path: str, report: ImportReport) -> tuple[int, Iterator[Entry]]:
    """Members of a zip, read in memory one at a time with size caps; never extracted to disk."""
    declared = _declared_members(path)
    if declared is not None and declared > MAX_MEMBERS:
        raise ArchiveRefused(f"the archive has {declared:,} members; at most {MAX_MEMBERS:,} are read: split it into smaller archives")
    archive = zipfile.ZipFile(path)  # BadZipFile propagates: the whole file is unusable
    infos = [i for i in archive.infolist() if not i.is_dir()]

    def entries() -> Iterator[Entry]:
        total = 0
        with archive:
            for info in infos:
                name = info.filename
                where = f"file {name[:200]!r}"
                parts = tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", ""))
                if reason := unsafe_member_reason(name):
                    yield Entry(where, parts or ("?",), refused=("unsafe_path", f"unsafe archive path ({reason}); not read"))
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    yield Entry(where, parts, refused=("symlink", "symbolic link; not followed"))
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    yield Entry(where, parts, refused=("too_large", f"{info.file_size:,} bytes uncompressed, above {MAX_FILE_BYTES:,}"))
                    continue
                # Every member, however small: 1,500 members of 1 MB of zeros are 1.5 GB from a 1.6 MB zip.
                if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                    yield Entry(where, parts, refused=("zip_bomb", f"compression ratio {info.file_size // info.compress_size}:1 (zip bomb?)"))
                    continue
                if total + info.file_size > MAX_ARCHIVE_BYTES:
                    yield Entry(where, parts, refused=("archive_too_large", f"the archive exceeds {MAX_ARCHIVE_BYTES:,} bytes uncompressed"))
                    continue
                try:
                    with archive.open(info) as member:
                        data = member.read(MAX_FILE_BYTES + 1)  # the header may lie about the size
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                    yield Entry(where, parts, refused=("corrupt_member", f"cannot read the archive member: {exc}"))
                    continue
                total += len(data)
                if len(data) > MAX_FILE_BYTES:
                    yield Entry(where, parts, refused=("too_large", f"more than {MAX_FILE_BYTES:,} bytes uncompressed"))
                    continue
                yield Entry(where, parts, data)

    return len(infos), entries()


def folder_entries(root: str, report: ImportReport) -> tuple[int, Iterator[Entry]]:
    """Files under a folder (symlinks are reported, never followed), or one image file."""
    base = Path(root)
    if base.is_file():
        paths = [base]
        base = base.parent
    else:
        paths = []
        for folder, dirs, files in os.walk(base, followlinks=False):
            dirs.sort()
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                paths.append(Path(folder) / name)

    def entries() -> Iterator[Entry]:
        for path in paths:
            rel = path.relative_to(base)
            where = f"file {str(rel)[:200]!r}"
            if path.is_symlink():
                yield Entry(where, rel.parts, refused=("symlink", "symbolic link; not followed"))
                continue
            try:
                size = path.stat().st_size
                if size > MAX_FILE_BYTES:
                    yield Entry(where, rel.parts, refused=("too_large", f"{size:,} bytes, above {MAX_FILE_BYTES:,}"))
                    continue
                with open(path, "rb") as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                yield Entry(where, rel.parts, refused=("unreadable", f"cannot read: {exc.strerror or exc}"))
                continue
            yield Entry(where, rel.parts, data)

    return len(paths), entries()


def labels_from_path(parts: tuple[str, ...], labels: set[str]) -> tuple[str, str, str | None]:
    """(reference label, split, unknown class folder) from a file's folders, e.g. train/happy/x.jpg."""
    folders = [p.lower() for p in parts[:-1]]
    split = next((SPLIT_NAMES[f] for f in folders if f in SPLIT_NAMES), "")
    if not folders or folders[-1] in SPLIT_NAMES:
        return "", split, None
    label = CLASS_NAMES.get(folders[-1], folders[-1])
    return (label, split, None) if label in labels else ("", split, parts[-2])


def import_images(*, project: Project, path: str, source: str, report: ImportReport, cropped: bool = False, job=None,
                  progress: Progress | None = None, split: str = "", gold_from_reference: bool = False) -> None:
    """Detect, crop and store each face image; skip (and report) anything that is not one. A face's split comes from
    its folders (train/, test/), else `split`; with `gold_from_reference` a class folder's label makes it gold."""
    total, entries = zip_entries(path, report) if zipfile.is_zipfile(path) and not os.path.isdir(path) else folder_entries(path, report)
    ticker = Ticker(progress, total)
    labels, unknown_folders = set(project.labels), set()
    with ItemWriter(project=project, report=report, batch_size=100, job=job, split=split,
                    gold_from_reference=gold_from_reference) as writer:
        for done, entry in enumerate(entries):
            report.seen += 1
            ticker(done)
            if entry.refused:
                report.skip(entry.where, *entry.refused)
                continue
            if _is_system(entry.parts):
                report.skip(entry.where, "system_file", "hidden or system file")
                continue
            content_hash = faces.sha256(entry.data)
            if writer.is_known(content_hash, entry.where):
                continue
            try:
                decoded = faces.decode(entry.data)
            except faces.ImageRejected as exc:
                report.skip(entry.where, "bad_image", str(exc))
                continue
            # The whole picture, as a stored crop would be made from it: a face stored before in another format
            # (a CSV row, a PNG of it) is a duplicate even where detection would frame it differently.
            if writer.is_known_pixels(faces.sha256(faces.normalise(faces.centre_square(faces.to_grey(decoded.rgb)))), entry.where):
                continue
            crop = faces.face_crop(decoded.rgb, cropped=cropped)
            if crop is None:
                report.skip(entry.where, "no_face", "no face found (use the cropped option for images that are face crops already)")
                continue
            label, split, unknown = labels_from_path(entry.parts, labels)
            if unknown:
                unknown_folders.add(unknown)
            writer.add(PendingItem(
                where=entry.where, content_hash=content_hash, crop=crop, width=decoded.width, height=decoded.height,
                source=f"{source}:{'/'.join(entry.parts)}", split=split, reference_label=label,
                original=metadata.strip_metadata(entry.data, decoded.format), original_ext=EXTENSIONS[decoded.format],
            ))
    if unknown_folders:
        report.notes.append(f"folders not matching a project label (no reference label set): {', '.join(sorted(unknown_folders))[:500]}")
    ticker(report.seen, final=True)
