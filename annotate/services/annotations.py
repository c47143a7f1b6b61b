"""Answers: submit one for a lease (idempotent by client id), correct the last one (undo), all append-only."""
import math
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate import fastpaths
from annotate.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from annotate.fastpaths.submit import answer_store_orm, answer_store_postgres, submit_rules_postgres
from annotate.models import Annotation, Assignment, AssignmentStatus, Item, Membership, Project
from annotate.services.assignments import leases_count_exact

# How long after an answer the annotator may still undo it (a correcting answer, never a deletion).
UNDO_WINDOW = timedelta(minutes=2)
# Time taken is clipped so that a face left open over lunch does not ruin the annotator's median.
MAX_SECONDS = 3600.0


def _number(value) -> bool:
    """A JSON number: bools and numeric strings are refused rather than read as 1.0 or parsed."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(*, project, label: str, flags: list[str], valence, arousal, action_units,
              seconds) -> tuple[list[str], dict | None]:
    """The one set of rules an answer keeps, on the fast path, the general path and for corrections alike:
    `project` is the Project or the fast path's row of it. Returns the stored flags and action units."""
    if not project.labels:
        if label:
            raise ValidationFailed("This project asks for no expression class: leave label out (or empty).",
                                   code="label_not_asked")
    elif label not in project.labels:
        raise ValidationFailed(f"{label!r} is not one of this project's labels.", code="invalid_label")
    unknown = [flag for flag in flags if flag not in project.flags]
    if unknown:
        raise ValidationFailed(f"Unknown flags: {', '.join(map(str, unknown))}.", code="invalid_flags")
    if project.valence_arousal:
        for name, value in (("valence", valence), ("arousal", arousal)):
            if value is not None and not (_number(value) and math.isfinite(value) and -1 <= value <= 1):
                raise ValidationFailed(f"{name} must be a number between -1 and 1.", code="invalid_valence_arousal",
                                       details={"field": name})
    elif valence is not None or arousal is not None:
        raise ValidationFailed("This project does not ask for valence and arousal.", code="invalid_valence_arousal")
    if seconds is not None and not (_number(seconds) and math.isfinite(seconds) and seconds >= 0):
        raise ValidationFailed("seconds must be a non-negative number.", code="invalid_seconds")
    flags = sorted(set(flags), key=project.flags.index)
    stored = _validate_action_units(project=project, action_units=action_units)
    if not project.labels and valence is None and arousal is None and stored is None:
        # Without a class, an answer with no dimension would be an empty row that every analysis skips.
        raise ValidationFailed("This project asks for no expression class: give valence-arousal or action units.",
                               code="empty_answer")
    return flags, stored


def _validate_action_units(*, project, action_units) -> dict | None:
    """{"<AU>": value} keyed by the AU's number as the project asks it, in ascending AU order; None for no AUs.

    Values: 0 absent, 1 present; 1-5 = FACS intensity A-E where the project asks for intensity. An AU left out was
    not judged."""
    action_units = _au_sent(action_units)
    if action_units is None:
        return None
    if not project.action_units:
        raise ValidationFailed("This project does not ask for action units.", code="action_units_not_asked")
    if not isinstance(action_units, dict):
        raise ValidationFailed('action_units must be an object {"<AU number>": value}.', code="invalid_action_units")
    numbers = {}
    for key in action_units:  # the canonical spelling only ("12", not "012", "12.0" or 12), so repeats compare equal
        if not (type(key) is str and key.isdigit() and key.isascii() and (key[0] != "0" or key == "0")):
            raise ValidationFailed(f'{key!r} is not an action unit number (e.g. "12" for AU12).',
                                   code="invalid_action_units", details={"key": key})
        numbers[int(key)] = key
    unasked = sorted(set(numbers) - set(project.action_units))
    if unasked:
        raise ValidationFailed(
            f"This project does not ask for {', '.join(f'AU{n}' for n in unasked)}; it asks for "
            f"{', '.join(f'AU{n}' for n in project.action_units)}.",
            code="action_unit_not_asked", details={"action_units": unasked},
        )
    top, scale = (5, "1-5 = intensity A-E") if project.au_intensity else (1, "1 present")
    stored = {}
    for number in sorted(numbers):
        value = action_units[numbers[number]]
        # Exact types, not _number: this runs per AU on every submit (bools are ints to isinstance, not to type).
        whole = type(value) is int or (type(value) is float and math.isfinite(value) and value.is_integer())
        if whole and 1 < value <= 5 and top == 1:
            raise ValidationFailed(f"AU{number}: this project asks only whether an AU is present (0 or 1), not its "
                                   "intensity.", code="au_intensity_not_asked", details={"action_unit": number})
        if not (whole and 0 <= value <= top):
            raise ValidationFailed(f"AU{number}: give a whole number, 0 absent or {scale}.", code="invalid_au_value",
                                   details={"action_unit": number})
        stored[str(number)] = int(value)
    return stored


