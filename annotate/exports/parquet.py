"""Parquet in the Hugging Face ``datasets`` layout, zipped: ``data/<split>-NNNNN-of-NNNNN.parquet`` and a ``README.md``.

Each row embeds its face (the Image feature's ``{bytes, path}``), the final label as a ClassLabel over the
project's labels, the soft label as a list of floats over the expression classes, and every quality column.
The features are declared twice, as ``datasets`` itself writes them: in each file's schema metadata and in the
README's YAML header (with the splits and the data files of each), so ``load_dataset`` on the unzipped folder
needs no options. An erased face keeps its row with an empty image (null): its labels and scores stay countable.
A project that asks for valence-arousal or action units adds, after the other columns, each face's consensus of them
and ``answers``: every annotator's answer with its dimensions (annotate.exports.dimensions). A project that asks no
expression class has no label, soft label or votes columns (a ClassLabel over no names and an empty struct are not
valid), only those dimensions.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import BinaryIO, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from annotate.exports.common import ExportInfo, ExportRow, ZipOut, au_name, hf_split, png_crop
from annotate.exports.dimensions import answer_fields, consensus_fields, has_dimensions

README_NAME = "README.md"
BATCH_ROWS = 1000  # one row group per batch: a reader decodes a thousand faces at a time
SHARD_ROWS = 50_000  # about 100 MB of 48x48 faces per file


def features(info: ExportInfo) -> dict:
    """The ``datasets`` Features of the table, in its own serialisation (``Features.from_dict`` reads it)."""
    value = lambda dtype: {"dtype": dtype, "_type": "Value"}  # noqa: E731
    out = {"image": {"_type": "Image"}}
    if info.labels:  # a project without an expression class (#18) has no label, soft label or votes to declare
        out.update({"label": {"names": list(info.labels), "_type": "ClassLabel"},
                    "soft_label": {"feature": value("float32"), "_type": "List"},
                    "votes": {label: value("int32") for label in info.labels}})
    out.update({
        "num_answers": value("int32"), "quality": value("float32"), "label_issue": value("bool"),
        "label_score": value("float32"), "model_label": value("string"), "model_confidence": value("float32"),
    })
    if info.flags:
        out["flags"] = {flag: value("int32") for flag in info.flags}
    out.update({"reference_label": value("string"), "label_source": value("string"), "duplicate_group": value("int64"),
                "item_id": value("int64"), "content_hash": value("string")})
    out.update(dimension_features(info))
    return out


def _value(dtype: str) -> dict:
    return {"dtype": dtype, "_type": "Value"}


def dimension_features(info: ExportInfo) -> dict:
    """The valence-arousal and AU columns, in the ``datasets`` serialisation (none for a project without them)."""
    if not has_dimensions(info):
        return {}
    per_au = lambda dtype: {au_name(au): _value(dtype) for au in info.action_units}  # noqa: E731
    out, answer = {}, {"annotator": _value("string"), "label": _value("string"),
                       "flags": {"feature": _value("string"), "_type": "List"}, "seconds": _value("float32")}
    if info.valence_arousal:
        out.update({name: _value("float32") for name in ("valence", "valence_spread", "arousal", "arousal_spread")})
        answer.update(valence=_value("float32"), arousal=_value("float32"))
    if info.action_units:
        out.update(au_probability=per_au("float32"), au_present=per_au("int8"))
        answer["au_present"] = per_au("int8")
        if info.au_intensity:
            answer["au_intensity"] = per_au("string")
    out["answers"] = {"feature": answer, "_type": "List"}
    return out


_ARROW = {"float32": pa.float32(), "int8": pa.int8(), "string": pa.string()}


def _arrow_type(feature: dict) -> pa.DataType:
    """The Arrow type of a feature of dimension_features (a Value, a struct of them, or a List)."""
    if feature.get("_type") == "Value":
        return _ARROW[feature["dtype"]]
    if feature.get("_type") == "List":
        return pa.list_(_arrow_type(feature["feature"]))
    return pa.struct([(name, _arrow_type(child)) for name, child in feature.items()])


def _yaml_feature(name: str, feature: dict, indent: str) -> list[str]:
    """One feature of dimension_features as the Hub's YAML spells it."""
    head = f"{indent}- name: {json.dumps(name)}"
    if feature.get("_type") == "Value":
        return [head, f"{indent}  dtype: {feature['dtype']}"]
    if feature.get("_type") == "List" and feature["feature"].get("_type") == "Value":
        return [head, f"{indent}  list: {feature['feature']['dtype']}"]
    key, children = ("list", feature["feature"]) if feature.get("_type") == "List" else ("struct", feature)
    lines = [head, f"{indent}  {key}:"]
    for child, f in children.items():
        lines += _yaml_feature(child, f, indent + "  ")
    return lines


