"""The authorization matrix's expected statuses, written once per endpoint and method (used by
tests/server/test_authorization_matrix.py).

Roles: anonymous (no session), outsider (signed in, in no project), annotator and lead (of the seeded project),
other (the lead of another project). Path parameters are filled by name from the seeded world
(tests/server/authz_seed.py: project_id is the seeded project, item_id a face the annotator answered, ...); a row's
`params` points a parameter at another seeded object ("item_id": "unseen_item_id"). A key "name @ note" is a further
row for the same URL over other objects. In bodies and queries, "@name" is the seeded id of that name.

The policy these rows record (annotate/access.py): the API answers anonymous callers 401 and pages send them to sign
in (302); a project's objects are 404 to anyone outside it, so ids do not leak; inside it, lead-only work is 403 to
annotators; an annotator reaches only their own answers and leases and the faces leased to or answered by them.

A new endpoint: run the matrix, paste the row its failure prints, and check each status against that policy (the
printed row is what the code answers today, holes included). A write's lead status is best a 2xx with a body that
the seeded world accepts; every cell is rolled back. HEAD is not called (Django serves it with GET's view); OPTIONS is
called on every API view with the one expectation below; the admin site is summarised by two rows.
"""
from dataclasses import dataclass
from typing import Callable

ADMIN_NAMESPACE = "admin"


@dataclass(frozen=True)
class Expect:
    """The status each role gets, and what the request carries."""

    anonymous: int
    outsider: int
    annotator: int
    lead: int
    other: int
    body: dict | None = None  # JSON body ("@name" values are seeded ids)
    query: dict | None = None  # query string
    upload: Callable | None = None  # a multipart POST with this file (called per cell: a file reads once)


class Row(dict):
    """{method: Expect} for one endpoint, with `params` naming which seeded objects fill its path."""

    def __init__(self, params: dict | None = None, **methods: Expect):
        super().__init__(methods)
        self.params = params or {}


def lead_only(status: int = 200, **request) -> Expect:
    """The project's leads: annotators 403, anyone outside the project 404, anonymous 401."""
    return Expect(401, 404, 403, status, 404, **request)


def member(status: int = 200, **request) -> Expect:
    """Any member of the project in any role; outsiders 404."""
    return Expect(401, 404, status, status, 404, **request)


def lead_page(status: int = 200) -> Expect:
    """A lead's page: anonymous sent to sign in, annotators 403, outsiders 404 (as pages)."""
    return Expect(302, 404, 403, status, 404)


def anyone(status: int, **request) -> Expect:
    return Expect(status, status, status, status, status, **request)


def anyone_signed_in(status: int, **request) -> Expect:
    """Any signed-in user (the API's 401 for anonymous callers)."""
    return Expect(401, status, status, status, status, **request)


# DRF answers OPTIONS on every API view with the view's description, the same for any id: signed-in users only.
OPTIONS = Expect(401, 200, 200, 200, 200)


def tiny_png():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.server.authz_seed import png_bytes

    return SimpleUploadedFile("face.png", png_bytes(7), content_type="image/png")


ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

