"""Exports of projects that ask for valence-arousal and action units (#18): per-face consensus from the version's
quality run and every annotator's answers in jsonl, parquet and Label Studio; the consensus columns of labels.csv;
the data card's dimension section; and projects that ask for neither, whose files keep their pre-#18 shape."""
import csv
import io
import json
import uuid
import zipfile
from xml.etree import ElementTree

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from annotate.models import Annotation, Export, Project, QualityItemResult, QualityRun
from annotate.services.exports import export_request
from annotate.services.versions import version_freeze
from tests.annotate.test_quality_dimensions import NO_SMILE, analyse, crowd  # noqa: F401  (the real run's fixtures)

AUS = (6, 12, 25)
LETTERS = "ABCDE"
# Per face: (valence, arousal, valence spread, arousal spread, {AU: probability present}); the last face has none.
CONSENSUS = [(0.61, 0.32, 0.11, 0.2, {"6": 0.93, "12": 0.97, "25": 0.41}),
             (-0.45, 0.55, 0.3, 0.05, {"6": 0.08, "12": 0.02, "25": 0.88}),
             (0.05, -0.25, 0.02, 0.4, {"6": 0.5, "12": 0.12}),  # AU25 nobody judged: null probability and decision
             (0.33, 0.1, 0.07, 0.09, {"6": 0.66, "12": 0.71, "25": 0.01}),
             (None, None, None, None, None)]
SUMMARY_DIMENSIONS = {
    "valence": {"alpha": 0.712, "icc": 0.688, "faces": 4, "answers": 12,
                "by_class": {"happiness": {"alpha": 0.5, "icc": 0.4, "faces": 2, "answers": 6}}},
    "arousal": {"alpha": 0.423, "icc": 0.401, "faces": 4, "answers": 12, "by_class": {}},
    "action_units": {"numbers": list(AUS), "per_au": {
        "6": {"name": "Cheek raiser", "alpha": 0.61, "prevalence": 0.4, "positive_agreement": 0.7, "intensity_alpha": 0.3,
              "faces": 5, "judgements": 15},
        "12": {"name": "Lip corner puller", "alpha": 0.81, "prevalence": 0.5, "positive_agreement": 0.9,
               "intensity_alpha": None, "faces": 5, "judgements": 15}}},
    "checks": {"valence_spread": 1, "arousal_spread": 0, "au_disputed": 2, "expression_vs_au": 1, "expression_vs_valence": 0},
}


@pytest.fixture
def build(django_capture_on_commit_callbacks):
    """build(version, format) -> the finished Export's zip, its job run in-process on commit as the API does."""

    def run(version, format):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                export = export_request(version=version, format=format)
        export.refresh_from_db()
        with default_storage.open(export.file, "rb") as fh:
            return zipfile.ZipFile(io.BytesIO(fh.read()))

    return run


def _answer_units(face: int, person: int) -> dict | None:
    """Crafted AU answers: intensities 1..5, an absent AU, AU25 left unjudged on face 2, no AU answer at all once."""
    if (face, person) == (3, 2):
        return None
    units = {"6": (face + person) % 6, "12": (face * 2 + person) % 6}
    if face != 2:
        units["25"] = person % 2
    return units


@pytest.fixture
def dims_version(make_project, make_items):
    """A VA + AU6/12/25 (with intensity) project of five faces, three annotators each, one answer corrected, a run
    whose per-face results carry the consensus, and the version frozen from it."""
    project, lead, people = make_project(annotators=3, name="Dimensions", valence_arousal=True)
    Project.objects.filter(pk=project.pk).update(action_units=list(AUS), au_intensity=True)
    project.refresh_from_db()
    items = make_items(project, len(CONSENSUS))
    for f, item in enumerate(items):
        for p, person in enumerate(people):
            Annotation.objects.create(project=project, item=item, annotator=person, label="happiness" if p < 2 else "neutral",
                                      valence=round(0.1 * f - 0.3 * p, 2), arousal=round(-0.2 * f + 0.1 * p, 2),
                                      action_units=_answer_units(f, p), seconds=1.5, client_id=uuid.uuid4())
    first = Annotation.objects.get(item=items[0], annotator=people[0])
    Annotation.objects.create(project=project, item=items[0], annotator=people[0], label="happiness", valence=0.9, arousal=0.8,
                              action_units={"6": 5, "12": 4, "25": 0}, replaces=first, client_id=uuid.uuid4())
    run = _run(project, items, CONSENSUS)
    version, _ = version_freeze(project=project, created_by=lead)
    return version, items, people, run