def arrow_schema(info: ExportInfo) -> pa.Schema:
    fields = [
        pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        *([pa.field("label", pa.int64()), pa.field("soft_label", pa.list_(pa.float32())),
           pa.field("votes", pa.struct([(label, pa.int32()) for label in info.labels]))] if info.labels else []),
        pa.field("num_answers", pa.int32()), pa.field("quality", pa.float32()), pa.field("label_issue", pa.bool_()),
        pa.field("label_score", pa.float32()), pa.field("model_label", pa.string()), pa.field("model_confidence", pa.float32()),
    ]
    if info.flags:
        fields.append(pa.field("flags", pa.struct([(flag, pa.int32()) for flag in info.flags])))
    fields += [pa.field("reference_label", pa.string()), pa.field("label_source", pa.string()),
               pa.field("duplicate_group", pa.int64()), pa.field("item_id", pa.int64()), pa.field("content_hash", pa.string())]
    fields += [pa.field(name, _arrow_type(feature)) for name, feature in dimension_features(info).items()]
    metadata = {"huggingface": json.dumps({"info": {"features": features(info)}})}
    return pa.schema(fields, metadata=metadata)


def _record(row: ExportRow, info: ExportInfo, label_index: dict[str, int]) -> dict:
    if info.labels and row.label not in label_index:
        raise ValueError(f"face {row.item_id}: final label {row.label!r} is not one of the labels {list(info.labels)}")
    record = {
        "image": None if row.erased else {"bytes": png_crop(row.png), "path": f"{row.item_id}.png"},
        "num_answers": row.num_answers, "quality": row.quality, "label_issue": row.label_issue, "label_score": row.label_score,
        "model_label": row.model_label or None, "model_confidence": row.model_confidence,
        "reference_label": row.reference_label or None, "label_source": row.label_source,
        "duplicate_group": row.duplicate_group, "item_id": row.item_id, "content_hash": row.content_hash,
    }
    if info.labels:
        record.update(label=label_index[row.label], soft_label=[float(row.soft_label.get(c, 0.0)) for c in info.soft_classes],
                      votes={label: int(row.votes.get(label, 0)) for label in info.labels})
    if info.flags:
        record["flags"] = {flag: int(row.flags.get(flag, 0)) for flag in info.flags}
    if has_dimensions(info):
        record.update(consensus_fields(row, info))
        record["answers"] = [answer_fields(answer, info) for answer in row.answers]
    return record


