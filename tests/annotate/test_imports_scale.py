"""The import's fast paths read and report exactly what the plain ones do: csv rows, batched near duplicates."""
import csv
import io

import pytest
from django.db import connection

from annotate.models import Item
from annotate.services import imports_base
from annotate.services.imports import items_import
from annotate.services.imports_fer import csv_rows
from annotate.services.imports_sql import item_ids_by_hash, item_rows_insert
from tests.annotate.imports_support import fer_rows, sample_face, write_fer2013


def test_csv_rows_reads_what_the_csv_reader_reads():
    text = (
        'emotion,pixels,Usage\n0,1 2 3,Training\r\n\n,,\n"0","4 5",PublicTest\n1,"a, quoted\nfield over lines",x\n'
        '2,"unclosed\nnext,line\n3,6 7,Training\n\n4,8,'
    )
    lines = [line.decode() for line in io.BytesIO(text.encode()).readlines()]  # split as bounded_lines splits
    assert list(csv_rows(iter(lines))) == list(csv.reader(lines))
    assert len(list(csv_rows(iter(lines)))) == 7  # a multi-line field is one row; an unclosed quote runs to the end
    with pytest.raises(csv.Error):  # a bare carriage return inside a row is refused, as the reader refuses it
        list(csv_rows(iter(["0,1 2\r3,Training\n"])))


@pytest.mark.django_db
def test_near_duplicates_are_found_across_batches_and_within_one(make_project, tmp_path, monkeypatch):
    monkeypatch.setitem(imports_base.ItemWriter.__init__.__kwdefaults__, "batch_size", 3)
    rows = fer_rows(8)
    copies = []
    for r in (1, 6):  # one copy lands in a later batch than its original, one in the same batch
        face = sample_face(r).copy()
        face[24, 24] ^= 1
        copies.append(["0", " ".join(map(str, face.ravel())), "PrivateTest"])
    rows.insert(7, copies[1])
    rows.append(copies[0])
    project, _, _ = make_project()
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", rows)))
    by_row = dict(Item.objects.filter(project=project).values_list("source_row", "id"))
    near = {(n["item"], n["similar_item"]) for n in report.near_duplicates}
    assert {(by_row[7], by_row[6]), (by_row[9], by_row[1])} <= near


@pytest.mark.django_db
def test_the_sql_insert_stores_what_bulk_create_stores(make_project):
    if connection.vendor != "postgresql":
        pytest.skip("the array insert is PostgreSQL's")
    rows = {
        "image": ["", "items/x/a.jpg"], "crop": ["items/x/a.png", "items/x/b.png"], "content_hash": ["a" * 64, "b" * 64],
        "pixel_hash": ["c" * 64, "d" * 64], "perceptual_hash": [-(2 ** 63), 2 ** 63 - 1], "width": [48, 640],
        "height": [48, 480], "source": ["f.csv:0", "z.zip:b.jpg"], "source_row": [0, None], "split": ["Training", ""],
        "reference_label": ["anger", ""], "answer_count": [1, 0], "is_gold": [True, False], "gold_label": ["anger", ""],
    }
    stored = []
    for fast in (False, True):
        project, _, _ = make_project()
        ids = item_rows_insert(common={"project": project, "import_job": None}, rows=rows, fast=fast)
        assert [Item.objects.get(pk=pk).content_hash for pk in ids] == rows["content_hash"]
        values = list(Item.objects.filter(pk__in=ids).order_by("content_hash").values())
        stored.append([{k: v for k, v in row.items() if k not in ("id", "project_id", "created_at")} for row in values])
        assert all(row["created_at"] is not None for row in values)
    assert stored[0] == stored[1] and stored[0][1]["source_row"] is None and stored[0][0]["priority"] == 0.0


@pytest.mark.django_db
def test_the_array_lookup_finds_what_the_in_lookup_finds(make_project, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the array lookup is PostgreSQL's")
    project, _, _ = make_project()
    other, _, _ = make_project()
    items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", fer_rows(5))))
    items_import(project=other, path=str(write_fer2013(tmp_path / "g.csv", fer_rows(7))))
    hashes = list(Item.objects.filter(project=project).values_list("pixel_hash", flat=True))[:3] + ["f" * 64]
    hashes += list(Item.objects.filter(project=other, source_row=6).values_list("pixel_hash", flat=True))  # not this project's
    for field in ("pixel_hash", "content_hash"):
        found = [item_ids_by_hash(project=project, field=field, values=hashes, fast=fast) for fast in (False, True)]
        assert found[0] == found[1] and len(found[0]) == 3


@pytest.mark.django_db
def test_a_growing_import_refreshes_the_planners_statistics_at_each_doubling(make_project, tmp_path, monkeypatch):
    """A million-row import outruns autovacuum's statistics; the writer refreshes them at 2, 4, 8 ... faces."""
    monkeypatch.setitem(imports_base.ItemWriter.__init__.__kwdefaults__, "batch_size", 1)
    monkeypatch.setattr(imports_base, "ANALYZE_FIRST_AT", 2)
    refreshed_at = []
    real = imports_base.table_statistics_refresh
    monkeypatch.setattr(imports_base, "table_statistics_refresh", lambda: refreshed_at.append(Item.objects.count()) or real())
    project, _, _ = make_project()
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "f.csv", fer_rows(9))))
    assert report.imported == 9 and refreshed_at == [2, 4, 8]
