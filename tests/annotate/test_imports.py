"""FER2013 and FER+ csv imports: items, reference labels and votes, answers, bad rows, duplicates."""
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from annotate.models import Annotation, Item
from annotate.services.imports import items_import
from annotate.services.imports_fer import FER2013_ANNOTATOR, FERPLUS_ANNOTATORS
from ml.config import FER2013_CLASSES
from tests.annotate.imports_support import FERPLUS_HEADER, SAMPLE, fer_rows, sample_face, sample_rows, write_fer2013

pytestmark = pytest.mark.django_db


def test_fer2013_rows_become_items_with_split_reference_label_and_a_stored_crop(make_project, tmp_path):
    project, _, _ = make_project()
    path = write_fer2013(tmp_path / "fer2013.csv", fer_rows(20))
    report = items_import(project=project, path=str(path))
    assert report.ok and report.format == "fer2013" and report.imported == 20 and report.counts["skipped"] == 0
    items = list(Item.objects.filter(project=project).order_by("source_row"))
    assert [i.source_row for i in items] == list(range(20))
    first = items[0]
    row = sample_rows(1)[0]
    assert first.reference_label == FER2013_CLASSES[int(row["emotion"])] and first.split == row["Usage"]
    assert {i.split for i in items} <= {"Training", "PublicTest"}
    assert all(i.reference_label in project.labels for i in items)
    assert first.width == first.height == 48 and first.perceptual_hash is not None and first.answer_count == 0
    crop = Path(first.crop.path)
    assert crop.is_relative_to(Path(settings.MEDIA_ROOT)) and crop.exists()
    assert np.array_equal(np.asarray(Image.open(crop)), sample_face(0))
    assert not first.image  # a csv row has no original beyond its crop


def test_fer2013_labels_as_answers_of_the_original_annotator(make_project, tmp_path):
    project, _, _ = make_project()
    path = write_fer2013(tmp_path / "fer2013.csv", fer_rows(10))
    report = items_import(project=project, path=str(path), labels_as_answers=True)
    assert report.imported == 10 and report.answers == 10
    answers = Annotation.objects.filter(project=project)
    assert answers.count() == 10
    assert {a.annotator.username for a in answers} == {FER2013_ANNOTATOR}
    assert all(a.source == "import" and a.replaces_id is None and a.client_id for a in answers)
    assert not answers.first().annotator.has_usable_password()
    items = Item.objects.filter(project=project)
    assert all(i.answer_count == 1 and i.reference_label == "" for i in items)
    assert project.memberships.filter(user__username=FER2013_ANNOTATOR, role="annotator").exists()


