"""Submit fast path: answer a live lease in two PostgreSQL statements and no transaction; twin: `answer_store_orm`."""
import json
from types import SimpleNamespace

from django.db import connection
from django.db.models import F

from annotate.fastpaths.lease import lease_uncount
from annotate.models import Annotation, Assignment, AssignmentStatus, Item, Membership, Project
from server.rows import execute_statement

_TABLES = {"assignment": Assignment._meta.db_table, "project": Project._meta.db_table,
           "membership": Membership._meta.db_table, "item": Item._meta.db_table, "annotation": Annotation._meta.db_table}

_RULES_SQL = """
SELECT p.labels, p.flags, p.valence_arousal, p.action_units, p.au_intensity FROM {assignment} a
JOIN {project} p ON p.id = a.project_id
JOIN {membership} m ON m.project_id = a.project_id AND m.user_id = %(annotator)s
WHERE a.id = %(assignment)s AND a.annotator_id = %(annotator)s AND a.status = %(open)s AND a.expires_at > %(now)s
""".format(**_TABLES)

_STORE_SQL = """
WITH closed AS (
    UPDATE {assignment} SET status = %(answered)s, closed_at = %(now)s
    WHERE id = %(assignment)s AND annotator_id = %(annotator)s AND status = %(open)s AND expires_at > %(now)s
    RETURNING id, item_id, project_id, is_gold
), counted AS (
    UPDATE {item} i SET answer_count = i.answer_count + 1,
        lease_count = CASE WHEN c.is_gold THEN i.lease_count ELSE GREATEST(i.lease_count - 1, 0) END
    FROM closed c WHERE i.id = c.item_id
    RETURNING i.id
)
INSERT INTO {annotation} (project_id, item_id, annotator_id, assignment_id, label, flags, valence, arousal,
                          action_units, seconds, client_id, replaces_id, source, created_at)
SELECT c.project_id, c.item_id, %(annotator)s, c.id, %(label)s, %(flags)s::jsonb, %(valence)s, %(arousal)s,
       %(action_units)s::jsonb, %(seconds)s, %(client_id)s, NULL, %(source)s, %(now)s
FROM closed c
RETURNING id, project_id, item_id
""".format(**_TABLES)


def submit_rules_postgres(*, assignment_id: int, annotator_id: int, now) -> SimpleNamespace | None:
    """What the answer is validated against (the project's labels, flags, valence_arousal, action_units and
    au_intensity), read only while the lease is the annotator's, open and live and they are a member; None otherwise
    (the general path decides).

    Hand-written so that the common submit compiles no ORM query; the general path reads the same under a lock.
    """
    params = {"assignment": assignment_id, "annotator": annotator_id, "now": now, "open": AssignmentStatus.OPEN.value}
    with connection.cursor() as cursor:
        cursor.execute(_RULES_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    labels, flags, valence_arousal, action_units, au_intensity = (
        json.loads(v) if isinstance(v, str) else v for v in row)
    return SimpleNamespace(labels=labels, flags=flags, valence_arousal=valence_arousal, action_units=action_units,
                           au_intensity=au_intensity)


def answer_store_postgres(*, assignment_id: int, annotator, now, answer: dict) -> Annotation | None:
    """The same writes as `answer_store_orm` in one statement: close the lease, store the answer, count it on the
    item (uncounting the lease); None when the lease is no longer open and live (the general path decides).

    Hand-written so the common submit needs no transaction: one statement is atomic by itself, so there are
    no BEGIN / COMMIT round trips and no row lock held across them; its WHERE re-checks the lease instead.
    `answer` holds the validated label, flags, valence, arousal, action_units, seconds, client_id and source.
    """
    action_units = None if answer["action_units"] is None else json.dumps(answer["action_units"])
    params = {**answer, "flags": json.dumps(answer["flags"]), "action_units": action_units, "assignment": assignment_id,
              "annotator": annotator.pk, "now": now, "open": AssignmentStatus.OPEN.value,
              "answered": AssignmentStatus.ANSWERED.value}
    with connection.cursor() as cursor:
        execute_statement(cursor, _STORE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pk, project_id, item_id = row
    return Annotation(pk=pk, project_id=project_id, item_id=item_id, annotator=annotator, assignment_id=assignment_id,
                      created_at=now, **answer)


def answer_store_orm(*, assignment: Assignment, annotator, now, answer: dict) -> Annotation:
    """Store the answer for the lease, count it on the item (uncounting the lease if it is still counted) and close
    the lease as answered. The portable twin of `answer_store_postgres`; the caller holds the lock on the lease
    and has checked it (it may have lapsed or been skipped: a late answer that still fits)."""
    annotation = Annotation.objects.create(
        project=assignment.project, item_id=assignment.item_id, annotator=annotator, assignment=assignment, **answer
    )
    # The row lock taken by this UPDATE serialises it with leasing, which locks the same row.
    uncount = lease_uncount(assignment=assignment, now=now)
    Item.objects.filter(pk=assignment.item_id).update(answer_count=F("answer_count") + 1, **uncount)
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.ANSWERED, closed_at=now)
    return annotation