def _run(project, items, consensus) -> QualityRun:
    run = QualityRun.objects.create(project=project, annotation_watermark=Annotation.objects.aggregate(w=Max("id"))["w"],
                                    summary={"answers": 15, "items": len(items), "dimensions": SUMMARY_DIMENSIONS})
    QualityItemResult.objects.bulk_create([
        QualityItemResult(run=run, item=item, num_answers=3, votes={"happiness": 2, "neutral": 1}, consensus_label="happiness",
                          consensus_quality=0.8, valence=v, arousal=a, valence_spread=vs, arousal_spread=as_, action_units=units)
        for item, (v, a, vs, as_, units) in zip(items, consensus)])
    return run


def _expected_answers(item) -> list[tuple]:
    """The item's live answers as (label, valence, arousal, present per AU, intensity letter per AU), read from the DB."""
    rows = list(Annotation.objects.filter(item=item).order_by("id"))
    replaced = {a.replaces_id for a in rows if a.replaces_id}
    out = []
    for a in rows:
        if a.pk in replaced:
            continue
        units = a.action_units or {}
        present = {f"AU{au}": (None if str(au) not in units else int(units[str(au)] > 0)) for au in AUS}
        letters = {f"AU{au}": (LETTERS[units[str(au)] - 1] if units.get(str(au), 0) > 0 else None) for au in AUS}
        out.append((a.label, a.valence, a.arousal, present, letters))
    return sorted(out, key=repr)


def _expected_consensus(f: int) -> dict:
    v, a, vs, as_, units = CONSENSUS[f]
    probability = {f"AU{au}": (units or {}).get(str(au)) for au in AUS}
    return {"valence": v, "arousal": a, "valence_spread": vs, "arousal_spread": as_, "au_probability": probability,
            "au_present": {k: None if p is None else int(p >= 0.5) for k, p in probability.items()}}


def test_jsonl_carries_each_faces_consensus_and_every_annotators_answers(dims_version, build):
    version, items, people, _ = dims_version
    lines = {line["id"]: line for line in map(json.loads, build(version, "jsonl").read("data.jsonl").decode().splitlines())}
    assert sorted(lines) == [i.pk for i in items]
    pseudonyms = {}
    for f, item in enumerate(items):
        line = lines[item.pk]
        assert {k: line[k] for k in _expected_consensus(f)} == _expected_consensus(f)
        given = sorted(((a["label"], a["valence"], a["arousal"], a["au_present"], a["au_intensity"]) for a in line["answers"]),
                       key=repr)
        assert given == _expected_answers(item)
        for a in line["answers"]:
            assert a["annotator"].startswith("a") and a["annotator"][1:].isdigit()
            pseudonyms.setdefault(a["annotator"], set()).add(a["label"])
    assert len(pseudonyms) == len(people)  # one stable pseudonym per person, never a name
    assert lines[items[0].pk]["au_present"] == {"AU6": 1, "AU12": 1, "AU25": 0}
    assert lines[items[2].pk]["au_present"]["AU25"] is None
    # The correction (0.9) stands in for the answer it replaced (0.0): three answers, one per person.
    assert sorted(a["valence"] for a in lines[items[0].pk]["answers"]) == [-0.6, -0.3, 0.9]
    assert lines[items[3].pk]["answers"][2]["au_present"] == {"AU6": None, "AU12": None, "AU25": None}  # no AU answer