TABLE: dict[str, Row] = {
    # Schema, docs, health -----------------------------------------------------------------------------------
    "api-schema": Row(GET=Expect(401, 200, 200, 200, 200)),
    "api-docs": Row(GET=Expect(302, 200, 200, 200, 200), OPTIONS=Expect(302, 405, 405, 405, 405)),
    "healthz": Row(GET=anyone(200)),
    "api-not-found": Row(**{m: anyone(404) for m in ALL_METHODS}),
    # Projects and members -----------------------------------------------------------------------------------
    "api-projects": Row(GET=Expect(401, 200, 200, 200, 200),
                        POST=Expect(401, 403, 403, 403, 403, body={"name": "Made by the matrix"})),  # staff only
    "api-project": Row(GET=member(), PATCH=lead_only(200, body={"description": "Set by the matrix"})),
    "api-project @ an id past 64 bits": Row(params={"project_id": "id_past_64_bits"}, GET=anyone_signed_in(404)),
    "api-annotations @ a project id past 64 bits": Row(GET=anyone_signed_in(404, query={"project": "@id_past_64_bits"})),
    "api-project-members": Row(GET=lead_only(),
                               POST=lead_only(200, body={"username": "@outsider_username", "role": "annotator"})),
    "api-member": Row(PATCH=lead_only(200, body={"paused": True}), DELETE=lead_only(200)),
    "api-member-accounts": Row(POST=lead_only(201, body={"username": "made-by-the-matrix"})),
    "api-invitations": Row(GET=lead_only(), POST=lead_only(201, body={"role": "annotator"})),
    "api-invitation": Row(DELETE=lead_only()),
    "api-project-settings-preview": Row(POST=lead_only(200, body={"description": "Previewed by the matrix"})),
    "api-project-audit-log": Row(GET=lead_only()),
    # The signed-in user's own API tokens: someone else's token id is 404.
    "api-tokens": Row(GET=anyone_signed_in(200), POST=anyone_signed_in(201, body={"name": "made by the matrix"})),
    "api-token": Row(DELETE=Expect(401, 404, 404, 200, 404)),
    # Faces: a lead sees every crop and original; an annotator only crops of faces leased to or answered by them.
    "api-item-image": Row(GET=member()),
    "api-item-image @ a face the annotator was never shown": Row(params={"item_id": "unseen_item_id"}, GET=Expect(401, 404, 404, 200, 404)),
    "api-item-image @ a face leased to the annotator": Row(params={"item_id": "leased_item_id"}, GET=member()),
    "api-item-image @ the original photo": Row(GET=lead_only(200, query={"kind": "original"})),
    "api-item-image @ the original of a face the annotator was never shown": Row(
        params={"item_id": "unseen_item_id"}, GET=Expect(401, 404, 404, 200, 404, query={"kind": "original"})),
    "api-item-image @ a face of another project": Row(params={"item_id": "other_item_id"}, GET=Expect(401, 404, 404, 404, 200)),
    # A signed link from the lease API needs no session: it is the holder's, checked when it is used.
    "item-image-signed": Row(params={"token": "face_token"}, GET=anyone(200)),
    "item-image-signed @ a forged token": Row(params={"token": "forged_token"}, GET=anyone(404)),
    # Jobs ----------------------------------------------------------------------------------------------------
    "api-job": Row(GET=lead_only()),
    "api-job @ a job of no project, the lead's own": Row(params={"job_id": "projectless_job_id"},
                                                        GET=Expect(401, 404, 404, 200, 404)),
    "api-job-cancel": Row(POST=lead_only(202)),
    "api-project-jobs": Row(GET=lead_only(), POST=lead_only(202, body={"kind": "analyse"})),
    "api-project-imports": Row(GET=lead_only(), POST=lead_only(202, upload=tiny_png)),
    "api-project-import": Row(params={"job_id": "import_job_id"}, GET=lead_only()),
    "api-project-import @ a job that is not an import": Row(GET=lead_only(404)),
    "api-project-import-entries": Row(params={"job_id": "import_job_id"}, GET=lead_only(query={"list": "skipped"})),
    # The seeded import reported no near duplicate, so the lead's 404 is the face's; the annotator's 403 is access.
    "api-project-import-exclude": Row(params={"job_id": "import_job_id"}, POST=lead_only(404)),
    "api-project-prelabel": Row(POST=lead_only(202)),
    # Quality runs and the audit dashboard's reads --------------------------------------------------------------
    "api-quality-runs": Row(GET=lead_only(), POST=lead_only(202, body={})),
    "api-quality-run": Row(GET=lead_only()),
    "api-quality-run-items": Row(GET=lead_only()),
    "api-quality-run-annotators": Row(GET=lead_only()),
    "api-overview": Row(GET=lead_only()),
    "api-answers-per-hour": Row(GET=lead_only()),
    "api-issues": Row(GET=lead_only()),
    "api-reviews": Row(POST=lead_only(201, body={"item": "@item_id", "action": "accept"})),
    "api-reviews @ a face of another project": Row(POST=lead_only(404, body={"item": "@other_item_id", "action": "accept"})),
    "api-item-reviews": Row(GET=lead_only()),
    "api-item-answers": Row(GET=lead_only()),
    "api-item-answers @ a face of another project": Row(params={"item_id": "other_item_id"}, GET=lead_only(404)),
    "api-annotators": Row(GET=lead_only()),
    "api-annotator-confusion": Row(GET=lead_only()),
    "api-annotator-confusion @ someone outside the project": Row(params={"user_id": "outsider_id"}, GET=lead_only(404)),
    "api-agreement": Row(GET=lead_only()),
    "api-issue-facets": Row(GET=lead_only()),
    # #18's dashboard reads: valence-arousal / action-unit figures, the scatter and a face's answers for its hover.
    "api-dimensions": Row(GET=lead_only()),
    "api-dimensions-scatter": Row(GET=lead_only()),
    "api-item-dimension-answers": Row(GET=lead_only()),
    "api-item-dimension-answers @ a face of another project": Row(params={"item_id": "other_item_id"}, GET=lead_only(404)),
    "api-annotator-dimensions": Row(GET=lead_only()),
    "api-item-gold": Row(PUT=lead_only(200, body={"label": "happiness"}), DELETE=lead_only()),
    "api-item-gold @ a face of another project": Row(params={"item_id": "other_item_id"},
                                                     PUT=lead_only(404, body={"label": "happiness"})),
    # A face made for this row alone: erasing deletes files, which no rollback brings back.
    "api-item-erase": Row(params={"item_id": "erasable_item_id"}, POST=lead_only(200, body={"reason": "matrix"})),
    "api-item-erase @ a face of another project": Row(params={"item_id": "other_item_id"}, POST=lead_only(404)),
    # Dataset versions and exports ----------------------------------------------------------------------------
    "api-project-versions": Row(GET=lead_only(), POST=lead_only(200, body={"name": "authz"})),  # the same policy: returned
    "api-project-version-preview": Row(POST=lead_only(200, body={})),
    "api-version": Row(GET=lead_only()),
    "api-version-diff": Row(GET=lead_only(200, query={"against": "@version_id"})),
    "api-version-exports": Row(GET=lead_only(), POST=lead_only(202, body={"format": "jsonl"})),
    # A signed link: no session needed while it lasts.
    "export-download": Row(params={"token": "download_token"}, GET=anyone(200)),
    "export-download @ a forged token": Row(params={"token": "forged_token"}, GET=anyone(403)),
    # Models --------------------------------------------------------------------------------------------------
    # The seeded version is too small to train on: the lead's 400 comes after access (annotators 403, others 404).
    "api-project-trainings": Row(POST=lead_only(400, body={"dataset_version": "@version_id", "epochs": 1})),
    "api-project-training-options": Row(GET=lead_only()),
    "api-project-models": Row(GET=lead_only()),
    "api-project-evaluation-set": Row(POST=lead_only(200, body={"kind": "split", "split": "PublicTest"})),
    "api-project-models-evaluate": Row(POST=lead_only(202)),
    "api-project-models-rollback": Row(POST=lead_only(400)),  # nothing was promoted: access passed, the request did not
    # Neither version was scored on the evaluation set: 400 after access.
    "api-project-models-compare": Row(GET=lead_only(400, query={"a": "@model_version_id", "b": "@model_version_id"})),
    "api-project-model-promote": Row(POST=lead_only(200)),
    "api-project-model-promote @ another project's model": Row(params={"model_version_id": "other_model_version_id"},
                                                                POST=lead_only(404)),
    "api-model-version-download": Row(GET=lead_only()),
    # The shipped model (no project): any project's lead may download it; people who lead nothing may not.
    "api-model-version-download @ the shipped model": Row(params={"model_version_id": "shipped_model_version_id"},
                                                           GET=Expect(401, 404, 404, 200, 200)),
    # An annotator's work: their own leases and answers only ---------------------------------------------------
    "api-next": Row(POST=member(200, body={"count": 1})),
    "api-annotations": Row(GET=Expect(401, 200, 200, 200, 200),  # the caller's own answers, anywhere
                           POST=Expect(401, 404, 201, 404, 404, body={"assignment": "@assignment_id", "label": "happiness",
                                                                      "client_id": "@assignment_client_id"})),
    # A correction (undo) of someone else's answer: it is not the caller's, whoever they are.
    "api-annotations @ correcting another annotator's answer": Row(POST=anyone_signed_in(404, body={
        "replaces": "@others_client_id", "label": "fear", "client_id": "@correction_client_id"})),
    "api-annotations @ filtered by a project": Row(GET=member(200, query={"project": "@project_id"})),
    "api-annotation": Row(GET=Expect(401, 404, 200, 404, 404)),
    "api-annotation @ another annotator's answer": Row(params={"annotation_id": "others_annotation_id"}, GET=anyone_signed_in(404)),
    "api-assignments": Row(GET=member(200, query={"project": "@project_id"})),
    "api-assignment-skip": Row(POST=Expect(401, 404, 200, 404, 404)),
    "api-stats-me": Row(GET=member()),
    "api-stats-annotator": Row(GET=lead_only()),
    "api-stats-annotator @ someone outside the project": Row(params={"user_id": "outsider_id"}, GET=lead_only(404)),
    # Pages ---------------------------------------------------------------------------------------------------
    "home": Row(GET=Expect(302, 200, 200, 200, 200)),
    "login": Row(GET=Expect(200, 302, 302, 302, 302), POST=Expect(200, 302, 302, 302, 302),
                 PUT=Expect(200, 302, 302, 302, 302)),  # Django's FormView treats PUT as POST
    "logout": Row(POST=anyone(302)),
    "label": Row(GET=Expect(302, 404, 200, 200, 404)),
    "project-overview": Row(GET=lead_page()),
    "project-issues": Row(GET=lead_page()),
    "project-annotators": Row(GET=lead_page()),
    "project-agreement": Row(GET=lead_page()),
    "project-jobs": Row(GET=lead_page()),
    "project-versions": Row(GET=lead_page()),
    "project-version": Row(GET=lead_page()),
    "project-version-diff": Row(GET=lead_page()),
    "project-models": Row(GET=lead_page()),
    "project-models-compare": Row(GET=lead_page()),
    "project-overview @ an id past 64 bits": Row(params={"project_id": "id_past_64_bits"}, GET=Expect(302, 404, 404, 404, 404)),
    "project-settings": Row(GET=lead_page()),
    "project-audit-log": Row(GET=lead_page()),
    "project-upload": Row(GET=lead_page()),
    "project-people": Row(GET=lead_page()),
    "project-new": Row(GET=Expect(302, 403, 403, 403, 403)),  # staff only
    "account-tokens": Row(GET=Expect(302, 200, 200, 200, 200)),
    "password-set": Row(GET=Expect(302, 200, 200, 200, 200), POST=Expect(302, 400, 400, 400, 400)),  # empty form: 400
    # An invitation link is its own credential: anyone holding it sees the page; a signed-in holder joins (302 to
    # the project), a new person gets the sign-up form back with its errors (400 for an empty form).
    "invitation-accept": Row(params={"token": "invitation_token"}, GET=anyone(200), POST=Expect(400, 302, 302, 302, 302)),
    "invitation-accept @ a forged token": Row(params={"token": "forged_token"}, GET=anyone(404)),
    # The admin site, summarised: staff only, everyone else is sent to its sign-in page.
    "admin:index": Row(GET=anyone(302)),
    "admin:annotate_project_changelist": Row(GET=anyone(302)),
}