def _au_sent(action_units):
    """An empty object says no more than leaving the AUs out: both are stored (and compared on a repeat) as None."""
    return None if action_units is None or action_units == {} else action_units


def _original(*, client_id: uuid.UUID, annotator, payload: dict | None = None) -> Annotation:
    """The answer stored earlier under this client id: a repeated submit gets it back, but only
    a true repeat: the same client id with a different answer is a 409, never the old answer."""
    existing = Annotation.objects.filter(client_id=client_id).first()
    if existing is None:
        raise Conflict("The answer could not be stored; try again.", code="retry")
    if existing.annotator_id != annotator.pk:
        raise Conflict("This client id belongs to another answer.", code="client_id_taken")
    def stored(name):
        return existing.replaces.client_id if name == "replaces" and existing.replaces_id else getattr(existing, name, None)

    if payload is not None and any(_differs(stored(k), v) for k, v in payload.items()):
        raise Conflict("This client id was used for a different answer.", code="client_id_reused")
    return existing


def _differs(stored, sent) -> bool:
    if isinstance(stored, list) or isinstance(sent, list):
        return sorted(stored or []) != sorted(sent or [])
    return stored != sent


def _payload(*, label, flags, valence, arousal, action_units, **where) -> dict:
    """What a repeat must match (time taken may be measured again by a retrying client, so it is left out)."""
    return dict(label=label, flags=flags or [], valence=valence, arousal=arousal, action_units=_au_sent(action_units),
                **where)


def annotation_submit(
    *,
    annotator,
    assignment_id: int,
    client_id: uuid.UUID,
    label: str,
    flags: list[str] | None = None,
    valence: float | None = None,
    arousal: float | None = None,
    action_units: dict | None = None,
    seconds: float | None = None,
    source: str = "web",
) -> tuple[Annotation, bool]:
    """Store the annotator's answer for their lease; returns (answer, created).

    A repeated submit (same client id) returns the original and creates nothing. A submit on an
    expired lease is accepted only while the face is still below target counting others' live
    leases, so a face never gets more than k answers.
    """
    fields = dict(annotator=annotator, assignment_id=assignment_id, client_id=client_id, label=label, flags=flags or [],
                  valence=valence, arousal=arousal, action_units=action_units, seconds=seconds, source=source)
    payload = _payload(label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                       assignment_id=assignment_id)
    try:
        if fastpaths.enabled():
            annotation = _submit_live(**fields)
            if annotation is not None:
                return annotation, True
        return _submit(**fields)
    except IntegrityError:
        # Two copies of one submit raced (client id) or the lease was answered under another id.
        existing = Annotation.objects.filter(client_id=client_id).first()
        if existing is not None:
            return _original(client_id=client_id, annotator=annotator, payload=payload), False
        raise Conflict("This face is answered already.", code="already_answered") from None


def _submit_live(*, annotator, assignment_id, client_id, label, flags, valence, arousal, action_units, seconds,
                 source) -> Annotation | None:
    """The common case on PostgreSQL, a live lease answered once, by the submit fast path (no transaction);
    None when the lease is not the annotator's, open and live, which leaves the decision to `_submit`."""
    now = timezone.now()
    project = submit_rules_postgres(assignment_id=assignment_id, annotator_id=annotator.pk, now=now)
    if project is None:
        return None
    flags, action_units = _validate(project=project, label=label, flags=flags, valence=valence, arousal=arousal,
                                    action_units=action_units, seconds=seconds)
    answer = _answer(label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                     seconds=seconds, client_id=client_id, source=source)
    return answer_store_postgres(assignment_id=assignment_id, annotator=annotator, now=now, answer=answer)


