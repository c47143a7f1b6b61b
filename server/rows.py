"""Model instances from hand-written SQL, for the lookups every signed-in API request makes.

Compiling a query through the ORM costs more CPU before the database sees it than the query
itself takes there; the session user and the caller's membership are looked up on every
labelling request. ``RowShape`` builds a model's column list once per database and applies the
converters the ORM would apply (JSON, booleans and datetimes come back as from any queryset, on
SQLite and PostgreSQL alike); ``from_db`` makes the instance as a queryset does.
"""
from __future__ import annotations

from django.db import connections, transaction
from django.db.models import Model
from django.db.models.expressions import Col


class RowShape:
    """The SELECT list and row -> instance conversion of one model under one table alias."""

    def __init__(self, model: type[Model], *, alias: str, using: str = "default"):
        connection = connections[using]
        fields = model._meta.concrete_fields
        self.model, self.width = model, len(fields)
        self.select = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
        self.names = [f.attname for f in fields]
        self.converters = []
        for i, field in enumerate(fields):
            column = Col(alias, field)
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if found:
                self.converters.append((i, found, column))

    def instance(self, row, *, using: str = "default") -> Model:
        connection = connections[using]
        values = list(row)
        for i, found, column in self.converters:
            value = values[i]
            for convert in found:
                value = convert(value, column, connection)
            values[i] = value
        return self.model.from_db(using, self.names, values)


_shapes: dict[tuple, RowShape] = {}


def row_shape(model: type[Model], *, alias: str, using: str = "default") -> RowShape:
    key = (model, alias, using, connections[using].vendor)
    shape = _shapes.get(key)
    if shape is None:
        shape = _shapes[key] = RowShape(model, alias=alias, using=using)
    return shape


def fetch_one(sql: str, params, *shapes: RowShape, using: str = "default") -> list[Model] | None:
    """Run ``sql`` (whose SELECT list is the shapes' ``select`` lists in order); the first row as
    one instance per shape, or None when there is no row."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    out, start = [], 0
    for shape in shapes:
        out.append(shape.instance(row[start:start + shape.width], using=using))
        start += shape.width
    return out


def execute_statement(cursor, sql: str, params, *, using: str = "default") -> None:
    """Run one statement atomically with the fewest round trips. A single statement is atomic on
    its own, so in autocommit mode it runs bare (no BEGIN and COMMIT round trips); inside a
    caller's transaction it runs under a savepoint, so a failure (say a unique violation the
    caller handles) leaves that transaction usable."""
    if connections[using].in_atomic_block:
        with transaction.atomic(using=using):
            cursor.execute(sql, params)
    else:
        cursor.execute(sql, params)
