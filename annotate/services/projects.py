"""Projects and memberships."""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import DEFAULT_FLAGS, DEFAULT_LABELS, Membership, Project, Role
from ml.config import EXTRA_ANSWERS


def _validate_schema(labels: list[str], flags: list[str]) -> None:
    if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
        raise ValidationFailed("Labels must be a non-empty list of distinct names.", code="invalid_labels")
    if len(labels) > 20:
        raise ValidationFailed("At most 20 labels: each needs a key.", code="invalid_labels")
    classes = [x for x in labels if x not in EXTRA_ANSWERS]
    if len(classes) < 2:
        raise ValidationFailed(
            f"Give at least two expression classes besides {' and '.join(EXTRA_ANSWERS)}: the quality analysis "
            "needs two classes to compare.", code="too_few_classes",
        )
    if len(set(flags)) != len(flags):
        raise ValidationFailed("Flags must be distinct.", code="invalid_flags")


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by=None,
    slug: str | None = None,
    description: str = "",
    labels: list[str] | None = None,
    flags: list[str] | None = None,
    overlap_target: int = 3,
    gold_rate: float = 0.05,
    show_model_hints: bool = False,
    valence_arousal: bool = False,
) -> Project:
    """Create a project; its creator becomes its first ML lead."""
    labels = list(labels or DEFAULT_LABELS)
    flags = list(DEFAULT_FLAGS if flags is None else flags)
    _validate_schema(labels, flags)
    if overlap_target < 1:
        raise ValidationFailed("The overlap target k must be at least 1.", code="invalid_overlap_target")
    if not 0 <= gold_rate <= 1:
        raise ValidationFailed("The gold rate must lie between 0 and 1.", code="invalid_gold_rate")
    slug = slug or slugify(name)[:80] or "project"
    if Project.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"A project with the slug {slug!r} exists already.", code="duplicate_slug")
    project = Project.objects.create(
        name=name, slug=slug, description=description, labels=labels, flags=flags, overlap_target=overlap_target,
        gold_rate=gold_rate, show_model_hints=show_model_hints, valence_arousal=valence_arousal, created_by=created_by,
    )
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.LEAD)
    return project


@transaction.atomic
def project_update(*, project: Project, labels: list[str] | None = None, flags: list[str] | None = None, **fields) -> Project:
    """Change a project's settings; the label schema is checked as at creation. Fields left as None stay."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    labels = project.labels if labels is None else list(labels)
    flags = project.flags if flags is None else list(flags)
    _validate_schema(labels, flags)
    changes = {k: v for k, v in fields.items() if v is not None}
    if changes.get("overlap_target", 1) < 1:
        raise ValidationFailed("The overlap target k must be at least 1.", code="invalid_overlap_target")
    if not 0 <= changes.get("gold_rate", 0) <= 1:
        raise ValidationFailed("The gold rate must lie between 0 and 1.", code="invalid_gold_rate")
    for name, value in {"labels": labels, "flags": flags, **changes}.items():
        setattr(project, name, value)
    project.save()
    return project


def _check_not_last_lead(*, project: Project, user_id: int) -> None:
    """Called with the project's lead memberships locked, so two leads demoting each other cannot both succeed."""
    leads = list(Membership.objects.select_for_update().filter(project=project, role=Role.LEAD).values_list("user_id", flat=True))
    if leads == [user_id]:
        raise ValidationFailed("A project needs at least one ML lead: make someone else a lead first.", code="last_lead")


@transaction.atomic
def membership_set(*, project: Project, user, role: str = Role.ANNOTATOR) -> Membership:
    """Add the user to the project, or change their role; the last lead cannot be demoted."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")
    if role != Role.LEAD:
        _check_not_last_lead(project=project, user_id=user.pk)
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user_id: int) -> None:
    """Remove a member from the project; the last lead cannot be removed."""
    _check_not_last_lead(project=project, user_id=user_id)
    if not Membership.objects.filter(project=project, user_id=user_id).delete()[0]:
        raise NotFound("No such member in this project.")


def user_ensure(*, username: str, password: str, is_superuser: bool = False):
    """Create the user if missing and (re)set their password; used by the demo and benchmarks."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = is_superuser
    user.save()
    return user
