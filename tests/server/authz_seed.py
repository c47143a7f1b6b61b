"""The authorization matrix's world (no tests here): one seeded project with an object of every kind a URL names,
a second project led by someone else, and a signed-in client per role."""
import hashlib
import io
import uuid
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from django.utils import timezone
from PIL import Image

from annotate.downloads import export_download_link
from annotate.models import (
    Annotation, Export, ExportFormat, Job, JobKind, JobStatus, ModelVersion,
)
from annotate.services.invitations import invitation_create
from annotate.services.tokens import api_token_create
from annotate.services.versions import version_freeze
from tests.annotate.audit_seed import seed_audit

ROLES = ("anonymous", "outsider", "annotator", "lead", "other")


@dataclass
class World:
    """Everything a cell may name: `ids` fills URL parameters and bodies by fixture name, `users` the roles."""

    users: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)
    project: object = None


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (48, 48), color=seed % 256).save(buffer, format="PNG")
    return buffer.getvalue()


def world_seed(*, make_project, make_items, make_user) -> World:
    """The project: a lead, the annotator whose view is tested, two more annotators; 10 faces with answers and a
    finished quality run, a live lease of the annotator, a frozen version with a finished export, a model version
    with its checkpoint, a job. The annotator answered some faces and not others, so "their" face and "someone
    else's" both exist. `other` leads a second project of their own; `outsider` belongs to no project."""
    project, lead, (annotator, second, third) = make_project(annotators=3)
    items = make_items(project, 10, split="PublicTest")
    run = seed_audit(project, [second, third], items[:8], answers_per_item=2, seed=3)
    # The annotator's lease and answer come from the API itself (so the signed image link is the one the labelling
    # page gets): one face answered, one leased and open.
    client = Client()
    client.force_login(annotator)
    next_url = f"/api/projects/{project.pk}/next/"
    answered = client.post(next_url, {"count": 1}, content_type="application/json").json()["assignments"][0]
    submit = {"assignment": answered["assignment"], "label": "neutral", "client_id": str(uuid.uuid4())}
    own = client.post("/api/annotations/", submit, content_type="application/json").json()
    lease = client.post(next_url, {"count": 1, "holding": []}, content_type="application/json").json()["assignments"][0]
    signed = lease["image"]
    others = Annotation.objects.filter(project=project, annotator=second).order_by("pk").first()
    seen = {answered["item"], lease["item"]}
    unseen = next(i for i in items if i.pk not in seen)

    version, _ = version_freeze(project=project, policy={}, name="authz", created_by=lead)
    export_file = default_storage.save(f"exports/authz-{uuid.uuid4().hex[:8]}.zip", ContentFile(b"PK\x05\x06" + b"\0" * 18))
    digest = hashlib.sha256(default_storage.open(export_file).read()).hexdigest()
    export = Export.objects.create(version=version, format=ExportFormat.values[0], file=export_file, size=22, sha256=digest,
                                   finished_at=timezone.now())
    download, _ = export_download_link(export_id=export.pk, sha256=digest)

    checkpoint = default_storage.save(f"models/authz-{uuid.uuid4().hex[:8]}.pt", ContentFile(b"not a real checkpoint"))
    model = ModelVersion.objects.create(name=f"authz-{uuid.uuid4().hex[:8]}", project=project, checkpoint=checkpoint,
                                        classes=list(project.labels), dataset_version=version)
    # An import that ran (its task runs on commit, which a test's transaction never reaches: run it here).
    uploader = Client()
    uploader.force_login(lead)
    with TestCase.captureOnCommitCallbacks(execute=True):
        upload = SimpleUploadedFile("face.png", png_bytes(200), content_type="image/png")
        imported = uploader.post(f"/api/projects/{project.pk}/imports/", {"file": upload, "cropped": True})
    assert imported.status_code == 202, imported.content

    # Queued (never sent: it is made here, not enqueued), so a lead's cancel is accepted.
    job = Job.objects.create(project=project, kind=JobKind.EXPORT, status=JobStatus.QUEUED, created_by=lead)
    own_job = Job.objects.create(project=None, kind=JobKind.PING, status=JobStatus.SUCCEEDED, created_by=lead)
    shipped = ModelVersion.objects.create(name=f"authz-shipped-{uuid.uuid4().hex[:8]}", checkpoint=checkpoint,
                                          classes=list(project.labels), config={"source": "the matrix"})

    # Made after the freeze, so erasing it (files leave storage, which no rollback restores) touches no export.
    erasable = make_items(project, 1)[0]
    token, _ = api_token_create(user=lead, name="authz")
    invitation, invitation_token = invitation_create(project=project, actor=lead)

    other_project, other_lead, _ = make_project(annotators=0)
    other_item = make_items(other_project, 1)[0]
    other_model = ModelVersion.objects.create(name=f"authz-{uuid.uuid4().hex[:8]}", project=other_project,
                                              checkpoint=checkpoint, classes=list(other_project.labels))
    outsider = make_user()
    return World(
        project=project,
        users={"outsider": outsider, "annotator": annotator, "lead": lead, "other": other_lead},
        ids={
            "project_id": project.pk, "other_project_id": other_project.pk,
            "item_id": own["item"], "unseen_item_id": unseen.pk, "leased_item_id": lease["item"],
            "import_job_id": imported.json()["id"], "run_id": run.pk, "version_id": version.pk, "job_id": job.pk, "projectless_job_id": own_job.pk, "shipped_model_version_id": shipped.pk, "model_version_id": model.pk,
            "annotation_id": own["id"], "others_annotation_id": others.pk,
            "others_client_id": str(others.client_id), "correction_client_id": str(uuid.uuid4()),
            "assignment_id": lease["assignment"], "assignment_client_id": str(uuid.uuid4()),
            "other_item_id": other_item.pk, "other_model_version_id": other_model.pk, "outsider_id": outsider.pk,
            "erasable_item_id": erasable.pk, "token_id": token.pk, "invitation_id": invitation.pk,
            "invitation_token": invitation_token,
            "user_id": annotator.pk, "second_user_id": second.pk, "annotator_username": annotator.username,
            "outsider_username": outsider.username,
            "face_token": signed.rsplit("/", 1)[-1], "download_token": download.rsplit("/", 1)[-1],
            "rest": "no-such-endpoint/", "id_past_64_bits": 2**64, "forged_token": "not-a-signed-token",
        },
    )
