"""The project audit log: one append-only row per change a person makes to a project's people, settings or data.

Call `audit_record` inside the transaction that makes the change, so the change and its record commit together.
"""
from annotate.models import AuditEvent, Project


def audit_record(
    *, project: Project | None, actor, action: str, target: str = "", details: dict | None = None,
) -> AuditEvent:
    """Record that `actor` (a user, or None for the system) did `action` to `target` in `project`.

    `action` is a dotted name such as `member.role_changed`; `target` names the object (`user:12`, `item:345`);
    `details` holds what a reader needs to understand the change (before and after values, counts).
    """
    signed_in = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        project=project,
        actor=actor if signed_in else None,
        actor_name=actor.get_username() if signed_in else "",
        action=action,
        target=target,
        details=details or {},
    )
