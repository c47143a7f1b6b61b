"""Training jobs and the model registry, in process: a dataset version trains a model version, which is scored on
the project's evaluation set, compared, promoted and rolled back; bad input is refused before anything starts."""
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction

from annotate.exceptions import Conflict, NotFound, ValidationFailed
from annotate.models import (
    Item, Job, JobKind, JobStatus, ModelEvaluation, ModelPromotion, ModelVersion, Prediction, Project, QualityItemResult,
    QualityRun, Role,
)
from annotate.services.assignments import assignments_lease
from annotate.services.jobs import job_run_here
from annotate.services.projects import membership_set
from annotate.services import quality_inputs
from annotate.services.model_versions import model_version_active, model_version_ensure_default
from annotate.services.registry import (
    evaluation_for, evaluation_set_choose, model_version_promote, model_version_roll_back, registry_evaluate,
)
from annotate.services.training import checkpoint_path, training_start
from ml.config import CLASSES
from tests.annotate.training_support import evaluation_set_use, training_version

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"epochs": 2, "batch_size": 32}


@pytest.fixture
def trained(make_project, transactional_db):
    """A project with a three-way split version, PublicTest as its evaluation set, and one model trained on it."""
    project, lead, _ = make_project(annotators=0)
    version = training_version(project)
    evaluation_set_use(project)
    with transaction.atomic():
        job = training_start(project=project, version_id=version.pk, options=QUICK, created_by=lead)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    project.refresh_from_db()
    return project, lead, version, job


def test_a_version_trains_a_model_version_that_records_where_it_came_from(trained):
    project, lead, version, job = trained
    model = ModelVersion.objects.get(job=job)
    assert job.result["model_version"] == model.pk and model.project == project and model.dataset_version == version
    assert model.dataset_sha256 == version.sha256 and model.device == "cpu" and model.classes == list(CLASSES)
    assert model.machine["threads"] >= 1 and model.machine["torch"] and model.train_seconds > 0
    # Weights in storage, named by their own hash.
    assert model.checkpoint == f"models/{model.sha256}.pt" and default_storage.size(model.checkpoint) == model.size
    # Curves: one point per epoch, with validation on the PrivateTest split, and progress said so.
    assert [c["epoch"] for c in model.curves] == [1, 2] and all(0 <= c["val_accuracy"] <= 1 for c in model.curves)
    assert model.recipe["validation"] == "PrivateTest" and model.recipe["train_splits"] == ["Training"]
    assert job.progress_done == job.progress_total == 2 and job.result["curves"] == model.curves
    # Never a face of the evaluation set: the trained faces are exactly the Training split's.
    trained_ids = set(version.entries.filter(split="Training").values_list("item_id", flat=True))
    assert set(model.trained_items) == trained_ids and model.recipe["train_faces"] == len(trained_ids)
    assert not checkpoint_path(job).exists()  # the per-epoch checkpoint is gone once the version exists
    # Scored on the evaluation set at the end of the job.
    evaluation = evaluation_for(project=project, model_version=model)
    m = evaluation.metrics
    assert job.result["evaluation"] == m and m["n"] == m["n_total"] == version.entries.filter(split="PublicTest").count()
    assert m["excluded_trained"] == 0 and m["low_evidence"] is True and len(m["confusion"]) == len(CLASSES)
    assert 0 <= m["accuracy_final"] <= 1 and m["n_majority"] > 0


def test_faces_a_model_trained_on_are_left_out_of_its_score_and_counted(trained):
    project, lead, version, job = trained
    model = ModelVersion.objects.get(job=job)
    # Move the evaluation set onto the training faces: every one of them is then excluded for this model ...
    evaluation_set_use(project, split="Training")
    registry_evaluate(project=project)
    project.refresh_from_db()
    m = evaluation_for(project=project, model_version=model).metrics
    assert m["excluded_trained"] == m["n_total"] > 0 and m["n"] == 0 and m["accuracy_final"] is None
    # ... and for the shipped model, which trained on FER2013's Training split.
    shipped = evaluation_for(project=project, model_version=model_version_ensure_default()).metrics
    assert shipped["excluded_trained"] == shipped["n_total"]
    # A near duplicate of a training face (perceptual hashes one bit apart) put into PublicTest is left out too.

    Item.objects.filter(pk=model.trained_items[0]).update(perceptual_hash=0x5A5A5A5A5A5A5A5A)
    Item.objects.filter(pk=Item.objects.filter(project=project, split="PublicTest").first().pk).update(perceptual_hash=0x5A5A5A5A5A5A5A5B)
    evaluation_set_use(project, split="PublicTest")
    ModelEvaluation.objects.filter(model_version=model).delete()  # the same truth would reuse the score made before
    registry_evaluate(project=project)
    project.refresh_from_db()
    assert evaluation_for(project=project, model_version=model).metrics["excluded_trained"] == 1


