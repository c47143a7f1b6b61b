"""Who may see and do what: every view and API goes through these checks, written once."""
from django.contrib.auth.models import AbstractBaseUser

from annotate.exceptions import Forbidden, NotFound
from annotate.models import Item, Membership, Project, Role
from server.rows import fetch_one, row_shape


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
    membership = _membership_with_project(user_id=user.pk, project_id=project_id)
    if membership is None:
        if user.is_superuser and Project.objects.filter(pk=project_id).exists():
            return Membership(project=Project.objects.get(pk=project_id), user=user, role=Role.LEAD)
        raise NotFound("No such project.")
    return membership


def access_project(*, user: AbstractBaseUser, project_id: int) -> Project:
    """The project, if the user belongs to it in any role."""
    return access_membership(user=user, project_id=project_id).project


def access_project_as_lead(*, user: AbstractBaseUser, project_id: int) -> Project:
    """The project, if the user is one of its ML leads (or a superuser)."""
    membership = access_membership(user=user, project_id=project_id)
    if membership.role != Role.LEAD:
        raise Forbidden("Only the project's ML leads may do this.", code="lead_only")
    return membership.project


def access_item(*, user: AbstractBaseUser, item_id: int) -> Item:
    """An item of a project the user belongs to."""
    item = Item.objects.filter(pk=item_id).only("id", "project_id").first()
    if item is None:
        raise NotFound("No such item.")
    access_membership(user=user, project_id=item.project_id)
    return Item.objects.get(pk=item_id)


def access_item_in_project(*, project: Project, item_id: int) -> Item:
    """An item of a project the caller already has access to; NotFound for items of other projects."""
    item = Item.objects.filter(pk=item_id, project=project).only("id", "project_id").first()
    if item is None:
        raise NotFound("No such item in this project.")
    return item


def is_lead(*, user: AbstractBaseUser, project_id: int) -> bool:
    return user.is_superuser or Membership.objects.filter(project_id=project_id, user=user, role=Role.LEAD).exists()
