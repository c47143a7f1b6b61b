"""Projects and memberships."""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from annotate.exceptions import ValidationFailed
from annotate.models import DEFAULT_FLAGS, DEFAULT_LABELS, Membership, Project, Role


def _validate_schema(labels: list[str], flags: list[str]) -> None:
    if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
        raise ValidationFailed("Labels must be a non-empty list of distinct names.", code="invalid_labels")
    if len(labels) > 20:
        raise ValidationFailed("At most 20 labels: each needs a key.", code="invalid_labels")
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


def membership_set(*, project: Project, user, role: str = Role.ANNOTATOR) -> Membership:
    """Add the user to the project, or change their role."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def user_ensure(*, username: str, password: str, is_superuser: bool = False):
    """Create the user if missing and (re)set their password; used by the demo and benchmarks."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = is_superuser
    user.save()
    return user
