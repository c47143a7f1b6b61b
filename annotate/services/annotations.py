"""Answers: submit one for a lease (idempotent by client id), correct the last one (undo), all append-only."""
import json
import math
import uuid
from datetime import timedelta
from types import SimpleNamespace

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotate.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from annotate.models import Annotation, Assignment, AssignmentStatus, Item, Membership, Project
from annotate.services.assignments import lease_uncount, leases_count_exact
from server.rows import execute_statement

# How long after an answer the annotator may still undo it (a correcting answer, never a deletion).
UNDO_WINDOW = timedelta(minutes=2)
# Time taken is clipped so that a face left open over lunch does not ruin the annotator's median.
MAX_SECONDS = 3600.0


def _validate(*, project: Project, label: str, flags: list[str], valence, arousal, seconds) -> list[str]:
    if label not in project.labels:
        raise ValidationFailed(f"{label!r} is not one of this project's labels.", code="invalid_label")
    unknown = [flag for flag in flags if flag not in project.flags]
    if unknown:
        raise ValidationFailed(f"Unknown flags: {', '.join(map(str, unknown))}.", code="invalid_flags")
    if project.valence_arousal:
        for name, value in (("valence", valence), ("arousal", arousal)):
            if value is not None and not (math.isfinite(value) and -1 <= value <= 1):
                raise ValidationFailed(f"{name} must lie between -1 and 1.", code="invalid_valence_arousal")
    elif valence is not None or arousal is not None:
        raise ValidationFailed("This project does not ask for valence and arousal.", code="invalid_valence_arousal")
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise ValidationFailed("seconds must be a non-negative number.", code="invalid_seconds")
    return sorted(set(flags), key=project.flags.index)


def _original(*, client_id: uuid.UUID, annotator) -> Annotation:
    """The answer stored earlier under this client id: a repeated submit gets it back."""
    existing = Annotation.objects.filter(client_id=client_id).first()
    if existing is None:
        raise Conflict("The answer could not be stored; try again.", code="retry")
    if existing.annotator_id != annotator.pk:
        raise Conflict("This client id belongs to another answer.", code="client_id_taken")
    return existing


def annotation_submit(
    *,
    annotator,
    assignment_id: int,
    client_id: uuid.UUID,
    label: str,
    flags: list[str] | None = None,
    valence: float | None = None,
    arousal: float | None = None,
    seconds: float | None = None,
    source: str = "web",
) -> tuple[Annotation, bool]:
    """Store the annotator's answer for their lease; returns (answer, created).

    A repeated submit (same client id) returns the original and creates nothing. A submit on an
    expired lease is accepted only while the face is still below target counting others' live
    leases, so a face never gets more than k answers.
    """
    fields = dict(annotator=annotator, assignment_id=assignment_id, client_id=client_id, label=label, flags=flags or [],
                  valence=valence, arousal=arousal, seconds=seconds, source=source)
    try:
        if connection.vendor == "postgresql":
            annotation = _submit_live_postgres(**fields)
            if annotation is not None:
                return annotation, True
        return _submit(**fields)
    except IntegrityError:
        # Two copies of one submit raced (client id) or the lease was answered under another id.
        existing = Annotation.objects.filter(client_id=client_id).first()
        if existing is not None:
            return _original(client_id=client_id, annotator=annotator), False
        raise Conflict("This face is answered already.", code="already_answered") from None


# The common case (a live lease, answered once) in two statements and no ORM compilation: read what
# validation needs, then close the lease, store the answer and count it in one statement (atomic by
# itself: no BEGIN / COMMIT round trips) whose WHERE re-checks the lease, so a lease answered or
# lapsed in between falls through to `_submit`.
_SUBMIT_CONTEXT_SQL = """
SELECT p.labels, p.flags, p.valence_arousal FROM {assignment} a
JOIN {project} p ON p.id = a.project_id
JOIN {membership} m ON m.project_id = a.project_id AND m.user_id = %(annotator)s
WHERE a.id = %(assignment)s AND a.annotator_id = %(annotator)s AND a.status = 'open' AND a.expires_at > %(now)s
"""
_SUBMIT_SQL = """
WITH closed AS (
    UPDATE {assignment} SET status = 'answered', closed_at = %(now)s
    WHERE id = %(assignment)s AND annotator_id = %(annotator)s AND status = 'open' AND expires_at > %(now)s
    RETURNING id, item_id, project_id, is_gold
), counted AS (
    UPDATE {item} i SET answer_count = i.answer_count + 1,
        lease_count = CASE WHEN c.is_gold THEN i.lease_count ELSE GREATEST(i.lease_count - 1, 0) END
    FROM closed c WHERE i.id = c.item_id
    RETURNING i.id
)
INSERT INTO {annotation} (project_id, item_id, annotator_id, assignment_id, label, flags, valence, arousal, seconds,
                          client_id, replaces_id, source, created_at)
SELECT c.project_id, c.item_id, %(annotator)s, c.id, %(label)s, %(flags)s::jsonb, %(valence)s, %(arousal)s, %(seconds)s,
       %(client_id)s, NULL, %(source)s, %(now)s
FROM closed c
RETURNING id, project_id, item_id
"""