def test_parquet_declares_and_holds_the_consensus_and_answers(dims_version, build, tmp_path, monkeypatch):
    version, items, _, _ = dims_version
    build(version, "parquet").extractall(tmp_path)
    files = sorted((tmp_path / "data").iterdir())
    rows = {r["item_id"]: r for f in files for r in pq.read_table(f).to_pylist()}
    for f, item in enumerate(items):
        row, want = rows[item.pk], _expected_consensus(f)
        for name in ("valence", "arousal", "valence_spread", "arousal_spread"):
            assert row[name] == (None if want[name] is None else pytest.approx(want[name], abs=1e-6))
        assert row["au_present"] == want["au_present"]
        assert row["au_probability"] == {k: None if p is None else pytest.approx(p, abs=1e-6) for k, p in want["au_probability"].items()}
        given = sorted(((a["label"], None if a["valence"] is None else round(a["valence"], 4),
                         None if a["arousal"] is None else round(a["arousal"], 4), a["au_present"], a["au_intensity"])
                        for a in row["answers"]), key=repr)
        assert given == sorted(((lab, round(v, 4), round(ar, 4), p, i) for lab, v, ar, p, i in _expected_answers(item)), key=repr)

    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    loaded = datasets.load_dataset(str(tmp_path), cache_dir=str(tmp_path / "cache"))
    some = next(iter(loaded.values()))
    assert some.features["au_present"]["AU12"].dtype == "int8"
    assert some.features["answers"].feature["au_intensity"]["AU6"].dtype == "string"
    assert some[0]["answers"][0]["annotator"].startswith("a")


def test_label_studio_maps_valence_arousal_to_numbers_and_aus_to_choices_and_ratings(dims_version, build):
    version, items, _, _ = dims_version
    zf = build(version, "label-studio")
    config = ElementTree.fromstring(zf.read("label_config.xml"))
    controls = {c.get("name"): c for c in config.iter() if c.tag in ("Choices", "Number", "Rating")}
    shown_when = {v.find("Rating").get("name"): v.get("whenTagName") for v in config.iter("View") if v.find("Rating") is not None}
    assert controls["valence"].tag == controls["arousal"].tag == "Number"
    assert (controls["valence"].get("min"), controls["valence"].get("max")) == ("-1", "1")
    for au in AUS:
        assert {c.get("value") for c in controls[f"AU{au}"].iter("Choice")} == {"present", "absent"}
        assert controls[f"AU{au}_intensity"].tag == "Rating" and shown_when[f"AU{au}_intensity"] == f"AU{au}"
    kinds = {"Number": "number", "Choices": "choices", "Rating": "rating"}
    tasks = {t["data"]["ferlab_id"]: t for t in json.loads(zf.read("tasks.json"))}
    for f, item in enumerate(items):
        t = tasks[item.pk]
        assert {k: t["data"][k] for k in _expected_consensus(f)} == _expected_consensus(f)
        given = []
        for a in t["annotations"]:
            results = {r["from_name"]: r for r in a["result"]}
            assert all(r["type"] == kinds[controls[r["from_name"]].tag] for r in a["result"])
            value = lambda name, key: results[name]["value"][key] if name in results else None  # noqa: E731
            present = {f"AU{au}": None if f"AU{au}" not in results else int(value(f"AU{au}", "choices") == ["present"]) for au in AUS}
            letters = {f"AU{au}": None if f"AU{au}_intensity" not in results else LETTERS[value(f"AU{au}_intensity", "rating") - 1]
                       for au in AUS}
            given.append((value("expression", "choices")[0], value("valence", "number"), value("arousal", "number"), present, letters))
        assert sorted(given, key=repr) == _expected_answers(item)


def test_the_version_keeps_its_runs_consensus_when_a_later_run_differs(dims_version, build):
    version, items, _, _ = dims_version
    before = build(version, "jsonl").read("data.jsonl")
    _run(version.project, items, [(-0.9, -0.9, 0.5, 0.5, {"6": 0.0, "12": 0.0, "25": 0.0})] * len(items))
    default_storage.delete(Export.objects.get(version=version, format="jsonl").file)  # built again from scratch
    assert build(version, "jsonl").read("data.jsonl") == before


def test_imagefolder_adds_consensus_columns_and_the_card_says_where_everything_is(dims_version, build):
    version, items, _, _ = dims_version
    zf = build(version, "imagefolder")
    rows = {int(r["item_id"]): r for r in csv.DictReader(io.StringIO(zf.read("labels.csv").decode()))}
    first = rows[items[0].pk]
    assert (first["valence"], first["arousal_spread"], first["AU6_probability"], first["AU25_present"]) == ("0.61", "0.2", "0.93", "0")
    assert rows[items[4].pk]["valence"] == "" and rows[items[2].pk]["AU25_present"] == ""
    assert "answers" not in first
    card = zf.read("DATA_CARD.md").decode()
    assert "## Valence-arousal and action units" in card
    assert "3 FACS action units (AU6, AU12, AU25)" in card and "with its intensity A-E" in card
    assert "| valence | all | 0.712 | 0.688 | 4 | 12 | thin evidence |" in card
    assert "| AU12 | Lip corner puller |" in card and "| 0.810 | 0.500 | 0.900 | not computable | 5 | 15 | thin evidence |" in card
    assert "| AU25 |" in card and "not measured" in card
    assert "valence-arousal for 4 and action units for 4 of the version's faces" in card
    assert "`fer2013-csv` and `ferplus-csv`" in card and "left out" in card and "au disputed 2" in card
    fer = build(version, "fer2013-csv").read("fer2013.csv").decode().splitlines()[0]
    assert fer == "emotion,pixels,Usage"