def test_the_download_holds_a_checkpoint_ml_predict_loads_without_django_and_a_model_card(trained, api_client, tmp_path):
    project, lead, version, job = trained
    model = ModelVersion.objects.get(job=job)
    api_client.force_authenticate(lead)
    response = api_client.get(f"/api/model-versions/{model.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        card = archive.read("MODEL_CARD.md").decode()
        (tmp_path / "checkpoint.pt").write_bytes(archive.read("checkpoint.pt"))
    assert version.sha256 in card and model.sha256 in card and "accuracy against the vote majority" in card
    assert "Thin evidence" in card and "Out of scope" in card
    script = ("import sys, numpy as np; from ml.predict import Predictor; p = Predictor(sys.argv[1]); "
              "assert 'django' not in sys.modules; print(p.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "checkpoint.pt")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "(2, 8)", out.stderr


def test_bad_trainings_are_refused_before_a_job_exists(make_project, transactional_db):
    project, lead, _ = make_project(annotators=0)
    other, _, _ = make_project(annotators=0)
    version = training_version(project)
    tiny = training_version(other, faces=30)
    before = Job.objects.count()
    with pytest.raises(NotFound):
        training_start(project=project, version_id=tiny.pk, options={})
    with pytest.raises(ValidationFailed) as few:
        training_start(project=other, version_id=tiny.pk, options={})
    assert few.value.code == "too_few_faces" and "Too few faces" in few.value.message
    for bad in ({"epochs": 0}, {"epochs": 2.5}, {"lr": 5}, {"batch_size": "big"}, {"targets": "fuzzy"}, {"device": "tpu"},
                {"colour": 1}, {"augment": "yes"}):
        with pytest.raises(ValidationFailed):
            training_start(project=project, version_id=version.pk, options=bad)
    assert Job.objects.count() == before
    Job.objects.create(project=project, kind=JobKind.TRAIN, status=JobStatus.RUNNING, params={"dataset_version": version.pk})
    with pytest.raises(Conflict) as busy:
        training_start(project=project, version_id=version.pk, options=QUICK)
    assert busy.value.code == "already_training" and Job.objects.count() == before + 1


def test_the_trainings_api_checks_who_and_what(make_project, api_client, transactional_db):
    project, lead, people = make_project(annotators=1)
    other, other_lead, _ = make_project(annotators=0)
    version = training_version(project)
    api_client.force_authenticate(people[0])
    assert api_client.post(f"/api/projects/{project.pk}/trainings/", {"dataset_version": version.pk}, format="json").status_code == 403
    api_client.force_authenticate(other_lead)
    assert api_client.post(f"/api/projects/{project.pk}/trainings/", {"dataset_version": version.pk}, format="json").status_code == 404
    assert api_client.post(f"/api/projects/{other.pk}/trainings/", {"dataset_version": version.pk}, format="json").status_code == 404
    api_client.force_authenticate(lead)
    options = api_client.get(f"/api/projects/{project.pk}/trainings/options/").json()
    assert options["defaults"]["epochs"] == 60 and options["finetune_defaults"]["epochs"] == 5
    bad = api_client.post(f"/api/projects/{project.pk}/trainings/", {"dataset_version": version.pk, "epochs": 500}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "option_out_of_range"
    ok = api_client.post(f"/api/projects/{project.pk}/trainings/", {"dataset_version": version.pk, **QUICK, "targets": "hard"},
                         format="json")
    assert ok.status_code == 202 and ok.json()["kind"] == "train" and ok.json()["status"] == "succeeded"
    assert ModelVersion.objects.get(job_id=ok.json()["id"]).recipe["targets"] == "hard"


def test_registry_compare_promote_and_roll_back(trained, api_client, monkeypatch, make_user):
    project, lead, version, job = trained
    model = ModelVersion.objects.get(job=job)
    shipped = model_version_ensure_default()
    api_client.force_authenticate(lead)
    registry = api_client.get(f"/api/projects/{project.pk}/models/").json()
    assert registry["active"] == shipped.pk and [r["id"] for r in registry["results"]] == [model.pk, shipped.pk]
    assert all(r["evaluation_state"] == "current" for r in registry["results"])  # the training scored both
    assert registry["evaluation_set"]["split"] == "PublicTest" and not registry["can_roll_back"]
    compare = api_client.get(f"/api/projects/{project.pk}/models/compare/?a={shipped.pk}&b={model.pk}").json()
    assert [c["class"] for c in compare["per_class"]] == list(CLASSES) and compare["disagreements"]["count"] > 0
    face = compare["disagreements"]["items"][0]
    assert face["a_label"] != face["b_label"] and api_client.get(face["image_url"]).status_code == 200

    monkeypatch.setattr(quality_inputs, "CROSSVAL_MIN_ITEMS", 50)
    monkeypatch.setattr(quality_inputs, "CROSSVAL_FOLDS", 2)
    monkeypatch.setattr(quality_inputs, "CROSSVAL_BUDGET_S", 3.0)
    # The queue before: a quality run with the shipped model ordered it (every face wants more answers).
    Project.objects.filter(pk=project.pk).update(overlap_target=20)
    assert job_run_here(kind=JobKind.ANALYSE, project=project).status == JobStatus.SUCCEEDED
    queue = Item.objects.filter(project=project).order_by("-priority", "id")
    before = list(queue.values_list("id", flat=True))
    promoted = api_client.post(f"/api/projects/{project.pk}/models/{model.pk}/promote/").json()
    project.refresh_from_db()
    assert promoted["active"] == model.pk and model_version_active(project=project) == model
    prelabel = Job.objects.get(pk=promoted["prelabel_job"])
    assert prelabel.status == JobStatus.SUCCEEDED and prelabel.result["scored"] == project.items.count()
    assert Prediction.objects.filter(model_version=model).count() == project.items.count()
    run = QualityRun.objects.get(job_id=prelabel.result["quality_job"])
    assert run.model_version == model
    # The faces it trained on got cross-validated probabilities; the others its own, held out.
    sources = dict(QualityItemResult.objects.filter(run=run).values_list("item_id", "probability_source"))
    assert {sources[i] for i in model.trained_items} == {"crossval"}
    assert {s for i, s in sources.items() if i not in set(model.trained_items)} == {"held-out"}
    assert run.summary["probability_source"]["crossval_items"] == len(model.trained_items)
    # ... and the new model's ActiveLab priorities reorder the annotators' queue: the next lease is its first face.
    after = list(queue.values_list("id", flat=True))
    assert after != before
    annotator = make_user()
    membership = membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    assert assignments_lease(membership=membership).assignments[0].item_id == after[0]

    again = api_client.post(f"/api/projects/{project.pk}/models/{model.pk}/promote/")
    assert again.status_code == 400 and again.json()["error"]["code"] == "already_active"
    back = api_client.post(f"/api/projects/{project.pk}/models/rollback/").json()
    project.refresh_from_db()
    assert back["active"] == shipped.pk and project.model_version_id is None
    assert list(ModelPromotion.objects.filter(project=project).order_by("id").values_list("action", flat=True)) == ["promote", "rollback"]
    nothing = api_client.post(f"/api/projects/{project.pk}/models/rollback/")
    assert nothing.status_code == 400 and nothing.json()["error"]["code"] == "nothing_to_roll_back"


def test_a_model_whose_classes_the_project_lacks_is_not_promoted(trained, make_project):
    project, lead, version, job = trained
    model = ModelVersion.objects.get(job=job)
    project.labels = [c for c in project.labels if c != "contempt"]
    project.save(update_fields=["labels"])
    with pytest.raises(ValidationFailed) as refused:
        model_version_promote(project=project, model_version=model)
    assert refused.value.code == "model_classes" and "contempt" in refused.value.message
    other, _, _ = make_project(annotators=0)
    with pytest.raises(ValidationFailed) as foreign:
        model_version_promote(project=other, model_version=model)
    assert foreign.value.code == "other_project"


def test_choosing_the_evaluation_set_scores_every_version(trained, api_client):
    project, lead, version, job = trained
    api_client.force_authenticate(lead)
    response = api_client.post(f"/api/projects/{project.pk}/models/evaluation-set/", {"kind": "split", "split": "PrivateTest"},
                               format="json")
    assert response.status_code == 200 and response.json()["job"]["status"] == "succeeded"
    project.refresh_from_db()
    assert project.evaluation_set["split"] == "PrivateTest" and project.evaluation_set["items"] > 0
    assert ModelEvaluation.objects.filter(project=project, evaluation_sha256=project.evaluation_set["sha256"]).count() == 2
    empty = api_client.post(f"/api/projects/{project.pk}/models/evaluation-set/", {"kind": "gold"}, format="json")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_evaluation_set"
    project.refresh_from_db()
    assert project.evaluation_set["split"] == "PrivateTest"  # a refused choice changes nothing


def test_train_model_command_waits_and_prints_the_figures(make_project, transactional_db, capsys):
    project, lead, _ = make_project(annotators=0)
    version = training_version(project)
    evaluation_set_use(project)
    call_command("train_model", "--version", str(version.pk), "--epochs", "1", "--batch-size", "32", "--targets", "hard")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["dataset_version"] == version.pk and line["targets"] == "hard" and line["epochs_run"] == 1
    assert line["evaluation"]["n_total"] > 0 and "accuracy_majority" in line["evaluation"]
    assert ModelVersion.objects.get(pk=line["model_version"]).sha256 == line["sha256"]


def test_a_failed_training_leaves_no_model_version_and_no_checkpoint(make_project, transactional_db, monkeypatch):
    from annotate.services import training

    project, lead, _ = make_project(annotators=0)
    version = training_version(project, faces=120)

    def broken(**kwargs):
        raise RuntimeError("storage is full")

    monkeypatch.setattr(training, "_model_version_create", broken)
    with transaction.atomic():
        job = training_start(project=project, version_id=version.pk, options={"epochs": 2, "batch_size": 32})
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "storage is full" in job.error
    assert not ModelVersion.objects.filter(job=job).exists()
    assert not checkpoint_path(job).exists() and training.checkpoint_stored(job) == []
    assert not default_storage.exists("models") or default_storage.listdir("models")[1] == []
