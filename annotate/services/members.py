"""A project's people: add, change role, pause, exclude from consensus, message, remove; each change is audited.

Pausing, demoting and removing take effect at once (issue 17, point 10): the member's open leases are
released (their faces go back to the pool with the items' lease counts kept right), and their signed image
links stop working because `annotate.access.access_face_link` checks the membership they were made for.
Answers stay: an annotation belongs to its annotator, not to their membership.
"""
from django.db import transaction

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import Annotation, Membership, Project, Role
from annotate.services.assignments import assignments_release
from annotate.services.audit_log import audit_record

MESSAGE_MAX = 2000


def _target(user_id: int) -> str:
    return f"user:{user_id}"


def _guard_last_lead(*, project: Project, user_id: int) -> None:
    """Called inside the change's transaction with the project's lead memberships locked, so two leads demoting
    or removing each other cannot both succeed."""
    leads = list(Membership.objects.select_for_update().filter(project=project, role=Role.LEAD).values_list("user_id", flat=True))
    if leads == [user_id]:
        raise ValidationFailed("A project needs at least one ML lead: make someone else a lead first.", code="last_lead")


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")


@transaction.atomic
def member_add(*, project: Project, user, role: str = Role.ANNOTATOR, actor=None, via: str = "lead") -> tuple[Membership, bool]:
    """Make `user` a member with `role`; (membership, created). An existing member keeps their membership and role
    (change a role with `membership_update`). `via` says how they came (lead, invitation, account)."""
    _check_role(role)
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if created:
        audit_record(project=project, actor=actor, action="member.added", target=_target(user.pk),
                     details={"username": user.get_username(), "role": role, "via": via})
    return membership, created


def _set_role(*, membership: Membership, role: str, actor) -> dict:
    _check_role(role)
    if role == membership.role:
        return {}
    if role != Role.LEAD:
        _guard_last_lead(project=membership.project, user_id=membership.user_id)
    before, membership.role = membership.role, role
    audit_record(project=membership.project, actor=actor, action="member.role_changed", target=_target(membership.user_id),
                 details={"username": membership.user.get_username(), "role": {"before": before, "after": role}})
    return {"role": role}


def _set_paused(*, membership: Membership, paused: bool, actor) -> dict:
    if paused == membership.paused:
        return {}
    membership.paused = paused
    released = assignments_release(project=membership.project, annotator_id=membership.user_id) if paused else 0
    details = {"username": membership.user.get_username(), "paused": {"before": not paused, "after": paused}}
    if paused:
        details["released_leases"] = released
    audit_record(project=membership.project, actor=actor, action="member.paused" if paused else "member.resumed",
                 target=_target(membership.user_id), details=details)
    return {"paused": paused}


@transaction.atomic
def membership_update(
    *, project: Project, user_id: int, actor=None, role: str | None = None, paused: bool | None = None,
    excluded_from_consensus: bool | None = None, message: str | None = None,
) -> Membership:
    """Change what a lead controls about one member; fields left as None stay as they are.

    Demoting the last lead is refused (`last_lead`). Pausing releases the member's open leases at once; a
    paused annotator's image links stop working and they get no new work until resumed. Every change is
    recorded in the project's audit log with its before and after.
    """
    membership = Membership.objects.select_for_update().select_related("user", "project").filter(project=project, user_id=user_id).first()
    if membership is None:
        raise NotFound("No such member in this project.")
    if message is not None:
        message = message.strip()
        if len(message) > MESSAGE_MAX:
            raise ValidationFailed(f"Keep the message under {MESSAGE_MAX} characters.", code="message_too_long")
    changed: dict = {}
    if role is not None:
        changed |= _set_role(membership=membership, role=role, actor=actor)
    if paused is not None:
        changed |= _set_paused(membership=membership, paused=paused, actor=actor)
    if excluded_from_consensus is not None and membership.excluded_from_consensus != excluded_from_consensus:
        membership.excluded_from_consensus = excluded_from_consensus
        changed["excluded_from_consensus"] = excluded_from_consensus
        audit_record(project=project, actor=actor, action="member.consensus_changed", target=_target(user_id),
                     details={"username": membership.user.get_username(),
                              "excluded_from_consensus": {"before": not excluded_from_consensus, "after": excluded_from_consensus}})
    if message is not None and membership.message != message:
        before, membership.message = membership.message, message
        changed["message"] = message
        audit_record(project=project, actor=actor, action="member.message_changed", target=_target(user_id),
                     details={"username": membership.user.get_username(), "message": {"before": before, "after": message}})
    if changed:
        membership.save(update_fields=list(changed))
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user_id: int, actor=None) -> dict:
    """Remove a member at once: their open leases are released and their image links stop working; their answers
    stay (and keep counting). The last lead cannot be removed. Returns what the removal did."""
    membership = Membership.objects.select_for_update().select_related("user").filter(project=project, user_id=user_id).first()
    if membership is None:
        raise NotFound("No such member in this project.")
    _guard_last_lead(project=project, user_id=user_id)
    released = assignments_release(project=project, annotator_id=user_id)
    answers = Annotation.objects.filter(project=project, annotator_id=user_id, replaces__isnull=True).count()
    summary = {"username": membership.user.get_username(), "role": membership.role, "released_leases": released,
               "answers_kept": answers, "membership": membership.pk}
    membership.delete()
    audit_record(project=project, actor=actor, action="member.removed", target=_target(user_id), details=summary)
    return summary