def _answer(*, label, flags, valence, arousal, action_units, seconds, client_id, source) -> dict:
    """The stored fields of a validated answer."""
    return dict(label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                seconds=None if seconds is None else min(seconds, MAX_SECONDS), client_id=client_id, source=source)


def _submit(*, annotator, assignment_id, client_id, label, flags, valence, arousal, action_units, seconds,
            source) -> tuple[Annotation, bool]:
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
                return _original(client_id=client_id, annotator=annotator, payload=_payload(
                    label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                    assignment_id=assignment_id)), False
            raise Conflict("This face is answered already; undo the answer instead.", code="already_answered")
        flags, action_units = _validate(project=project, label=label, flags=flags, valence=valence, arousal=arousal,
                                        action_units=action_units, seconds=seconds)
        if assignment.status == AssignmentStatus.SKIPPED or assignment.expires_at <= now:
            if Membership.objects.filter(project=project, user=annotator, paused=True).exists():
                # Pausing released their leases; an answer to a face they still had on screen no longer counts.
                raise Forbidden("A lead paused your work on this project: this answer was not saved.", code="paused")
            _check_late_submit(project=project, assignment=assignment, now=now)
        answer = _answer(label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                         seconds=seconds, client_id=client_id, source=source)
        annotation = answer_store_orm(assignment=assignment, annotator=annotator, now=now, answer=answer)
    return annotation, True


def _check_late_submit(*, project: Project, assignment: Assignment, now) -> None:
    """A lapsed (or skipped) lease counts only if the face still has room once others' live leases count."""
    item = (
        Item.objects.select_for_update(no_key=True)
        .filter(pk=assignment.item_id)
        .values("excluded", "erased_at", "answer_count", "extra_answers")
        .first()
    )
    if item is not None and item["erased_at"] is not None:
        raise Conflict("This face was erased on a lead's request: it takes no more answers.", code="face_erased")
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
    action_units: dict | None = None,
    seconds: float | None = None,
    source: str = "web",
) -> tuple[Annotation, bool]:
    """Undo: a new answer that replaces the annotator's answer with client id `replaces`.

    Allowed within UNDO_WINDOW of that answer, once per answer (the database holds that); the
    face's answer count does not change because the annotator still has exactly one live answer.
    """
    payload = _payload(label=label, flags=flags, valence=valence, arousal=arousal, action_units=action_units,
                       replaces=replaces)

    def repeat() -> tuple[Annotation, bool] | None:
        """The correction stored under this client id, if any: a replay (even one that raced the first) answers as it did."""
        if Annotation.objects.filter(client_id=client_id).exists():
            return _original(client_id=client_id, annotator=annotator, payload=payload), False
        return None

    if found := repeat():
        return found
    previous = Annotation.objects.select_related("project").filter(client_id=replaces, annotator=annotator).first()
    if previous is None:
        raise NotFound("No such answer to undo.")
    if not Membership.objects.filter(project_id=previous.project_id, user=annotator).exists():
        raise NotFound("No such answer to undo.")
    if timezone.now() - previous.created_at > UNDO_WINDOW:
        raise Forbidden("Answers can be undone only shortly after they were given.", code="undo_window_passed")
    if Annotation.objects.filter(replaces=previous).exists():
        if found := repeat():  # a concurrent copy of this undo committed between the two checks
            return found
        raise Conflict("This answer has been corrected already.", code="already_corrected")
    flags, action_units = _validate(project=previous.project, label=label, flags=flags or [], valence=valence,
                                    arousal=arousal, action_units=action_units, seconds=seconds)
    try:
        with transaction.atomic():
            annotation = Annotation.objects.create(
                project=previous.project, item_id=previous.item_id, annotator=annotator, assignment_id=previous.assignment_id,
                replaces=previous, **_answer(label=label, flags=flags, valence=valence, arousal=arousal,
                                             action_units=action_units, seconds=seconds, client_id=client_id,
                                             source=source),
            )
    except IntegrityError:
        if found := repeat():
            return found
        raise Conflict("This answer has been corrected already.", code="already_corrected") from None
    return annotation, True
