"""Who may see and do what: every view and API goes through these checks, written once."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from annotate.exceptions import Forbidden, NotFound
from annotate.models import (
    Annotation, Assignment, DatasetVersion, Item, Job, JobKind, Membership, ModelVersion, Project, QualityRun, Role,
)
from server.rows import fetch_one, row_shape


ID_MAX = 2**63 - 1  # ids are 64-bit (BigAutoField); the URL and query converters take any whole number


def _membership_with_project(*, user_id: int, project_id: int) -> Membership | None:
    """One hand-written join (server.rows): this runs on every labelling request."""
    m, p = row_shape(Membership, alias="m"), row_shape(Project, alias="p")
    found = fetch_one(
        f"SELECT {m.select}, {p.select} FROM {Membership._meta.db_table} m "
        f"JOIN {Project._meta.db_table} p ON p.id = m.project_id WHERE m.project_id = %s AND m.user_id = %s",
        [project_id, user_id], m, p,
    )
    if found is None:
        return None
    membership, project = found
    Membership.project.field.set_cached_value(membership, project)
    return membership


def access_membership(*, user: AbstractBaseUser, project_id: int) -> Membership:
    """The user's membership of the project; NotFound when they are not a member (so ids do not leak)."""
    if not user.is_authenticated:
        raise Forbidden("Sign in first.", code="not_authenticated", status=401)
    if not 0 < project_id <= ID_MAX:  # the hand-written join's parameter must fit the id column (SQLite refuses more)
        raise NotFound("No such project.")
    membership = _membership_with_project(user_id=user.pk, project_id=project_id)
    if membership is None:
        if user.is_superuser and Project.objects.filter(pk=project_id).exists():
            return Membership(project=Project.objects.get(pk=project_id), user=user, role=Role.LEAD)
        raise NotFound("No such project.")
    return membership


def access_project_create(*, user: AbstractBaseUser) -> None:
    """Who may create projects: staff (the demo lead is staff). The creator becomes the project's first lead."""
    if not user.is_authenticated:
        raise Forbidden("Sign in first.", code="not_authenticated", status=401)
    if not user.is_staff:
        raise Forbidden("Only staff may create projects: ask an administrator to create it and make you its ML lead, "
                        "or to make you staff.", code="staff_only")


def may_create_projects(user: AbstractBaseUser) -> bool:
    """For pages: whether to offer "New project" (the same rule as access_project_create)."""
    try:
        access_project_create(user=user)
    except Forbidden:
        return False
    return True


def access_project(*, user: AbstractBaseUser, project_id: int) -> Project:
    """The project, if the user belongs to it in any role."""
    return access_membership(user=user, project_id=project_id).project


