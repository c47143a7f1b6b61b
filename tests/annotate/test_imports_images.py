"""Image folders and zips: detection and crops, class folders, hostile archives, nothing written outside MEDIA_ROOT."""
import io
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from annotate.models import Item
from annotate.services.imports import items_import
from tests.annotate.imports_support import (
    DETECTABLE_ROWS, blank_jpeg, bomb_png, crop_png, make_zip, photo,
)

pytestmark = pytest.mark.django_db


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_kaggle_layout_folder_detects_crops_and_labels_faces(make_project, tmp_path):
    project, _, _ = make_project()
    root = tmp_path / "faces"
    for split, cls, row, fmt, mode in [("train", "happy", DETECTABLE_ROWS[0], "JPEG", "RGB"),
                                       ("train", "angry", DETECTABLE_ROWS[1], "PNG", "RGBA"),
                                       ("test", "surprise", DETECTABLE_ROWS[2], "WEBP", "RGB"),
                                       ("test", "selfies", DETECTABLE_ROWS[3], "PNG", "L")]:
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        (root / split / cls / f"{row}.{fmt.lower()}").write_bytes(photo(row, mode=mode, fmt=fmt))
    (root / "train" / "happy" / "landscape.jpg").write_bytes(blank_jpeg())
    report = items_import(project=project, path=str(root))
    assert report.ok and report.format == "images" and report.imported == 4, report.as_dict()
    assert [(e["code"], e["where"]) for e in report.skipped] == [("no_face", "file 'train/happy/landscape.jpg'")]
    assert any("selfies" in note for note in report.notes)
    items = {Path(i.source).stem: i for i in Item.objects.filter(project=project)}
    happy = items[str(DETECTABLE_ROWS[0])]
    assert (happy.reference_label, happy.split, happy.width, happy.height) == ("happiness", "Training", 400, 300)
    assert items[str(DETECTABLE_ROWS[1])].reference_label == "anger"
    assert items[str(DETECTABLE_ROWS[2])].split == "Test"
    assert items[str(DETECTABLE_ROWS[3])].reference_label == ""
    crop = Image.open(happy.crop.path)
    assert crop.size == (48, 48) and crop.mode == "L"
    assert happy.image.name.endswith(".jpg") and Path(happy.image.path).read_bytes() == photo(DETECTABLE_ROWS[0])
    assert items[str(DETECTABLE_ROWS[2])].image.name.endswith(".webp")


