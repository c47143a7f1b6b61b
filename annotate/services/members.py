"""Leads' actions on annotators: pause, exclude from consensus (reversible), leave a message."""
from django.db import transaction

from annotate.exceptions import NotFound, ValidationFailed
from annotate.models import Membership, Project

MESSAGE_MAX = 2000


@transaction.atomic
def membership_update(
    *, project: Project, user_id: int, paused: bool | None = None, excluded_from_consensus: bool | None = None,
    message: str | None = None,
) -> Membership:
    """Change what a lead controls about one member; fields left as None stay as they are."""
    membership = Membership.objects.select_for_update().filter(project=project, user_id=user_id).first()
    if membership is None:
        raise NotFound("No such member in this project.")
    changed = []
    if paused is not None and membership.paused != paused:
        membership.paused = paused
        changed.append("paused")
    if excluded_from_consensus is not None and membership.excluded_from_consensus != excluded_from_consensus:
        membership.excluded_from_consensus = excluded_from_consensus
        changed.append("excluded_from_consensus")
    if message is not None:
        message = message.strip()
        if len(message) > MESSAGE_MAX:
            raise ValidationFailed(f"Keep the message under {MESSAGE_MAX} characters.", code="message_too_long")
        if membership.message != message:
            membership.message = message
            changed.append("message")
    if changed:
        membership.save(update_fields=changed)
    return membership
