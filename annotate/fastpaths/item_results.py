"""Item results fast path: a quality run's per-item rows by PostgreSQL COPY; twin: `item_results_insert_orm`."""
import json

from django.db import connection
from django.db.models import JSONField

from annotate.models import QualityItemResult


def item_results_insert_postgres(*, run_id: int, rows: list[dict]) -> None:
    """The same rows as `item_results_insert_orm`, streamed with COPY FROM STDIN.

    Hand-written because a run writes one row per item of the project: COPY sends them as one stream,
    with no INSERT statements to build, send and plan per batch.
    """
    if not rows:
        return
    meta = QualityItemResult._meta
    names = list(rows[0])
    fields = [meta.get_field(name) for name in names]
    as_json = [isinstance(field, JSONField) for field in fields]
    columns = ", ".join([meta.get_field("run").column] + [field.column for field in fields])
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([run_id] + [json.dumps(row[n]) if j else row[n] for n, j in zip(names, as_json)])


def item_results_insert_orm(*, run_id: int, rows: list[dict], batch_size: int) -> None:
    """Insert the run's item rows (each a dict of QualityItemResult fields) with bulk_create, `batch_size` a statement.
    The portable twin of `item_results_insert_postgres`."""
    QualityItemResult.objects.bulk_create([QualityItemResult(run_id=run_id, **row) for row in rows], batch_size=batch_size)