class _SplitFiles:
    """One split's shards, written to a folder of temporary files (a zip takes one member at a time)."""

    def __init__(self, *, folder: str, split: str, schema: pa.Schema):
        self.folder, self.split, self.schema = folder, split, schema
        self.paths: list[str] = []
        self.batch: list[dict] = []
        self.rows = self.shard_rows = self.num_bytes = 0
        self.writer: pq.ParquetWriter | None = None

    def add(self, record: dict) -> None:
        self.batch.append(record)
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        if self.writer is None or self.shard_rows >= SHARD_ROWS:
            self._close_writer()
            path = os.path.join(self.folder, f"{self.split}-{len(self.paths)}.parquet")
            self.paths.append(path)
            self.writer, self.shard_rows = pq.ParquetWriter(path, self.schema), 0
        table = pa.Table.from_pylist(self.batch, schema=self.schema)
        self.writer.write_table(table)
        self.rows += len(self.batch)
        self.shard_rows += len(self.batch)
        self.num_bytes += table.nbytes
        self.batch = []

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def close(self) -> None:
        self.flush()
        self._close_writer()

    def names(self) -> list[str]:
        n = len(self.paths)
        return [f"data/{self.split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _yaml_features(info: ExportInfo) -> list[str]:
    """The features as the Hub's YAML spells them (strings JSON-quoted, which YAML reads as they are)."""
    q = json.dumps
    lines = ["  features:", "  - name: image", "    dtype: image"]
    if info.labels:
        lines += ["  - name: label", "    dtype:", "      class_label:", "        names:"]
        lines += [f"          {q(str(i))}: {q(label)}" for i, label in enumerate(info.labels)]
        lines += ["  - name: soft_label", "    list: float32", "  - name: votes", "    struct:"]
        lines += [f"    - name: {q(label)}\n      dtype: int32" for label in info.labels]
    for name, dtype in (("num_answers", "int32"), ("quality", "float32"), ("label_issue", "bool"), ("label_score", "float32"),
                        ("model_label", "string"), ("model_confidence", "float32")):
        lines += [f"  - name: {name}", f"    dtype: {dtype}"]
    if info.flags:
        lines += ["  - name: flags", "    struct:"] + [f"    - name: {q(flag)}\n      dtype: int32" for flag in info.flags]
    for name, dtype in (("reference_label", "string"), ("label_source", "string"), ("duplicate_group", "int64"),
                        ("item_id", "int64"), ("content_hash", "string")):
        lines += [f"  - name: {name}", f"    dtype: {dtype}"]
    for name, feature in dimension_features(info).items():
        lines += _yaml_feature(name, feature, "  ")
    return lines


def readme(info: ExportInfo, splits: list[_SplitFiles], *, download_size: int) -> str:
    """The data card with the Hub's ``dataset_info`` and ``configs`` added to its YAML header."""
    header, body = _front_matter(info.data_card)
    lines = ["dataset_info:"] + _yaml_features(info) + ["  splits:"]
    for s in splits:
        lines += [f"  - name: {s.split}", f"    num_bytes: {s.num_bytes}", f"    num_examples: {s.rows}"]
    lines += [f"  download_size: {download_size}", f"  dataset_size: {sum(s.num_bytes for s in splits)}",
              "configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        lines += [f"  - split: {s.split}", f"    path: data/{s.split}-*"]
    yaml = (header.rstrip("\n") + "\n" if header.strip() else "") + "\n".join(lines) + "\n"
    return f"---\n{yaml}---\n{body}"


def _front_matter(card: str) -> tuple[str, str]:
    """(YAML header, body) of a card that may start with a ``---`` block."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end != -1:
            return card[4:end + 1], card[end + 5:]
    return "", card


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    schema = arrow_schema(info)
    label_index = {label: i for i, label in enumerate(info.labels)}
    with tempfile.TemporaryDirectory(prefix="ferlab-parquet-") as folder:
        splits: dict[str, _SplitFiles] = {}
        erased = 0
        for row in rows:
            erased += row.erased
            split = hf_split(row.split)
            if split not in splits:
                splits[split] = _SplitFiles(folder=folder, split=split, schema=schema)
            splits[split].add(_record(row, info, label_index))
        ordered = [splits[name] for name in sorted(splits)]
        for s in ordered:
            s.close()
        download_size = sum(os.path.getsize(p) for s in ordered for p in s.paths)
        with ZipOut(out, date_time=info.date_time) as zf:
            zf.write(README_NAME, readme(info, ordered, download_size=download_size))
            for s in ordered:
                for name, path in zip(s.names(), s.paths):
                    zf.write_file(name, path, compress=False)
    return {"faces": sum(s.rows for s in ordered), "erased_without_image": erased, "splits": {s.split: s.rows for s in ordered},
            "files": [README_NAME] + [name for s in ordered for name in s.names()]}
