"""Quality-run columns fast path: a run's items, answers and predictions read into numpy by PostgreSQL binary COPY;
twins: the `*_orm` functions.

Hand-written because a run reads every face, answer and prediction of its project: at a million faces and three
million answers the ORM makes a Python tuple per row (and decodes each prediction's JSON list), seconds and
gigabytes before any maths. The SQL turns every value into a non-null 8-byte number (labels and splits into their
index, NULL into a sentinel, JSON into its numbers), so the binary COPY stream is one fixed-size record per row
that numpy reads in place. Both twins return the same dict of arrays; tests/annotate/test_fastpaths.py compares them.
"""
from __future__ import annotations

import numpy as np
from django.db import connection

from annotate.models import Annotation, Item, Prediction

CHUNK = 20_000
# PostgreSQL's binary COPY: an 11-byte signature, a 32-bit flags field and a 32-bit header-extension length.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _copy_columns(sql: str, params: list, kinds: str) -> list[np.ndarray]:
    """Run ``COPY (sql) TO STDOUT (FORMAT binary)``; kinds holds one letter per selected column, "i" for int8
    and "f" for float8, none of them NULL -> one native int64 / float64 array per column."""
    fields = [("count", ">i2")]
    for j, kind in enumerate(kinds):
        fields += [(f"l{j}", ">i4"), (f"v{j}", ">i8" if kind == "i" else ">f8")]
    record = np.dtype(fields)
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
        for block in copy:
            buffer += block
    if not buffer.startswith(_SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    start = 19 + int.from_bytes(buffer[15:19], "big")
    rows = np.frombuffer(buffer, dtype=record, count=(len(buffer) - start - 2) // record.itemsize, offset=start)
    if (rows["count"] != len(kinds)).any() or any((rows[f"l{j}"] != 8).any() for j in range(len(kinds))):
        raise ValueError("a column came back NULL or not 8 bytes wide")
    return [rows[f"v{j}"].astype(np.int64 if kind == "i" else np.float64) for j, kind in enumerate(kinds)]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def item_columns_postgres(*, project_id: int, labels: list[str], splits: list[str]) -> dict[str, np.ndarray]:
    """The included items in id order: id, split (index into splits), perceptual hash (0 where missing), has_hash
    (0/1), reference and gold label (index into labels, -1 for none or a non-gold item)."""
    c = lambda name: _column(Item, name)  # noqa: E731
    sql = (f"SELECT {c('id')}::int8, COALESCE(array_position(%s::text[], {c('split')}::text), 0)::int8 - 1, "
           f"COALESCE({c('perceptual_hash')}, 0)::int8, ({c('perceptual_hash')} IS NOT NULL)::int::int8, "
           f"COALESCE(array_position(%s::text[], {c('reference_label')}::text), 0)::int8 - 1, "
           f"CASE WHEN {c('is_gold')} THEN COALESCE(array_position(%s::text[], {c('gold_label')}::text), 0)::int8 - 1 "
           f"ELSE -1::int8 END FROM {_table(Item)} WHERE {c('project')} = %s AND NOT {c('excluded')} "
           f"ORDER BY {c('id')}")
    names = ("id", "split", "perceptual_hash", "has_hash", "reference", "gold")
    return dict(zip(names, _copy_columns(sql, [splits, labels, labels, project_id], "iiiiii")))


def item_columns_orm(*, project_id: int, labels: list[str], splits: list[str]) -> dict[str, np.ndarray]:
    """The portable twin of `item_columns_postgres`."""
    label_index, split_index = {x: i for i, x in enumerate(labels)}, {x: i for i, x in enumerate(splits)}
    rows = Item.objects.filter(project_id=project_id, excluded=False).order_by("id").values_list(
        "id", "split", "perceptual_hash", "reference_label", "is_gold", "gold_label")
    out = {name: [] for name in ("id", "split", "perceptual_hash", "has_hash", "reference", "gold")}
    for item_id, split, phash, reference, is_gold, gold in rows.iterator(chunk_size=CHUNK):
        out["id"].append(item_id)
        out["split"].append(split_index.get(split, -1))
        out["perceptual_hash"].append(phash if phash is not None else 0)
        out["has_hash"].append(int(phash is not None))
        out["reference"].append(label_index.get(reference, -1))
        out["gold"].append(label_index.get(gold, -1) if is_gold else -1)
    return {name: np.array(values, dtype=np.int64) for name, values in out.items()}


def answer_columns_postgres(*, project_id: int, watermark: int, labels: list[str], valence_arousal: bool,
                            au_numbers: list[int]) -> dict[str, np.ndarray]:
    """The project's answers with id <= watermark (replaced ones too): id, item, annotator, label (index into
    labels, -1 outside them), replaces (0 for none); with valence_arousal, valence and arousal (NaN where not
    given); with au_numbers, au (A, U) each AU's stored value (-1 where not judged)."""
    c = lambda name: _column(Annotation, name)  # noqa: E731
    parts = [f"{c('id')}::int8", f"{c('item')}::int8", f"{c('annotator')}::int8",
             f"COALESCE(array_position(%s::text[], {c('label')}::text), 0)::int8 - 1",
             f"COALESCE({c('replaces')}, 0)::int8"]
    kinds = "iiiii"
    if valence_arousal:
        parts += [f"COALESCE({c('valence')}, 'NaN')::float8", f"COALESCE({c('arousal')}, 'NaN')::float8"]
        kinds += "ff"
    parts += [f"COALESCE(({c('action_units')} ->> '{int(number)}')::int8, -1)" for number in au_numbers]
    kinds += "i" * len(au_numbers)
    sql = f"SELECT {', '.join(parts)} FROM {_table(Annotation)} WHERE {c('project')} = %s AND {c('id')} <= %s"
    columns = _copy_columns(sql, [labels, project_id, watermark], kinds)
    out = dict(zip(("id", "item", "annotator", "label", "replaces"), columns[:5]))
    if valence_arousal:
        out["valence"], out["arousal"] = columns[5], columns[6]
    if au_numbers:
        out["au"] = np.column_stack(columns[len(kinds) - len(au_numbers):])
    return out


def answer_columns_orm(*, project_id: int, watermark: int, labels: list[str], valence_arousal: bool,
                       au_numbers: list[int]) -> dict[str, np.ndarray]:
    """The portable twin of `answer_columns_postgres`."""
    label_index = {x: i for i, x in enumerate(labels)}
    fields = ["id", "item_id", "annotator_id", "label", "replaces_id"]
    fields += ["valence", "arousal"] if valence_arousal else []
    fields += ["action_units"] if au_numbers else []
    keys = [str(int(n)) for n in au_numbers]
    ints, floats, units = [], [], []
    rows = Annotation.objects.filter(project_id=project_id, id__lte=watermark).values_list(*fields)
    for row in rows.iterator(chunk_size=CHUNK):
        ints.append((row[0], row[1], row[2], label_index.get(row[3], -1), row[4] or 0))
        if valence_arousal:
            floats.append((np.nan if row[5] is None else row[5], np.nan if row[6] is None else row[6]))
        if au_numbers:
            given = row[-1] or {}
            units.append([-1 if given.get(k) is None else int(given[k]) for k in keys])
    table = np.array(ints, dtype=np.int64).reshape(-1, 5)
    out = dict(zip(("id", "item", "annotator", "label", "replaces"), table.T.copy()))
    if valence_arousal:
        values = np.array(floats, dtype=np.float64).reshape(-1, 2)
        out["valence"], out["arousal"] = values[:, 0].copy(), values[:, 1].copy()
    if au_numbers:
        out["au"] = np.array(units, dtype=np.int64).reshape(-1, len(au_numbers))
    return out


def prediction_columns_postgres(*, project_id: int, model_version_id: int,
                                order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The model version's predictions on the project's items -> (item ids int (P,), probabilities float (P, K)
    of the classes at positions ``order`` of each stored list)."""
    p, i = (lambda name: "p." + _column(Prediction, name)), (lambda name: "i." + _column(Item, name))
    parts = [f"{p('item')}::int8"] + [f"({p('probs')} ->> {int(j)})::float8" for j in order]
    sql = (f"SELECT {', '.join(parts)} FROM {_table(Prediction)} p JOIN {_table(Item)} i ON {i('id')} = {p('item')} "
           f"WHERE {p('model_version')} = %s AND {i('project')} = %s")
    columns = _copy_columns(sql, [model_version_id, project_id], "i" + "f" * len(order))
    return columns[0], np.column_stack(columns[1:]) if len(order) else np.zeros((len(columns[0]), 0))


def prediction_columns_orm(*, project_id: int, model_version_id: int,
                           order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The portable twin of `prediction_columns_postgres`."""
    ids, probs = [], []
    rows = Prediction.objects.filter(model_version_id=model_version_id, item__project_id=project_id)
    rows = rows.values_list("item_id", "probs")
    for item_id, row in rows.iterator(chunk_size=CHUNK):
        ids.append(item_id)
        probs.append([float(row[j]) for j in order])
    return np.array(ids, dtype=np.int64), np.array(probs, dtype=np.float64).reshape(-1, len(order))
