"""Projects and memberships; every create and settings change is written to the project's audit log."""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from annotate.exceptions import Conflict, NotFound, ValidationFailed
from annotate.models import DEFAULT_FLAGS, DEFAULT_LABELS, Membership, Project, Role
from annotate.selectors.project_settings import (
    BLOCKED_CODES, LIST_FIELDS, SETTINGS_FIELDS, project_settings_impact, project_settings_values,
)
from annotate.services.audit_log import audit_record
from ml.action_units import AU_NAMES
from ml.config import EXTRA_ANSWERS

MAX_OVERLAP_TARGET = 50
MAX_GOLD_RATE = 0.5  # beyond half, annotators would spend more time on checks than on new faces
MAX_LABELS = 20


def project_settings_validate(*, values: dict) -> None:
    """The rules a project's settings keep, at creation, on every edit and in the settings preview.

    `values` maps setting names to proposed values; names it lacks are not checked. Action units are put in
    ascending order in `values`, the order they are stored and asked in."""
    if "name" in values and not str(values["name"]).strip():
        raise ValidationFailed("Give the project a name.", code="invalid_name")
    labels, flags = values.get("labels"), values.get("flags")
    if labels == []:
        _no_class_validate(values=values)
    elif labels is not None:
        if not all(isinstance(x, str) and x.strip() for x in labels) or len(set(labels)) != len(labels):
            raise ValidationFailed("Labels must be distinct, non-empty names.", code="invalid_labels")
        if len(labels) > MAX_LABELS:
            raise ValidationFailed(f"At most {MAX_LABELS} labels: each needs a key.", code="invalid_labels")
        classes = [x for x in labels if x not in EXTRA_ANSWERS]
        if len(classes) < 2:
            raise ValidationFailed(
                f"Give at least two expression classes besides {' and '.join(EXTRA_ANSWERS)}: the quality analysis "
                "needs two classes to compare.", code="too_few_classes",
            )
    if flags is not None:
        if not all(isinstance(x, str) and x.strip() for x in flags):
            raise ValidationFailed("Flags must be non-empty names.", code="invalid_flags")
        if len(set(flags)) != len(flags):
            raise ValidationFailed("Flags must be distinct.", code="invalid_flags")
        if set(flags) & set(labels or []):
            raise ValidationFailed("A flag cannot have the name of a label.", code="invalid_flags")
    k = values.get("overlap_target")
    if k is not None and not 1 <= k <= MAX_OVERLAP_TARGET:
        raise ValidationFailed(f"The overlap target k must lie between 1 and {MAX_OVERLAP_TARGET}.", code="invalid_overlap_target")
    gold_rate = values.get("gold_rate")
    if gold_rate is not None and not 0 <= gold_rate <= MAX_GOLD_RATE:
        raise ValidationFailed(f"The gold rate must lie between 0 and {MAX_GOLD_RATE:g} (0% to {MAX_GOLD_RATE:.0%}).",
                               code="invalid_gold_rate")
    _action_units_validate(values=values)


def _no_class_validate(*, values: dict) -> None:
    """labels [] means the expression class is not asked (#18): the project must then ask for something else, or an
    answer would carry nothing. Checked on the full settings (an update merges them first), so switching the last
    other dimension off later is refused too."""
    if "valence_arousal" not in values or "action_units" not in values:
        return  # a partial check (names it lacks are not checked)
    if not values["valence_arousal"] and not values["action_units"]:
        raise ValidationFailed("A project without an expression class (no labels) must ask for valence-arousal or "
                               "action units: otherwise an answer would carry nothing.", code="nothing_asked")


