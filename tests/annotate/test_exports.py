"""Exports: once per version and format, cancel and resume, and each format read back the way its users read it."""
import csv
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from PIL import Image

from annotate.exceptions import ValidationFailed
from annotate.exports.common import hf_split
from annotate.models import Annotation, Export, ExportFormat, Item, Job, JobStatus
from annotate.services import exports as export_service
from annotate.services import jobs as engine
from annotate.services.exports import export_request
from annotate.services.imports import items_import
from annotate.services.jobs import job_cancel, job_run
from ml import faces
from ml.config import FER2013_CLASSES
from tests.annotate.exports_support import version_make

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def version(make_project):
    project, lead, _ = make_project(annotators=0, name="Sample faces")
    return version_make(project)


@pytest.fixture
def build(django_capture_on_commit_callbacks):
    """build(version, format) -> the finished Export, its job run in-process on commit as the API does."""

    def run(version, format, created_by=None) -> Export:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                export = export_request(version=version, format=format, created_by=created_by)
        export.refresh_from_db()
        return export

    return run


def unzip(export: Export) -> zipfile.ZipFile:
    with default_storage.open(export.file, "rb") as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


def entries_of(version) -> dict:
    return {e.item_id: e for e in version.entries.select_related("item")}


# --- once per version and format -----------------------------------------------------------------------