def test_ferplus_votes_become_reference_votes_row_aligned(make_project):
    project, _, _ = make_project()
    items_import(project=project, path=str(SAMPLE / "fer2013_sample.csv"))
    report = items_import(project=project, path=str(SAMPLE / "fer2013new_sample.csv"))
    assert report.ok and report.format == "ferplus" and report.updated == 300 and report.counts["skipped"] == 0
    item = Item.objects.get(project=project, source_row=0)
    assert item.reference_votes["not_a_face"] == 10 and sum(item.reference_votes.values()) == 10
    assert set(item.reference_votes) == {"neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                                         "contempt", "unknown", "not_a_face"}
    assert Annotation.objects.filter(project=project).count() == 0


def test_ferplus_votes_as_answers_from_distinct_crowd_annotators(make_project, tmp_path):
    project, _, _ = make_project()
    items_import(project=project, path=write_fer2013(tmp_path / "fer.csv", fer_rows(3)).as_posix(), labels_as_answers=True)
    votes = [["Training", "", 0, 0, 0, 0, 6, 0, 0, 0, 3, 1], ["Training", "", 5, 5, 0, 0, 0, 0, 0, 0, 0, 0],
             ["Training", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]]
    votes_csv = write_fer2013(tmp_path / "fer2013new.csv", votes, header=FERPLUS_HEADER)
    report = items_import(project=project, path=str(votes_csv), votes_as_answers=True)
    assert report.ok and report.updated == 3 and report.answers == 29
    item = Item.objects.get(project=project, source_row=0)
    crowd = Annotation.objects.filter(item=item, annotator__username__in=FERPLUS_ANNOTATORS)
    assert crowd.count() == 10 and crowd.values("annotator").distinct().count() == 10
    assert sorted(crowd.values_list("label", flat=True)) == sorted(["anger"] * 6 + ["unknown"] * 3 + ["not_a_face"])
    assert item.answer_count == 11  # fer2013-original + ten crowd answers
    assert Item.objects.get(project=project, source_row=2).answer_count == 10
    assert item.reference_votes is None
    again = items_import(project=project, path=str(votes_csv), votes_as_answers=True)
    assert again.answers == 0 and again.counts["duplicates"] == 3
    assert Item.objects.get(pk=item.pk).answer_count == 11


def test_ferplus_needs_fer2013_first_and_its_own_columns(make_project, tmp_path):
    project, _, _ = make_project()
    report = items_import(project=project, path=str(SAMPLE / "fer2013new_sample.csv"))
    assert not report.ok and "import fer2013.csv first" in report.error
    items_import(project=project, path=str(write_fer2013(tmp_path / "fer.csv", fer_rows(2))))
    wrong = write_fer2013(tmp_path / "votes.csv", [["Training", "", 1, 2]], header=FERPLUS_HEADER[:4])
    report = items_import(project=project, path=str(wrong), format="ferplus")
    assert not report.ok and "wrong columns" in report.error


def test_ferplus_bad_rows_are_reported_and_good_rows_applied(make_project, tmp_path):
    project, _, _ = make_project()
    items_import(project=project, path=str(write_fer2013(tmp_path / "fer.csv", fer_rows(3))))
    rows = [["Training", "", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0], ["Training", "", "x", 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ["PrivateTest", "", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0], ["Training", "", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "v.csv", rows, header=FERPLUS_HEADER)))
    assert report.updated == 1
    reasons = {e["code"]: e["reason"] for e in report.skipped}
    assert reasons["bad_votes"].startswith("row 1 (line 3)")
    assert reasons["usage_mismatch"].startswith("row 2 (line 4)")  # sample row 2 is Training
    assert reasons["no_matching_item"].startswith("row 3 (line 5)")


def test_bad_fer2013_rows_are_skipped_with_a_reason_naming_the_row(make_project, tmp_path):
    project, _, _ = make_project()
    good = fer_rows(3)
    pixels = good[0][1]
    rows = [
        good[0],
        ["0", pixels.rsplit(" ", 1)[0], "Training"],  # 2303 values
        ["0", "x " + pixels.split(" ", 1)[1], "Training"],  # non-numeric
        ["9", good[1][1], "Training"],  # emotion out of range
        ["0", good[1][1]],  # a field missing
        good[1],
        ["0", "300 " + pixels.split(" ", 1)[1], "Training"],  # out of 0..255
        ["0", "", "Training"],
        good[2],
    ]
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "fer.csv", rows)))
    assert report.ok and report.imported == 3 and report.seen == 9
    skipped = {e["where"]: (e["code"], e["reason"]) for e in report.skipped}
    assert skipped == {
        "row 1 (line 3)": ("bad_pixels", "row 1 (line 3): pixels has 2303 values, expected 2304"),
        "row 2 (line 4)": ("bad_pixels", "row 2 (line 4): pixels contains 'x', not a whole number 0..255"),
        "row 3 (line 5)": ("bad_emotion", "row 3 (line 5): emotion '9' is not a FER2013 class 0..6"),
        "row 4 (line 6)": ("wrong_columns", "row 4 (line 6): has 2 fields, the header has 3"),
        "row 6 (line 8)": ("bad_pixels", "row 6 (line 8): pixels must be integers 0..255"),
        "row 7 (line 9)": ("bad_pixels", "row 7 (line 9): pixels has 0 values, expected 2304"),
    }
    assert sorted(Item.objects.filter(project=project).values_list("source_row", flat=True)) == [0, 5, 8]


