"""The same face is never stored twice in a project, whatever its file format (#16 point 5)."""
import io
import threading

import pytest
from django.db import connection
from PIL import Image

from annotate.models import Item
from annotate.services.imports import items_import
from ml import faces
from tests.annotate.imports_support import crop_png, fer_rows, make_zip, sample_face, write_fer2013

pytestmark = pytest.mark.django_db


def encoded(row: int, fmt: str, mode: str = "L") -> bytes:
    """A sample face in another lossless encoding (WebP lossless, an RGB PNG): same pixels, other bytes."""
    buffer = io.BytesIO()
    Image.fromarray(sample_face(row), "L").convert(mode).save(buffer, format=fmt, lossless=True)
    return buffer.getvalue()


def test_a_png_of_a_face_imported_from_a_csv_is_a_duplicate_in_either_crop_mode(make_project, tmp_path):
    project, _, _ = make_project()
    assert items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", fer_rows(4)))).imported == 4
    stored = dict(Item.objects.filter(project=project).values_list("source_row", "pixel_hash"))
    assert stored[0] == faces.sha256(sample_face(0)) and len(set(stored.values())) == 4
    for cropped, new_row in ((True, 30), (False, 31)):
        archive = make_zip(tmp_path / f"same-{cropped}.zip", {"row0.png": crop_png(0), "row1.webp": encoded(1, "WEBP", "RGB"),
                                                              "new.png": crop_png(new_row)})
        report = items_import(project=project, path=str(archive), cropped=cropped)
        reasons = sorted(d["reason"] for d in report.duplicates)
        assert [r.split(":")[0] for r in reasons] == ["file 'row0.png'", "file 'row1.webp'"], report.as_dict()
        assert all("same face pixels as item" in r for r in reasons)
    assert Item.objects.filter(project=project).count() == 6  # the new faces, each stored once


def test_two_formats_of_one_face_in_one_archive_store_one_item(make_project, tmp_path):
    project, _, _ = make_project()
    archive = make_zip(tmp_path / "a.zip", {"a.png": crop_png(5), "b.png": encoded(5, "PNG", "RGB"), "c.png": crop_png(6)})
    report = items_import(project=project, path=str(archive), cropped=True)
    assert report.imported == 2 and report.counts["duplicates"] == 1
    assert "same face pixels as file 'a.png' in this import" in report.duplicates[0]["reason"]


def test_a_csv_after_the_pngs_is_recognised_too(make_project, tmp_path):
    project, _, _ = make_project()
    items_import(project=project, path=str(make_zip(tmp_path / "a.zip", {"a.png": crop_png(0)})), cropped=True)
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", fer_rows(2))))
    assert report.imported == 1 and report.counts["duplicates"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_face_in_two_formats_store_it_once(make_project, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project, _, _ = make_project()
    archives = [make_zip(tmp_path / "png.zip", {f"{r}.png": crop_png(r) for r in range(12)}),
                make_zip(tmp_path / "webp.zip", {f"{r}.webp": encoded(r, "WEBP") for r in range(12)})]
    reports, barrier = [], threading.Barrier(2)

    def run(path):
        barrier.wait()
        try:
            reports.append(items_import(project=project, path=str(path), cropped=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in archives]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert Item.objects.filter(project=project).count() == 12
    assert sum(r.imported for r in reports) == 12 and sum(r.counts["duplicates"] for r in reports) == 12


def test_the_migration_fills_pixel_hashes_of_faces_imported_before_they_existed(make_project, tmp_path):
    import importlib

    from django.apps import apps
    backfill = importlib.import_module("annotate.migrations.0007_item_pixel_hash_backfill").backfill
    project, _, _ = make_project()
    items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", fer_rows(3))))
    Item.objects.filter(project=project).update(pixel_hash="")
    broken = Item.objects.filter(project=project).order_by("id").last()
    Item.objects.filter(pk=broken.pk).update(crop="items/missing.png")
    backfill(apps, None)
    hashes = dict(Item.objects.filter(project=project).values_list("source_row", "pixel_hash"))
    assert hashes == {0: faces.sha256(sample_face(0)), 1: faces.sha256(sample_face(1)), 2: ""}
