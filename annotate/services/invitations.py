"""Invitation links: a lead makes one (role, expiry, uses; the token is shown once), revokes it; people accept it.

Accepting locks the invitation row, so however many people open the link at once, `uses` never passes
`max_uses` (the database's check constraint backs that up). A member who accepts again keeps their
membership and role and uses nothing up.
"""
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotate.exceptions import Conflict, NotFound, ValidationFailed
from annotate.models import Invitation, Membership, Project, Role
from annotate.selectors.people import EXPIRED, PENDING, REVOKED, USED_UP, invitation_state, invitation_token_hash
from annotate.services.accounts import password_check, username_check
from annotate.services.audit_log import audit_record
from annotate.services.members import member_add

MIN_DAYS, MAX_DAYS = 1, 30
MAX_USES = 500
NOTE_MAX = 200

STATE_MESSAGES = {
    EXPIRED: "This invitation has expired. Ask the project's lead for a new link.",
    REVOKED: "This invitation was withdrawn by the project's lead. Ask them for a new link if you still need one.",
    USED_UP: "This invitation has been used as many times as it allows. Ask the project's lead for a new link.",
}


@transaction.atomic
def invitation_create(
    *, project: Project, actor, role: str = Role.ANNOTATOR, expires_in_days: int = 7, max_uses: int = 1, note: str = "",
) -> tuple[Invitation, str]:
    """A new invitation and its token (shown once: only its hash is kept)."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")
    if not MIN_DAYS <= expires_in_days <= MAX_DAYS:
        raise ValidationFailed(f"An invitation lasts {MIN_DAYS} to {MAX_DAYS} days.", code="invalid_expiry")
    if not 1 <= max_uses <= MAX_USES:
        raise ValidationFailed(f"An invitation can be used 1 to {MAX_USES} times.", code="invalid_max_uses")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(f"Keep the note under {NOTE_MAX} characters.", code="note_too_long")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project, role=role, note=note, token_hash=invitation_token_hash(token), created_by=actor,
        expires_at=timezone.now() + timedelta(days=expires_in_days), max_uses=max_uses,
    )
    audit_record(project=project, actor=actor, action="invitation.created", target=f"invitation:{invitation.pk}",
                 details={"role": role, "expires_at": invitation.expires_at.isoformat(), "max_uses": max_uses, "note": note})
    return invitation, token


@transaction.atomic
def invitation_revoke(*, project: Project, invitation_id: int, actor) -> Invitation:
    """Withdraw a pending invitation; revoking one that no longer works changes nothing."""
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id, project=project).first()
    if invitation is None:
        raise NotFound("No such invitation in this project.")
    state = invitation_state(invitation)
    if state == REVOKED:
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(project=project, actor=actor, action="invitation.revoked", target=f"invitation:{invitation.pk}",
                 details={"role": invitation.role, "note": invitation.note, "uses": invitation.uses,
                          "max_uses": invitation.max_uses, "state": {"before": state, "after": REVOKED}})
    return invitation


def _locked_pending(token: str) -> Invitation:
    invitation = (Invitation.objects.select_for_update(of=("self",)).select_related("project")
                  .filter(token_hash=invitation_token_hash(token or "")).first())
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check that you copied all of it.", code="invitation_unknown")
    state = invitation_state(invitation)
    if state != PENDING:
        raise Conflict(STATE_MESSAGES[state], code=f"invitation_{state}")
    return invitation


def _join(*, invitation: Invitation, user) -> tuple[Membership, bool]:
    membership, created = member_add(project=invitation.project, user=user, role=invitation.role, actor=user, via="invitation")
    if created:
        Invitation.objects.filter(pk=invitation.pk).update(uses=F("uses") + 1)
        audit_record(project=invitation.project, actor=user, action="invitation.accepted", target=f"invitation:{invitation.pk}",
                     details={"username": user.get_username(), "role": invitation.role,
                              "uses": {"before": invitation.uses, "after": invitation.uses + 1}, "max_uses": invitation.max_uses})
    return membership, created


@transaction.atomic
def invitation_accept(*, token: str, user) -> tuple[Membership, bool]:
    """The signed-in `user` joins the invitation's project with its role; (membership, joined now). Someone who
    is a member already keeps their membership and role, and uses nothing up."""
    invitation = _locked_pending(token)
    existing = Membership.objects.filter(project=invitation.project, user=user).first()
    if existing is not None:
        return existing, False
    return _join(invitation=invitation, user=user)


@transaction.atomic
def invitation_accept_new_account(*, token: str, username: str, password: str):
    """A new person creates their account (Django's password validators apply) and joins; returns the user.
    Nothing is created when the link no longer works or the input is refused."""
    invitation = _locked_pending(token)
    username = username_check(username)
    password_check(password, username=username)
    user = get_user_model().objects.create_user(username=username, password=password)
    audit_record(project=invitation.project, actor=user, action="account.created", target=f"user:{user.pk}",
                 details={"username": username, "role": invitation.role, "via": "invitation", "invitation": invitation.pk})
    _join(invitation=invitation, user=user)
    return user