def test_an_overlong_line_is_skipped_without_reading_it_whole(make_project, tmp_path):
    project, _, _ = make_project()
    path = write_fer2013(tmp_path / "fer.csv", fer_rows(2))
    with open(path, "a") as fh:
        fh.write("0," + "1 " * 200_000 + ",Training\n")
    report = items_import(project=project, path=str(path))
    assert report.imported == 2
    assert [e["code"] for e in report.skipped] == ["line_too_long"]


def test_wrong_columns_import_nothing_and_say_why(make_project, tmp_path):
    project, _, _ = make_project()
    path = write_fer2013(tmp_path / "fer.csv", [["0", "1 2 3", "Training"]], header=("emotion", "pixelz", "Usage"))
    report = items_import(project=project, path=str(path))
    assert not report.ok and "cannot tell the format" in report.error and "pixelz" in report.error
    report = items_import(project=project, path=str(path), format="fer2013")
    assert not report.ok and "wrong columns" in report.error and "emotion,pixels,Usage" in report.error
    assert not Item.objects.filter(project=project).exists()


def test_exact_duplicates_are_stored_once_and_near_duplicates_reported(make_project, tmp_path):
    project, _, _ = make_project()
    rows = fer_rows(4)
    near = sample_face(1).copy()
    near[24, 24] ^= 1  # one grey level: a new exact hash, the same picture
    rows += [rows[0], ["3", " ".join(map(str, near.ravel())), "PublicTest"]]
    report = items_import(project=project, path=str(write_fer2013(tmp_path / "fer.csv", rows)))
    assert report.imported == 5 and report.counts["duplicates"] == 1
    assert report.duplicates[0]["reason"] == "row 4 (line 6): same image as row 0 (line 2) in this import"
    near_item = Item.objects.get(project=project, source_row=5)
    assert report.near_duplicates == [{
        "where": "row 5 (line 7)", "item": near_item.pk, "distance": 0,
        "similar_item": Item.objects.get(project=project, source_row=1).pk,
    }]
    again = items_import(project=project, path=str(write_fer2013(tmp_path / "fer.csv", rows)))
    assert again.ok and again.imported == 0 and again.counts["duplicates"] == 6
    assert Item.objects.filter(project=project).count() == 5


def test_the_same_faces_may_live_in_two_projects(make_project, tmp_path):
    path = str(write_fer2013(tmp_path / "fer.csv", fer_rows(3)))
    for _ in range(2):
        project, _, _ = make_project()
        assert items_import(project=project, path=path).imported == 3


def test_kaggle_variants_bom_crlf_spaced_headers_and_pixels_only(make_project, tmp_path):
    project, _, _ = make_project()
    rows = fer_rows(3)
    text = "\ufeffemotion, Usage, pixels\r\n" + "".join(f"{e}, {u}, {p}\r\n" for e, p, u in rows)
    (tmp_path / "icml_face_data.csv").write_text(text, encoding="utf-8", newline="")
    report = items_import(project=project, path=str(tmp_path / "icml_face_data.csv"))
    assert report.ok and report.format == "fer2013" and report.imported == 3, report.as_dict()
    assert set(Item.objects.filter(project=project).values_list("split", flat=True)) <= {"Training", "PublicTest"}
    other, _, _ = make_project()
    path = write_fer2013(tmp_path / "test.csv", [[p] for _, p, _ in fer_rows(2)], header=("pixels",))
    report = items_import(project=other, path=str(path))
    assert report.imported == 2 and "no emotion column" in report.notes[0]
    assert list(Item.objects.filter(project=other).values_list("reference_label", flat=True)) == ["", ""]