def test_a_second_request_while_one_runs_returns_the_running_job_and_a_finished_one_is_kept(version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = export_request(version=version, format="jsonl")
        again = export_request(version=version, format="jsonl")
    assert again.pk == first.pk and again.job_id == first.job_id and len(sent) == 1
    assert first.job.status == JobStatus.QUEUED and first.job.params == {"export": first.pk} and first.job.queue == "default"
    assert Job.objects.count() == 1 and not first.file
    job_run(job_id=first.job_id)
    first.refresh_from_db()
    assert first.file and first.size == default_storage.size(first.file) and len(first.sha256) == 64
    with django_capture_on_commit_callbacks(execute=False) as sent:
        finished = export_request(version=version, format="jsonl")
    assert finished.pk == first.pk and finished.job_id == first.job_id and finished.file == first.file and not sent
    assert Job.objects.count() == 1


def test_a_failed_or_cancelled_export_is_enqueued_again(version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = export_request(version=version, format="parquet")
    job_cancel(job=export.job)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        again = export_request(version=version, format="parquet")
    assert again.pk == export.pk and again.job_id != export.job_id and len(sent) == 1
    assert again.job.status == JobStatus.QUEUED and Export.objects.count() == 1


def test_an_unknown_format_is_refused_and_nothing_is_created(version):
    with pytest.raises(ValidationFailed) as error:
        export_request(version=version, format="xlsx")
    assert error.value.code == "unknown_format" and "parquet" in error.value.details["formats"]
    assert not Export.objects.exists() and not Job.objects.exists()


def test_a_cancelled_export_leaves_no_file(version, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(export_service, "PROGRESS_EVERY", 10)
    calls = {"n": 0}
    real = engine.job_progress

    def progress(*, job, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # a lead clicks Cancel while the file is half written
            job_cancel(job=job)
        return real(job=job, **kwargs)

    monkeypatch.setattr(export_service, "job_progress", progress)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            export = export_request(version=version, format="imagefolder")
    export.refresh_from_db()
    job = export.job
    assert job.status == JobStatus.CANCELLED and 0 < job.progress_done < version.item_count
    assert not export.file and export.size == 0
    assert job.result["cleanup"] == {"partial_files_removed": 0}  # the attempt removed its own partial file
    assert os.listdir(default_storage.path("exports/.partial")) == []
    assert not [name for name in _stored_files("exports") if ".partial" not in name]


def _stored_files(folder: str) -> list[str]:
    root = default_storage.path(folder)
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files] if os.path.isdir(root) else []


def test_a_resumed_export_removes_the_killed_attempts_partial_file_and_completes(version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        export = export_request(version=version, format="fer2013-csv")
    folder = default_storage.path("exports/.partial")
    os.makedirs(folder, exist_ok=True)
    killed = os.path.join(folder, f"{export.pk}-{export.job_id}-1-deadbeef.part")
    with open(killed, "wb") as fh:
        fh.write(b"PK\x03\x04 half a zip")  # what a worker killed mid-write leaves
    Job.objects.filter(pk=export.job_id).update(attempts=1)  # the sweep queued it again after the worker died
    job_run(job_id=export.job_id)
    export.refresh_from_db()
    assert export.job.status == JobStatus.SUCCEEDED and export.job.attempts == 2
    assert not os.path.exists(killed) and os.listdir(folder) == []
    assert zipfile.ZipFile(default_storage.path(export.file)).testzip() is None


def test_an_export_that_fails_mid_write_publishes_nothing(version, monkeypatch, django_capture_on_commit_callbacks):
    def broken(rows, out, *, info):
        for i, _ in enumerate(rows):
            out.write(b"x" * 100)
            if i == 20:
                raise OSError("disk full")

    monkeypatch.setattr(export_service, "writer_for", lambda format: broken)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            export = export_request(version=version, format="jsonl")
    export.refresh_from_db()
    assert export.job.status == JobStatus.FAILED and "disk full" in export.job.error
    assert not export.file and os.listdir(default_storage.path("exports/.partial")) == []


def test_a_versions_export_is_the_same_bytes_whenever_it_is_built_and_later_answers_change_nothing(version, build):
    first = build(version, "parquet")
    item = version.entries.first().item
    Annotation.objects.create(project=version.project, item=item, annotator=Annotation.objects.first().annotator,
                              label="fear", client_id="00000000-0000-0000-0000-000000000001", replaces=Annotation.objects.filter(item=item).first())
    assert build(version, "parquet").file == first.file  # finished: kept as is
    default_storage.delete(first.file)  # gone from storage: built again, from the same frozen version
    rebuilt = build(version, "parquet")
    assert rebuilt.file != first.file and rebuilt.sha256 == first.sha256 and rebuilt.size == first.size


# --- the formats, read back as their users read them ---------------------------------------------------

def test_the_writers_run_without_django():
    """annotate.exports is plain Python over rows: a training script can write these files with no project set up."""
    code = (
        "import io, sys, zipfile\n"
        "from annotate.exports import WRITER_MODULES, writer_for\n"
        "from annotate.exports.common import ExportInfo, ExportRow\n"
        "from tests.annotate.imports_support import crop_png\n"
        "rows = [ExportRow(item_id=i, content_hash=str(i), png=crop_png(i), label='happiness', split='Training',"
        " soft_label={'happiness': 1.0}, votes={'happiness': 2}, num_answers=2) for i in range(3)]\n"
        "info = ExportInfo(name='n', title='t', version=1, sha256='0', labels=('neutral', 'happiness'),"
        " soft_classes=('neutral', 'happiness'), data_card='# card')\n"
        "for name in WRITER_MODULES:\n"
        "    out = io.BytesIO()\n"
        "    assert writer_for(name)(iter(rows), out, info=info)['faces'] == 3, name\n"
        "    assert zipfile.ZipFile(out).testzip() is None\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')], 'Django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_fer2013_csv_imported_into_a_new_project_gives_back_the_pixels_labels_and_splits(version, build, make_project, tmp_path):
    export = build(version, "fer2013-csv")
    zf = unzip(export)
    assert sorted(zf.namelist()) == ["DATA_CARD.md", "fer2013.csv"]
    assert zf.read("DATA_CARD.md").decode() == version.data_card
    entries = entries_of(version)
    contempt = sum(1 for e in entries.values() if e.label == "contempt")
    assert contempt > 0 and export.job.result["left_out"] == {"contempt": contempt}
    zf.extract("fer2013.csv", tmp_path)
    with open(tmp_path / "fer2013.csv") as fh:
        assert fh.readline() == "emotion,pixels,Usage\n"
    target, _, _ = make_project(annotators=0)
    report = items_import(project=target, path=str(tmp_path / "fer2013.csv"))
    assert report.ok and report.imported == len(entries) - contempt and not report.counts["skipped"]
    back = {i.content_hash: i for i in Item.objects.filter(project=target)}
    for e in entries.values():
        if e.label == "contempt":
            assert e.content_hash not in back
            continue
        item = back[e.content_hash]  # the same pixels: the importer hashes them as the original import did
        assert item.reference_label == e.label and item.split == e.split
        with default_storage.open(item.crop.name) as a, default_storage.open(e.item.crop.name) as b:
            assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_ferplus_csv_imported_after_its_fer2013_csv_gives_back_every_vote_count(version, build, make_project, tmp_path):
    export = build(version, "ferplus-csv")
    zf = unzip(export)
    assert sorted(zf.namelist()) == ["DATA_CARD.md", "fer2013.csv", "fer2013new.csv"]
    zf.extractall(tmp_path)
    with open(tmp_path / "fer2013new.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                       "contempt", "unknown", "NF"]
    assert all(cell.isdigit() for row in rows[1:] for cell in row[2:]) and rows[1][1] == "fer0000000.png"
    target, _, _ = make_project(annotators=0)
    assert items_import(project=target, path=str(tmp_path / "fer2013.csv")).imported == version.item_count
    votes = items_import(project=target, path=str(tmp_path / "fer2013new.csv"))
    assert votes.ok and votes.updated == version.item_count, votes.as_dict()
    back = {i.content_hash: i for i in Item.objects.filter(project=target)}
    for e in entries_of(version).values():
        item = back[e.content_hash]
        assert {k: v for k, v in item.reference_votes.items() if v} == e.votes
        assert item.reference_label == ("" if e.label == "contempt" else e.label)


def test_parquet_loads_with_pyarrow_and_datasets_with_class_names_and_images(version, build, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    export = build(version, "parquet")
    unzip(export).extractall(tmp_path)
    entries = entries_of(version)
    splits = Counter(hf_split(e.split) for e in entries.values())
    files = sorted(os.listdir(tmp_path / "data"))
    assert files == [f"{s}-00000-of-00001.parquet" for s in sorted(splits)]
    table = pq.read_table(tmp_path / "data" / files[0])
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["label"] == {"names": list(version.project.labels), "_type": "ClassLabel"}
    card = (tmp_path / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "other" and header["task_categories"] == ["image-classification"]
    assert {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]} == dict(splits)
    assert header["configs"][0]["data_files"][0]["path"].startswith("data/")

    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    loaded = datasets.load_dataset(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert {name: len(loaded[name]) for name in loaded} == dict(splits)
    some = next(iter(loaded.values()))
    assert some.features["label"].names == list(version.project.labels)
    assert isinstance(some.features["image"], datasets.Image)
    for row in some.select(range(5)):
        e = entries[row["item_id"]]
        assert some.features["label"].int2str(row["label"]) == e.label
        pixels = np.asarray(row["image"])
        assert pixels.shape == (48, 48) and faces.sha256(pixels) == e.content_hash
        classes = [c for c in version.project.labels if c in e.soft_label]
        assert row["soft_label"] == pytest.approx([e.soft_label[c] for c in classes], abs=1e-6)
        assert {k: v for k, v in row["votes"].items() if v} == e.votes and row["num_answers"] == e.num_answers
        assert row["quality"] == pytest.approx(e.quality) and row["flags"]["occluded"] == e.flags.get("occluded", 0)


def test_imagefolder_unpacks_to_split_class_id_png_with_the_right_counts(version, build, tmp_path):
    export = build(version, "imagefolder")
    unzip(export).extractall(tmp_path)
    entries = entries_of(version)
    want = Counter((hf_split(e.split), e.label) for e in entries.values())
    found = Counter()
    for split in os.listdir(tmp_path):
        if (tmp_path / split).is_dir():
            for label in os.listdir(tmp_path / split):
                for name in os.listdir(tmp_path / split / label):
                    e = entries[int(name.removesuffix(".png"))]
                    assert (hf_split(e.split), e.label) == (split, label)
                    image = Image.open(tmp_path / split / label / name)
                    assert image.size == (48, 48) and image.mode == "L"
                    found[(split, label)] += 1
    assert found == want and export.job.result["faces"] == len(entries)
    with open(tmp_path / "labels.csv") as fh:
        labels = list(csv.DictReader(fh))
    assert len(labels) == len(entries) and (tmp_path / labels[0]["file_name"]).exists()
    assert (tmp_path / "DATA_CARD.md").read_text() == version.data_card


def test_jsonl_has_one_face_per_line_with_its_image_beside_it(version, build):
    zf = unzip(build(version, "jsonl"))
    lines = [json.loads(line) for line in zf.read("data.jsonl").decode().splitlines()]
    entries = entries_of(version)
    assert sorted(line["id"] for line in lines) == sorted(entries)
    for line in lines:
        e = entries[line["id"]]
        pixels = np.asarray(Image.open(io.BytesIO(zf.read(line["image"]))))
        assert faces.sha256(pixels) == e.content_hash and line["label"] == e.label and line["votes"] == e.votes
        assert line["soft_label"] == e.soft_label and line["quality"] == e.quality and line["split"] == e.split


# The task shape Label Studio's importer reads (its data import and task serializers), written out as a schema.
RESULT = {"type": "object", "required": ["from_name", "to_name", "type", "value"],
          "properties": {"type": {"const": "choices"},
                         "value": {"type": "object", "required": ["choices"],
                                   "properties": {"choices": {"type": "array", "items": {"type": "string"}, "minItems": 1}}}}}
LABEL_STUDIO_TASKS = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "required": ["data"], "additionalProperties": False,
              "properties": {
                  "data": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "pattern": "^data:image/png;base64,"}}},
                  "annotations": {"type": "array", "items": {
                      "type": "object", "required": ["result"], "not": {"required": ["completed_by"]},
                      "properties": {"result": {"type": "array", "items": RESULT}, "ground_truth": {"type": "boolean"},
                                     "was_cancelled": {"type": "boolean"}, "lead_time": {"type": ["number", "null"]}}}},
                  "predictions": {"type": "array", "items": {"type": "object", "required": ["result"],
                                                             "properties": {"result": {"type": "array", "items": RESULT},
                                                                            "score": {"type": ["number", "null"]},
                                                                            "model_version": {"type": "string"}}}},
                  "meta": {"type": "object"}}},
}


def test_label_studio_json_has_the_shape_label_studio_imports_with_every_answer(version, build):
    import jsonschema

    zf = unzip(build(version, "label-studio"))
    tasks = json.loads(zf.read("tasks.json"))
    jsonschema.validate(tasks, LABEL_STUDIO_TASKS)
    config = ElementTree.fromstring(zf.read("label_config.xml"))
    controls = {c.get("name"): {v.get("value") for v in c.iter("Choice")} for c in config.iter("Choices")}
    image = config.find("Image")
    assert image.get("value") == "$image" and {c.get("toName") for c in config.iter("Choices")} == {image.get("name")}
    answers = Counter(Annotation.objects.filter(project=version.project).values_list("item_id", flat=True))
    entries = entries_of(version)
    for t in tasks:
        e = entries[t["data"]["ferlab_id"]]
        assert len(t["annotations"]) == answers[e.item_id] == e.num_answers
        assert all(not a["ground_truth"] for a in t["annotations"])
        given = Counter(r["value"]["choices"][0] for a in t["annotations"] for r in a["result"] if r["from_name"] == "expression")
        assert dict(given) == e.votes
        for a in t["annotations"] + t["predictions"]:
            for r in a["result"]:
                assert set(r["value"]["choices"]) <= controls[r["from_name"]] and r["to_name"] == image.get("name")
        assert len(set(t["meta"]["annotators"])) == len(t["annotations"])
        assert all(name.startswith("a") and name[1:].isdigit() for name in t["meta"]["annotators"])  # never a username
        png = __import__("base64").b64decode(t["data"]["image"].split(",", 1)[1])
        assert faces.sha256(np.asarray(Image.open(io.BytesIO(png)))) == e.content_hash


# --- the data card -----------------------------------------------------------------------------------------

def test_the_data_card_tells_counts_agreement_sources_flags_and_unfit_uses_without_names(version):
    card = version.data_card
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["size_categories"] == ["n<1K"] and header["annotations_creators"] == ["crowdsourced"]
    assert header["source_datasets"] == ["extended|fer2013"] and header["task_ids"] == ["multi-class-image-classification"]
    body = card.split("---\n", 2)[2]
    for heading in ("## Motivation", "## Composition", "## Collection process", "## Preprocessing, cleaning and labelling",
                    "## Uses", "## Distribution", "## Maintenance"):
        assert heading in body
    entries = list(version.entries.all())
    per_class = Counter(e.label for e in entries)
    assert f"| **all** |" in body and f"| {per_class.most_common(1)[0][0]} |" in body
    contempt = per_class["contempt"]
    assert f"(contempt): {contempt}; the `fer2013-csv` export leaves them out" in body
    assert "Krippendorff's alpha 0.520, Fleiss' kappa 0.490" in body and "**Thin evidence:** only 60 faces" in body
    differ = sum(e.label != e.reference_label for e in entries)
    assert f"({differ} of 60)" in body and "Goodfellow et al." in body
    assert "from 10 annotators" in body
    assert not any(u in card for u in Annotation.objects.values_list("annotator__username", flat=True).distinct())
    flagged = sum(1 for e in entries if e.flags.get("occluded"))
    assert f"- occluded: {flagged} faces flagged by at least one annotator" in body
    assert "Inferring what a person feels" in body and "min_answers" not in body and "Minimum answers per face: 1" in body


# --- the command and a real worker -------------------------------------------------------------------------

def test_export_version_command_builds_here_and_copies_the_file(version, tmp_path, capsys):
    call_command("export_version", str(version.pk), "--format", "fer2013-csv", "--out", str(tmp_path))
    export = Export.objects.get(version=version, format="fer2013-csv")
    target = tmp_path / f"{version.project.slug}-v1-fer2013-csv.zip"
    assert f"wrote {target}" in capsys.readouterr().out
    assert target.read_bytes() == default_storage.open(export.file).read()
    assert export.job.status == JobStatus.SUCCEEDED and export.job.progress_done == version.item_count


@pytest.mark.worker
def test_an_export_job_runs_on_a_real_worker(celery_worker, make_project):
    project, lead, _ = make_project(annotators=0)
    version = version_make(project, faces_wanted=20)
    with transaction.atomic():
        export = export_request(version=version, format="imagefolder", created_by=lead)
    job = export.job
    deadline = time.monotonic() + 90
    while job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED) and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error or celery_worker.log_path.read_text()[-3000:]
    assert job.worker == celery_worker.hostname and job.queue.endswith("-default")
    export.refresh_from_db()
    assert export.file and zipfile.ZipFile(default_storage.path(export.file)).testzip() is None
    assert job.result["faces"] == 20 and export.sha256 == job.result["sha256"]