def test_cropped_mode_takes_48x48_crops_whole(make_project, tmp_path):
    project, _, _ = make_project()
    for i, cls in enumerate(["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]):
        (tmp_path / "test" / cls).mkdir(parents=True)
        (tmp_path / "test" / cls / f"im{i}.png").write_bytes(crop_png(i + 20))
    report = items_import(project=project, path=str(tmp_path / "test"), cropped=True)
    assert report.imported == 7 and not report.skipped
    labels = sorted(Item.objects.filter(project=project).values_list("reference_label", flat=True))
    assert labels == ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]


def test_a_hostile_zip_imports_the_good_faces_and_reports_every_bad_member(make_project, tmp_path, monkeypatch):
    project, _, _ = make_project()
    token = f"escape-{os.getpid()}"
    bomb_member = b"\x00" * (30 * 1024 * 1024)  # compresses ~1000:1
    truncated = photo(DETECTABLE_ROWS[1])
    members = {
        "train/happy/good.jpg": photo(DETECTABLE_ROWS[0]),
        "train/happy/copy.jpg": photo(DETECTABLE_ROWS[0]),
        f"../../{token}.jpg": photo(DETECTABLE_ROWS[2]),
        f"/tmp/{token}-abs.jpg": photo(DETECTABLE_ROWS[3]),
        "notes/readme.txt": b"not an image",
        "train/sad/truncated.jpg": truncated[: len(truncated) // 2],
        "train/sad/bomb.png": bomb_png(),
        "zeros.jpg": bomb_member,
        ".hidden.jpg": photo(DETECTABLE_ROWS[4]),
        "__MACOSX/train/._good.jpg": b"\x00\x05\x16\x07",
    }
    (tmp_path / "in").mkdir()
    archive = make_zip(tmp_path / "in" / "faces.zip", members, symlinks={f"link-{token}.jpg": "/etc/passwd"})
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    outside_before = files_under(tmp_path) - files_under(Path(settings.MEDIA_ROOT))
    report = items_import(project=project, path=str(archive))
    assert report.ok and report.imported == 1
    assert report.counts["duplicates"] == 1
    codes = {e["where"]: e["code"] for e in report.skipped}
    assert codes == {
        f"file '../../{token}.jpg'": "unsafe_path",
        f"file '/tmp/{token}-abs.jpg'": "unsafe_path",
        "file 'notes/readme.txt'": "bad_image",
        "file 'train/sad/truncated.jpg'": "bad_image",
        "file 'train/sad/bomb.png'": "bad_image",
        "file 'zeros.jpg'": "zip_bomb",
        "file '.hidden.jpg'": "system_file",
        "file '__MACOSX/train/._good.jpg'": "system_file",
        f"file 'link-{token}.jpg'": "symlink",
    }
    reasons = {e["where"]: e["reason"] for e in report.skipped}
    assert "not a JPEG, PNG or WebP image" in reasons["file 'notes/readme.txt'"]
    assert "decompression bomb" in reasons["file 'train/sad/bomb.png'"]
    assert "corrupt or truncated" in reasons["file 'train/sad/truncated.jpg'"]
    # Nothing was written anywhere but the media folder: not beside the zip, not in the cwd, not in /tmp.
    assert files_under(tmp_path) - files_under(Path(settings.MEDIA_ROOT)) == outside_before
    assert not list(Path("/tmp").glob(f"{token}*")) and not list(Path("/").glob(f"{token}*"))
    media = Path(settings.MEDIA_ROOT).resolve()
    for item in Item.objects.filter(project=project):
        for field in (item.crop, item.image):
            assert Path(field.path).resolve().is_relative_to(media)


def test_members_above_the_size_cap_are_refused_unread(make_project, tmp_path, monkeypatch):
    from annotate.services import imports_images

    project, _, _ = make_project()
    assert len(crop_png(1)) < 4000 < len(photo(DETECTABLE_ROWS[0]))
    monkeypatch.setattr(imports_images, "MAX_FILE_BYTES", 4000)
    archive = make_zip(tmp_path / "a.zip", {"big.jpg": photo(DETECTABLE_ROWS[0]), "small.png": crop_png(1)})
    report = items_import(project=project, path=str(archive), cropped=True)
    assert report.imported == 1 and [e["code"] for e in report.skipped] == ["too_large"]


def test_symlinks_in_folders_are_not_followed(make_project, tmp_path):
    project, _, _ = make_project()
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "face.png").write_bytes(crop_png(2))
    root = tmp_path / "faces"
    root.mkdir()
    (root / "face.png").write_bytes(crop_png(3))
    (root / "link.png").symlink_to(secret / "face.png")
    (root / "linked-dir").symlink_to(secret, target_is_directory=True)
    report = items_import(project=project, path=str(root), cropped=True)
    assert report.imported == 1
    assert sorted((e["where"], e["code"]) for e in report.skipped) == [("file 'link.png'", "symlink"),
                                                                       ("file 'linked-dir'", "symlink")]


def test_a_single_image_and_a_zip_that_is_not_one(make_project, tmp_path):
    project, _, _ = make_project()
    (tmp_path / "one.jpg").write_bytes(photo(DETECTABLE_ROWS[0]))
    assert items_import(project=project, path=str(tmp_path / "one.jpg")).imported == 1
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    report = items_import(project=project, path=str(tmp_path / "broken.zip"))
    assert not report.ok and report.error


def test_near_duplicate_photos_are_reported_not_skipped(make_project, tmp_path):
    project, _, _ = make_project()
    jpeg = photo(DETECTABLE_ROWS[0])
    image = Image.open(io.BytesIO(jpeg))
    smaller = io.BytesIO()
    image.resize((300, 225)).save(smaller, format="PNG")
    archive = make_zip(tmp_path / "a.zip", {"a.jpg": jpeg, "b.png": smaller.getvalue()})
    report = items_import(project=project, path=str(archive))
    assert report.imported == 2 and report.counts["near_duplicates"] == 1
    assert report.near_duplicates[0]["distance"] <= 4


def test_archive_member_count_and_total_size_are_capped(make_project, tmp_path, monkeypatch):
    from annotate.services import imports_images

    project, _, _ = make_project()
    archive = make_zip(tmp_path / "a.zip", {f"f{i}.png": crop_png(i) for i in range(4)})
    monkeypatch.setattr(imports_images, "MAX_MEMBERS", 3)
    report = items_import(project=project, path=str(archive), cropped=True)
    assert not report.ok and report.imported == 0 and report.seen == 0
    assert "4 members" in report.error and "at most 3" in report.error and "split it" in report.error
    assert not Item.objects.filter(project=project).exists()
    monkeypatch.setattr(imports_images, "MAX_MEMBERS", 4)
    monkeypatch.setattr(imports_images, "MAX_ARCHIVE_BYTES", len(crop_png(0)) * 5 // 2)
    report = items_import(project=project, path=str(archive), cropped=True)
    assert report.imported == 2 and [e["code"] for e in report.skipped] == ["archive_too_large"] * 2
    reasons = [e["reason"] for e in report.skipped]
    assert all("exceeds" in r and "uncompressed" in r for r in reasons)

def deflated_zip(path: Path, names: list[str], data: bytes) -> Path:
    """A zip whose members all hold `data`, deflated once: zipfile would recompress each member (seconds for 1.5 GB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = compressor.compress(data) + compressor.flush()
    crc, local, central = zlib.crc32(data), bytearray(), bytearray()
    for name in names:
        raw = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(packed), len(data),
                               len(raw), 0, 0, 0, 0, 0, len(local)) + raw
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), len(data), len(raw), 0) + raw + packed
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def test_small_members_with_a_bomb_ratio_are_refused_unread_and_the_faces_beside_them_imported(make_project, tmp_path, monkeypatch):
    import zipfile

    project, _, _ = make_project()
    bombs = deflated_zip(tmp_path / "bombs.zip", [f"train/happy/z{i}.png" for i in range(20)], bytes(256 * 1024))
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(bombs) as src, zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("train/happy/face.png", crop_png(3))
        dst.writestr("train/sad/small.txt", bytes(16 * 1024))  # 16 kB of zeros deflate ~500:1
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **kw: opened.append(getattr(name, "filename", name)) or real_open(self, name, *a, **kw))
    report = items_import(project=project, path=str(archive), cropped=True)
    assert report.ok and report.imported == 1 and report.seen == 22, report.as_dict()
    assert Item.objects.get(project=project).reference_label == "happiness"
    assert [e["code"] for e in report.skipped] == ["zip_bomb"] * 21
    assert all("compression ratio" in e["reason"] for e in report.skipped)
    assert opened == ["train/happy/face.png"]  # the refused members were never inflated


def test_the_default_caps_refuse_a_1500_member_zero_bomb_quickly(make_project, tmp_path):
    project, _, _ = make_project()
    archive = deflated_zip(tmp_path / "bomb.zip", [f"z{i}.jpg" for i in range(1500)], bytes(1024 * 1024))
    assert archive.stat().st_size < 2 * 1024 * 1024  # 1.5 GB uncompressed
    started = time.monotonic()
    report = items_import(project=project, path=str(archive))
    seconds = time.monotonic() - started
    assert report.counts["skipped"] == 1500 and {e["code"] for e in report.skipped} == {"zip_bomb"}
    assert not report.ok and report.imported == 0
    assert seconds < 2, f"{seconds:.2f} s"
