"""Pre-labelling: every item scored once per model version, in batches, and the default model version."""
import numpy as np

from annotate.models import JobStatus, ModelVersion, Prediction
from annotate.services.model_versions import model_version_ensure_default
from annotate.services.prelabel import predictions_create
from tests.annotate.quality_support import model_version_make, tiny_checkpoint


def test_items_are_scored_once_in_batches(make_project, make_items, tmp_path):
    project, lead, people = make_project()
    items = make_items(project, 7)
    version = model_version_make(checkpoint=tiny_checkpoint(tmp_path / "tiny.pt"))
    assert predictions_create(project=project, model_version=version, batch_size=3) == 7
    rows = list(Prediction.objects.filter(model_version=version).order_by("item_id"))
    assert [p.item_id for p in rows] == [i.pk for i in items]
    assert all(len(p.probs) == 8 and abs(sum(p.probs) - 1) < 1e-4 for p in rows)
    assert all(p.label == version.classes[int(np.argmax(p.probs))] for p in rows)
    make_items(project, 2)
    assert predictions_create(project=project, model_version=version) == 2  # only the new ones
    assert predictions_create(project=project, model_version=version) == 0


def test_the_shipped_model_becomes_the_active_version_on_first_use(db, settings, tmp_path):
    settings.FERLAB_MODEL_PATH = tiny_checkpoint(tmp_path / "shipped.pt")
    version = model_version_ensure_default()
    assert version.is_active and version.checkpoint == settings.FERLAB_MODEL_PATH and len(version.sha256) == 64
    assert version.config["trained_on_splits"] == ["Training"] and len(version.classes) == 8
    assert model_version_ensure_default() == version and ModelVersion.objects.count() == 1


def test_new_shipped_weights_become_a_new_active_version(db, settings, tmp_path):
    """A release that replaces the shipped file must not file new predictions under the old weights."""
    import torch

    settings.FERLAB_MODEL_PATH = tiny_checkpoint(tmp_path / "shipped.pt")
    first = model_version_ensure_default()
    ckpt = torch.load(settings.FERLAB_MODEL_PATH, weights_only=False)
    ckpt["weights"]["head.bias"] += 1.0
    torch.save(ckpt, settings.FERLAB_MODEL_PATH)
    second = model_version_ensure_default()
    first.refresh_from_db()
    assert second.pk != first.pk and second.is_active and not first.is_active
    assert second.sha256 != first.sha256 and second.checkpoint == first.checkpoint
    assert model_version_ensure_default() == second and ModelVersion.objects.count() == 2
    # A version a lead made active is theirs to replace, whatever happens to the shipped file.
    ModelVersion.objects.filter(pk=second.pk).update(is_active=False)
    promoted = model_version_make(checkpoint=str(tmp_path / "retrained.pt"))
    ckpt["weights"]["head.bias"] += 1.0
    torch.save(ckpt, settings.FERLAB_MODEL_PATH)
    assert model_version_ensure_default() == promoted and ModelVersion.objects.count() == 3


def test_leads_start_prelabel_over_the_api(make_project, make_items, api_client, settings, tmp_path,
                                           django_capture_on_commit_callbacks):
    settings.FERLAB_MODEL_PATH = tiny_checkpoint(tmp_path / "shipped.pt")
    project, lead, people = make_project()
    make_items(project, 5)
    api_client.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.pk}/prelabel/")
    assert response.status_code == 202
    job = api_client.get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == JobStatus.SUCCEEDED and job["result"]["scored"] == 5 and job["progress_done"] == 5, job
    assert Prediction.objects.filter(item__project=project).count() == 5