def access_membership_as_lead(*, user: AbstractBaseUser, project_id: int) -> Membership:
    """The user's lead membership of the project (a superuser's stand-in if they have none)."""
    membership = access_membership(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise Forbidden("Only the project's ML leads may do this.", code="lead_only")
    return membership


def access_project_as_lead(*, user: AbstractBaseUser, project_id: int) -> Project:
    """The project, if the user is one of its ML leads (or a superuser)."""
    return access_membership_as_lead(user=user, project_id=project_id).project


def access_face_link(*, user_id: int, membership_id: int, role: str) -> bool:
    """Whether a signed image link's holder may still use it: their membership (the one the link was made for:
    a removed and re-added member has a new one) still exists, and they are a lead now, or still the annotator
    the link was made for and not paused. A superuser's link (membership 0) holds while they are an active
    superuser. One primary-key lookup on one table, portable SQL: it runs on every face the labelling page shows
    (a join with the user table to check is_active cost half as much again; a deactivated account's links lapse
    with LINK_MAX_AGE, and its session and tokens end at once)."""
    if membership_id:
        sql = (f"SELECT 1 FROM {Membership._meta.db_table} m "
               "WHERE m.id = %s AND m.user_id = %s AND (m.role = %s OR (m.role = %s AND NOT m.paused))")
        params = [membership_id, user_id, Role.LEAD.value, role]
    else:
        users = get_user_model()._meta.db_table
        sql, params = f"SELECT 1 FROM {users} u WHERE u.id = %s AND u.is_active AND u.is_superuser", [user_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def access_item_image(*, user: AbstractBaseUser, item_id: int, original: bool) -> Item:
    """An item whose image the user may see: leads see every original and crop of their project; an annotator
    only the crops of faces leased to them or answered by them (an original can carry a whole scene and,
    before import stripped metadata, its GPS position). Others' faces are NotFound, so ids do not leak."""
    item = Item.objects.filter(pk=item_id).only("id", "project_id").first()
    if item is None:
        raise NotFound("No such item.")
    membership = access_membership(user=user, project_id=item.project_id)
    if membership.role != Role.LEAD:
        # Shown first: a 403 for the original of a face never shown would tell that the id is one of the project's.
        shown = (Assignment.objects.filter(item_id=item_id, annotator_id=user.pk).exists()
                 or Annotation.objects.filter(item_id=item_id, annotator_id=user.pk).exists())
        if not shown:
            raise NotFound("No such item.")
        if original:
            raise Forbidden("Only the project's ML leads may see original photos.", code="lead_only")
    return Item.objects.get(pk=item_id)


def access_item_in_project(*, project: Project, item_id: int) -> Item:
    """An item of a project the caller already has access to; NotFound for items of other projects."""
    item = Item.objects.filter(pk=item_id, project=project).only("id", "project_id").first()
    if item is None:
        raise NotFound("No such item in this project.")
    return item


def access_quality_run_in_project(*, project: Project, run_id: int) -> QualityRun:
    """A quality run of a project the caller already has access to; NotFound for runs of other projects."""
    run = QualityRun.objects.filter(pk=run_id, project=project).first()
    if run is None:
        raise NotFound("No such quality run in this project.")
    return run


def access_member_in_project(*, project: Project, user_id: int) -> Membership:
    """A member of a project the caller already has access to, with their user; NotFound for anyone else."""
    membership = Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


def access_job_as_lead(*, user: AbstractBaseUser, job_id: int) -> Job:
    """A job of a project the user leads; a job with no project only for its creator (or a superuser).

    Jobs of projects the user does not belong to are NotFound, so job ids do not leak.
    """
    from annotate.selectors.jobs import job_get

    job = job_get(job_id=job_id)
    if job.project_id is not None:
        access_project_as_lead(user=user, project_id=job.project_id)
    elif not user.is_authenticated:
        raise Forbidden("Sign in first.", code="not_authenticated", status=401)
    elif not (user.is_superuser or job.created_by_id == user.pk):
        raise NotFound("No such job.")
    return job


def access_import_in_project(*, project: Project, job_id: int) -> Job:
    """An import job of a project the caller already leads; other jobs and other projects' imports are NotFound."""
    job = Job.objects.filter(pk=job_id, project=project, kind=JobKind.IMPORT).select_related("created_by", "cancelled_by").first()
    if job is None:
        raise NotFound("No such import in this project.")
    return job


def access_version_as_lead(*, user: AbstractBaseUser, version_id: int) -> DatasetVersion:
    """A dataset version of a project the user leads; versions of other projects are NotFound."""
    version = DatasetVersion.objects.filter(pk=version_id).select_related("project", "created_by", "quality_run").first()
    if version is None:
        raise NotFound("No such dataset version.")
    access_project_as_lead(user=user, project_id=version.project_id)
    return version


def access_model_version_as_lead(*, user: AbstractBaseUser, model_version_id: int) -> tuple[ModelVersion, Project | None]:
    """A model version of a project the user leads, with that project; a shipped version (no project) for any lead,
    with the first project they lead (whose evaluation its card reports). Others' versions are NotFound."""
    version = ModelVersion.objects.filter(pk=model_version_id).select_related("project", "dataset_version").first()
    if version is None:
        raise NotFound("No such model version.")
    if version.project_id is not None:
        return version, access_project_as_lead(user=user, project_id=version.project_id)
    if not user.is_authenticated:
        raise Forbidden("Sign in first.", code="not_authenticated", status=401)
    led = Membership.objects.filter(user=user, role=Role.LEAD).select_related("project").order_by("project_id").first()
    if led is None and not user.is_superuser:
        raise NotFound("No such model version.")
    return version, led.project if led else None
