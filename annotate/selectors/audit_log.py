"""Reads of the project audit log, newest first, paginated by key (stable while new events arrive)."""
from django.db.models import QuerySet

from annotate.models import AuditEvent, Project


def audit_events(*, project: Project, action: str | None = None, before_id: int | None = None,
                 limit: int = 50) -> list[AuditEvent]:
    """The project's events, newest first; `action` filters by name or dotted prefix (`member` or `member.removed`);
    `before_id` continues a page after the last id the caller saw."""
    events: QuerySet = AuditEvent.objects.filter(project=project).select_related("actor")
    if action:
        events = events.filter(action=action) if "." in action else events.filter(action__startswith=f"{action}.")
    if before_id is not None:
        events = events.filter(id__lt=before_id)
    return list(events.order_by("-id")[: max(1, min(limit, 500))])
