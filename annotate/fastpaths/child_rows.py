"""Child rows fast path: the rows a parent writes once (a quality run's item results, a dataset version's
entries) by PostgreSQL COPY; twin: `child_rows_insert_orm`."""
import itertools
import json
from collections.abc import Iterable

from django.db import connection
from django.db.models import JSONField, Model


def child_rows_insert_postgres(*, model: type[Model], parent: str, parent_id: int, rows: Iterable[dict]) -> None:
    """The same rows as `child_rows_insert_orm`, streamed with COPY FROM STDIN.

    Hand-written because a run or a version writes one row per face of the project: COPY sends them as one
    stream, with no INSERT statements to build, send and plan per batch (and no model instances to make).
    The rows may come from a generator (each with the first row's keys), read once as they are sent.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    meta = model._meta
    names = list(first)
    fields = [meta.get_field(name) for name in names]
    as_json = [isinstance(field, JSONField) for field in fields]
    columns = ", ".join([meta.get_field(parent).column] + [field.column for field in fields])
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in itertools.chain([first], rows):
            copy.write_row([parent_id] + [json.dumps(row[n]) if j else row[n] for n, j in zip(names, as_json)])


def child_rows_insert_orm(*, model: type[Model], parent: str, parent_id: int, rows: Iterable[dict],
                          batch_size: int) -> None:
    """Insert the rows (each a dict of the model's fields) under their parent with bulk_create, `batch_size` a
    statement, making the instances of one batch at a time. The portable twin of `child_rows_insert_postgres`."""
    attname = model._meta.get_field(parent).attname
    rows = iter(rows)
    while batch := [model(**{attname: parent_id}, **row) for row in itertools.islice(rows, batch_size)]:
        model.objects.bulk_create(batch, batch_size=batch_size)


def child_rows_insert(*, model: type[Model], parent: str, parent_id: int, rows: Iterable[dict],
                      batch_size: int) -> None:
    """The caller's one choice between the two: COPY where the fast paths run, bulk_create elsewhere."""
    from annotate import fastpaths

    if fastpaths.enabled():
        child_rows_insert_postgres(model=model, parent=parent, parent_id=parent_id, rows=rows)
    else:
        child_rows_insert_orm(model=model, parent=parent, parent_id=parent_id, rows=rows, batch_size=batch_size)