def test_a_project_without_dimensions_keeps_its_pre_dimension_files(make_project, make_items, build):
    project, lead, people = make_project(annotators=2, name="Classes only")
    items = make_items(project, 3)
    for item in items:
        for person in people:
            Annotation.objects.create(project=project, item=item, annotator=person, label="happiness", client_id=uuid.uuid4())
    run = QualityRun.objects.create(project=project, annotation_watermark=Annotation.objects.aggregate(w=Max("id"))["w"])
    QualityItemResult.objects.bulk_create([QualityItemResult(run=run, item=i, num_answers=2, votes={"happiness": 2},
                                                             consensus_label="happiness", consensus_quality=0.9) for i in items])
    version, _ = version_freeze(project=project)
    line = json.loads(build(version, "jsonl").read("data.jsonl").decode().splitlines()[0])
    assert set(line) == {"id", "image", "split", "label", "label_source", "soft_label", "votes", "num_answers", "quality",
                         "label_issue", "label_score", "model_label", "model_confidence", "flags", "reference_label",
                         "duplicate_group", "content_hash"}
    zf = build(version, "parquet")
    names = [n for n in zf.namelist() if n.endswith(".parquet")]
    columns = pq.read_table(io.BytesIO(zf.read(names[0]))).column_names
    assert columns[-1] == "content_hash" and not {"valence", "au_present", "answers"} & set(columns)
    ls = build(version, "label-studio")
    assert b"<Number" not in ls.read("label_config.xml") and b"Valence-arousal" not in ls.read("DATA_CARD.md")
    assert {r["type"] for t in json.loads(ls.read("tasks.json")) for a in t["annotations"] for r in a["result"]} == {"choices"}
    header = build(version, "imagefolder").read("labels.csv").decode().splitlines()[0]
    assert header.endswith(",duplicate_group,content_hash")


# --- through a real quality run -------------------------------------------------------------------------------


def test_a_version_frozen_from_a_real_run_exports_that_runs_consensus_and_agreement(crowd, analyse, build):
    project, people, items = crowd
    run = analyse(project)
    version, _ = version_freeze(project=project)
    assert version.quality_run_id == run.pk
    lines = {line["id"]: line for line in map(json.loads, build(version, "jsonl").read("data.jsonl").decode().splitlines())}
    results = {r.item_id: r for r in QualityItemResult.objects.filter(run=run)}
    for item in items:
        line, result = lines[item.pk], results[item.pk]
        assert (line["valence"], line["arousal"], line["valence_spread"]) == (result.valence, result.arousal, result.valence_spread)
        assert line["au_probability"] == {f"AU{au}": result.action_units[str(au)] for au in project.action_units}
        assert sorted(a["valence"] for a in line["answers"]) == sorted(
            Annotation.objects.filter(item=item).values_list("valence", flat=True))
        assert "au_intensity" not in line["answers"][0]  # a presence-only project
    assert lines[items[NO_SMILE].pk]["au_present"]["AU12"] == 0 and lines[items[3].pk]["au_present"]["AU12"] == 1
    dims = run.summary["dimensions"]
    card = version.data_card
    assert f"| valence | all | {dims['valence']['alpha']:.3f} | {dims['valence']['icc']:.3f} | 30 | 120 | thin evidence |" in card
    assert f"| AU12 | Lip corner puller | pulls the lip corners up and back (the smile) | {dims['action_units']['per_au']['12']['alpha']:.3f} |" in card
    assert "intensity alpha" not in card and "expression vs au 1" in card
    config = build(version, "label-studio").read("label_config.xml").decode()
    assert "<Rating" not in config and config.count('<Choice value="present"/>') == len(project.action_units)