def _action_units_validate(*, values: dict) -> None:
    aus = values.get("action_units")
    if aus is not None:
        if (not isinstance(aus, list) or len(set(aus)) != len(aus)
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in aus)):
            raise ValidationFailed("Action units must be a list of distinct AU numbers, e.g. [6, 12].",
                                   code="invalid_action_units")
        unknown = sorted(set(aus) - set(AU_NAMES))
        if unknown:
            raise ValidationFailed(
                f"Not an action unit this tool offers: {', '.join(map(str, unknown))}. Choose from "
                f"{', '.join(map(str, AU_NAMES))} (ml.action_units.AU_CATALOGUE).", code="invalid_action_units",
                details={"unknown": unknown},
            )
        values["action_units"] = sorted(aus)
    if values.get("au_intensity") and "action_units" in values and not values["action_units"]:
        raise ValidationFailed("Intensity is rated for action units: choose at least one AU, or switch intensity "
                               "off.", code="invalid_au_intensity")


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by=None,
    slug: str | None = None,
    description: str = "",
    instructions: str = "",
    labels: list[str] | None = None,
    flags: list[str] | None = None,
    overlap_target: int = 3,
    gold_rate: float = 0.05,
    show_model_hints: bool = False,
    valence_arousal: bool = False,
    action_units: list[int] | None = None,
    au_intensity: bool = False,
) -> Project:
    """Create a project; its creator becomes its first ML lead, and the audit log records its settings."""
    values = {
        "name": name, "description": description, "instructions": instructions,
        "labels": list(DEFAULT_LABELS if labels is None else labels), "flags": list(DEFAULT_FLAGS if flags is None else flags),
        "overlap_target": overlap_target, "gold_rate": gold_rate, "show_model_hints": show_model_hints,
        "valence_arousal": valence_arousal, "action_units": list(action_units or []), "au_intensity": au_intensity,
    }
    project_settings_validate(values=values)
    slug = slug or slugify(name)[:80] or "project"
    if Project.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"A project with the slug {slug!r} exists already: choose another name or slug.",
                               code="duplicate_slug", details={"slug": slug})
    project = Project.objects.create(slug=slug, created_by=created_by, **values)
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.LEAD)
    audit_record(project=project, actor=created_by, action="project.created", target=f"project:{project.pk}",
                 details={"settings": {"slug": slug, **project_settings_values(project=project)}})
    return project


@transaction.atomic
def project_update(*, project: Project, actor=None, **fields) -> Project:
    """Change a project's settings (fields left out or None stay), checked as at creation.

    Refuses a change that would orphan answers already given (Conflict `label_in_use`: a label that answers, reviews
    or gold faces use removed or renamed; `action_unit_in_use`: an AU that answers judge removed;
    `au_intensity_in_use`: intensity switched off or on while answers hold intensities, or presence marks that would
    read as intensity A): see `annotate.selectors.project_settings`. A change is recorded in the audit log with each field's before and after
    and what it did to work already done; saving the same values again records nothing.
    """
    unknown = sorted(set(fields) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown settings: {', '.join(unknown)}.", code="invalid_settings")
    project = Project.objects.select_for_update().get(pk=project.pk)
    proposed = project_settings_values(project=project)
    proposed.update({k: list(v) if k in LIST_FIELDS else v for k, v in fields.items() if v is not None})
    project_settings_validate(values=proposed)
    impact = project_settings_impact(project=project, proposed=proposed)
    if impact["blocked"]:
        blocked = [e for e in impact["effects"] if e["level"] == "blocked"]
        raise Conflict(" ".join(e["message"] for e in blocked), code=BLOCKED_CODES[blocked[0]["field"]],
                       details={"effects": blocked})
    if not impact["changes"]:
        return project
    for name, change in impact["changes"].items():
        setattr(project, name, change["after"])
    project.save(update_fields=list(impact["changes"]))
    audit_record(
        project=project, actor=actor, action="project.settings_changed", target=f"project:{project.pk}",
        details={"changes": impact["changes"],
                 "effects": [{"field": e["field"], "level": e["level"], "message": e["message"]} for e in impact["effects"]]},
    )
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


def membership_remove(*, project: Project, user_id: int, actor=None) -> dict:
    """Remove a member at once, as the People tab does (leases released, image links stopped, audited; the last
    lead cannot be removed): see annotate.services.members."""
    from annotate.services.members import membership_remove as member_remove

    return member_remove(project=project, user_id=user_id, actor=actor)


def user_ensure(*, username: str, password: str, is_superuser: bool = False):
    """Create the user if missing and (re)set their password; used by the demo and benchmarks."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = is_superuser
    user.save()
    return user
