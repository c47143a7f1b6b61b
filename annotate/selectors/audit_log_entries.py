"""The audit log as a lead reads it: each event as who, when and a sentence of what, a page at a time.

Actions this module knows (`project.*`) get their own sentence; any other action (`member.*`, `invitation.*`,
`item.erased`, `token.*`, `import.*`, ...) reads generically from its name, target and details, so new kinds of
event show up without a change here.
"""
from django.contrib.auth import get_user_model

from annotate.models import AuditEvent, Project
from annotate.selectors.audit_log import audit_events
from annotate.selectors.project_settings import SETTINGS_FIELDS

FIELD_NAMES = {
    "name": "name", "description": "description", "instructions": "instructions", "labels": "labels",
    "flags": "flags", "overlap_target": "k (answers per face)", "gold_rate": "gold rate",
    "show_model_hints": "model hints", "valence_arousal": "valence-arousal", "action_units": "action units",
    "au_intensity": "AU intensity", "slug": "slug",
}
TEXT_FIELDS = ("description", "instructions")


def _value(field: str, value) -> str:
    if field == "action_units" and isinstance(value, list):
        value = [f"AU{n}" for n in value]
    if field == "gold_rate" and isinstance(value, (int, float)):
        return f"{value * 100:g}%"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) if value else "none"
    if value in (None, ""):
        return "empty"
    return str(value)


def _list_change(before: list, after: list) -> str:
    removed, added = [x for x in before if x not in after], [x for x in after if x not in before]
    parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
    parts = [p for p in parts if p] or ["reordered them"]
    return " and ".join(parts)


def _field_phrase(field: str, change: dict) -> str:
    name = FIELD_NAMES.get(field, field.replace("_", " "))
    before, after = change.get("before"), change.get("after")
    if isinstance(after, bool):
        return f"turned {name} {'on' if after else 'off'}"
    if isinstance(before, list) and isinstance(after, list):
        if field == "action_units":
            before, after = [f"AU{n}" for n in before], [f"AU{n}" for n in after]
        return f"{name}: {_list_change(before, after)}"
    if field in TEXT_FIELDS:
        return f"changed the {name}" if after else f"cleared the {name}"
    return f"changed {name} from {_value(field, before)} to {_value(field, after)}"


def _created(event: AuditEvent) -> tuple[str, list[str]]:
    settings = event.details.get("settings", {})
    labels = settings.get("labels", [])
    sentence = (f"created the project {settings.get('name', '')!r} with k = {settings.get('overlap_target', '?')}, "
                f"gold rate {_value('gold_rate', settings.get('gold_rate'))} and {len(labels)} labels")
    lines = [f"{FIELD_NAMES.get(k, k)}: {_value(k, v)}" for k, v in settings.items() if k != "name"]
    return sentence, lines


def _settings_changed(event: AuditEvent) -> tuple[str, list[str]]:
    order = {name: i for i, name in enumerate(SETTINGS_FIELDS)}  # jsonb keeps keys in its own order
    changes = dict(sorted(event.details.get("changes", {}).items(), key=lambda kv: order.get(kv[0], len(order))))
    sentence = "; ".join(_field_phrase(f, c) for f, c in changes.items()) or "saved the settings unchanged"
    lines = []
    for field, change in changes.items():
        name = FIELD_NAMES.get(field, field)
        if field in TEXT_FIELDS:
            lines.append(f"{name} before: {_value(field, change.get('before'))}")
            lines.append(f"{name} after: {_value(field, change.get('after'))}")
        else:
            lines.append(f"{name}: {_value(field, change.get('before'))} → {_value(field, change.get('after'))}")
    lines += [e["message"] for e in event.details.get("effects", []) if isinstance(e, dict) and e.get("message")]
    return sentence, lines


KNOWN = {"project.created": _created, "project.settings_changed": _settings_changed}


def _detail_line(key: str, value) -> str:
    name = key.replace("_", " ")
    if isinstance(value, dict) and set(value) >= {"before", "after"}:
        return f"{name}: {_value(key, value['before'])} → {_value(key, value['after'])}"
    if isinstance(value, dict):
        return f"{name}: " + ", ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in value.items())
    return f"{name}: {_value(key, value)}"


def _generic(event: AuditEvent, target: str) -> tuple[str, list[str]]:
    words = event.action.replace(".", " ").replace("_", " ")
    sentence = f"{words}: {target}" if target else words
    return sentence, [_detail_line(k, v) for k, v in event.details.items()] if isinstance(event.details, dict) else []


def _target_names(events: list[AuditEvent]) -> dict[str, str]:
    """`user:12` -> the username, for every user named as a target on the page (one query)."""
    ids = {int(e.target.split(":", 1)[1]) for e in events
           if e.target.startswith("user:") and e.target.split(":", 1)[1].isdigit()}
    users = get_user_model().objects.filter(pk__in=ids).values_list("pk", "username") if ids else []
    return {f"user:{pk}": name for pk, name in users}


TARGET_KINDS = {"item": "face"}


def _target_label(event: AuditEvent, names: dict[str, str]) -> str:
    """`user:12` as its username (or the one the event recorded, if the account is gone), `item:345` as face #345."""
    if event.target in names:
        return names[event.target]
    kind, _, ident = event.target.partition(":")
    details = event.details if isinstance(event.details, dict) else {}
    if kind == "user" and isinstance(details.get("username"), str):
        return details["username"]
    if ident.isdigit():
        return f"{TARGET_KINDS.get(kind, kind)} #{ident}"
    return event.target


def audit_entry(event: AuditEvent, *, target_names: dict[str, str] | None = None) -> dict:
    """One event as the log page shows it: who, when, a sentence and detail lines."""
    target = _target_label(event, target_names or {})
    describe = KNOWN.get(event.action)
    sentence, lines = describe(event) if describe else _generic(event, target)
    return {
        "id": event.id, "created_at": event.created_at, "actor": event.actor_name or "system", "action": event.action,
        "target": event.target, "target_name": target, "sentence": sentence, "lines": lines, "details": event.details,
    }


def audit_log_page(*, project: Project, action: str | None = None, before_id: int | None = None, limit: int = 50) -> dict:
    """A page of the log, newest first: {"events": [...], "next_before": id to continue from, or None at the end}."""
    limit = max(1, min(limit, 200))
    events = audit_events(project=project, action=action, before_id=before_id, limit=limit + 1)
    more, events = len(events) > limit, events[:limit]
    names = _target_names(events)
    return {"events": [audit_entry(e, target_names=names) for e in events], "next_before": events[-1].id if more and events else None}


def audit_action_groups(*, project: Project) -> list[str]:
    """The action prefixes (`member`, `project`, ...) found in the project's log, for the page's filter."""
    actions = AuditEvent.objects.filter(project=project).values_list("action", flat=True).distinct()
    return sorted({a.split(".", 1)[0] for a in actions})