def _submit_live_postgres(*, annotator, assignment_id, client_id, label, flags, valence, arousal, seconds, source):
    """The answer for a live lease, or None when the lease is not live and open (the general path decides)."""
    tables = {"assignment": Assignment._meta.db_table, "project": Project._meta.db_table,
              "membership": Membership._meta.db_table, "item": Item._meta.db_table, "annotation": Annotation._meta.db_table}
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT_CONTEXT_SQL.format(**tables), {"assignment": assignment_id, "annotator": annotator.pk, "now": now})
        row = cursor.fetchone()
        if row is None:
            return None
        labels, project_flags, valence_arousal = (json.loads(v) if isinstance(v, str) else v for v in row)
        project = SimpleNamespace(labels=labels, flags=project_flags, valence_arousal=valence_arousal)
        flags = _validate(project=project, label=label, flags=flags, valence=valence, arousal=arousal, seconds=seconds)
        seconds = None if seconds is None else min(seconds, MAX_SECONDS)
        execute_statement(cursor, _SUBMIT_SQL.format(**tables), {
            "assignment": assignment_id, "annotator": annotator.pk, "now": now, "label": label, "flags": json.dumps(flags),
            "valence": valence, "arousal": arousal, "seconds": seconds, "client_id": client_id, "source": source,
        })
        row = cursor.fetchone()
    if row is None:
        return None
    pk, project_id, item_id = row
    return Annotation(
        pk=pk, project_id=project_id, item_id=item_id, annotator=annotator, assignment_id=assignment_id, label=label,
        flags=flags, valence=valence, arousal=arousal, seconds=seconds, client_id=client_id, source=source, created_at=now,
    )


def _submit(*, annotator, assignment_id, client_id, label, flags, valence, arousal, seconds, source) -> tuple[Annotation, bool]:
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk=assignment_id, annotator=annotator, project__memberships__user=annotator)
            .first()
        )
        if assignment is None:
            raise NotFound("No such assignment.")
        project = assignment.project
        if assignment.status == AssignmentStatus.ANSWERED:
            if Annotation.objects.filter(client_id=client_id).exists():
                return _original(client_id=client_id, annotator=annotator), False
            raise Conflict("This face is answered already; undo the answer instead.", code="already_answered")
        flags = _validate(project=project, label=label, flags=flags, valence=valence, arousal=arousal, seconds=seconds)
        if assignment.status == AssignmentStatus.SKIPPED or assignment.expires_at <= now:
            _check_late_submit(project=project, assignment=assignment, now=now)
        annotation = Annotation.objects.create(
            project=project, item_id=assignment.item_id, annotator=annotator, assignment=assignment, label=label,
            flags=flags, valence=valence, arousal=arousal, seconds=None if seconds is None else min(seconds, MAX_SECONDS),
            client_id=client_id, source=source,
        )
        # The row lock taken by this UPDATE serialises it with leasing, which locks the same row.
        uncount = lease_uncount(assignment=assignment, now=now)
        Item.objects.filter(pk=assignment.item_id).update(answer_count=F("answer_count") + 1, **uncount)
        Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.ANSWERED, closed_at=now)
    return annotation, True


def _check_late_submit(*, project: Project, assignment: Assignment, now) -> None:
    """A lapsed (or skipped) lease counts only if the face still has room once others' live leases count."""
    item = (
        Item.objects.select_for_update(no_key=True)
        .filter(pk=assignment.item_id)
        .values("excluded", "answer_count", "extra_answers")
        .first()
    )
    if item is None or item["excluded"]:
        raise Conflict("This face no longer needs an answer.", code="lease_expired")
    if assignment.is_gold:
        return  # gold checks are not capped at k
    # Counted after the lock is granted, so every rival lease on this face is committed and seen.
    live = leases_count_exact(item_id=assignment.item_id, now=now)
    if item["answer_count"] + live >= project.overlap_target + item["extra_answers"]:
        raise Conflict("Your time on this face ran out and others have answered it.", code="lease_expired")


def annotation_correct(
    *,
    annotator,
    replaces: uuid.UUID,
    client_id: uuid.UUID,
    label: str,
    flags: list[str] | None = None,
    valence: float | None = None,
    arousal: float | None = None,
    seconds: float | None = None,
    source: str = "web",
) -> tuple[Annotation, bool]:
    """Undo: a new answer that replaces the annotator's answer with client id `replaces`.

    Allowed within UNDO_WINDOW of that answer, once per answer (the database holds that); the
    face's answer count does not change because the annotator still has exactly one live answer.
    """
    existing = Annotation.objects.filter(client_id=client_id).first()
    if existing is not None:
        return _original(client_id=client_id, annotator=annotator), False
    previous = Annotation.objects.select_related("project").filter(client_id=replaces, annotator=annotator).first()
    if previous is None:
        raise NotFound("No such answer to undo.")
    if not Membership.objects.filter(project_id=previous.project_id, user=annotator).exists():
        raise NotFound("No such answer to undo.")
    if timezone.now() - previous.created_at > UNDO_WINDOW:
        raise Forbidden("Answers can be undone only shortly after they were given.", code="undo_window_passed")
    if Annotation.objects.filter(replaces=previous).exists():
        raise Conflict("This answer has been corrected already.", code="already_corrected")
    flags = _validate(project=previous.project, label=label, flags=flags or [], valence=valence, arousal=arousal, seconds=seconds)
    try:
        with transaction.atomic():
            annotation = Annotation.objects.create(
                project=previous.project, item_id=previous.item_id, annotator=annotator, assignment_id=previous.assignment_id,
                label=label, flags=flags, valence=valence, arousal=arousal,
                seconds=None if seconds is None else min(seconds, MAX_SECONDS), client_id=client_id, replaces=previous,
                source=source,
            )
    except IntegrityError:
        if Annotation.objects.filter(client_id=client_id).exists():
            return _original(client_id=client_id, annotator=annotator), False
        raise Conflict("This answer has been corrected already.", code="already_corrected") from None
    return annotation, True
