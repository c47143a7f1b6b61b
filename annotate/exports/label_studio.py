"""Label Studio JSON in a zip: ``tasks.json`` (one task per face, every annotator's answer an annotation), its config.

Label Studio's importer takes a list of tasks ``{"data", "annotations", "predictions", "meta"}``; each annotation is
``{"result": [{"from_name", "to_name", "type": "choices", "value": {"choices": [...]}}], "ground_truth", "lead_time"}``.
Images travel inside the tasks as ``data:`` URLs, so a project moved into Label Studio shows its faces without a
storage connection. Annotations carry no ``completed_by`` (Label Studio refuses ids and e-mails it does not know,
and gives the importing user the rest); who answered what is kept under pseudonyms in each task's ``meta``.
``label_config.xml`` is the labelling interface the tasks are written for. An erased face has no image to label:
it has no task (the data card counts it).

A project that asks for valence-arousal or action units gets their controls too, and each answer their results:
valence and arousal as ``Number`` results (-1..1, step 0.01: the slider rounds a value a person moves, but the
exported answers keep every digit); each AU as a single ``Choices`` of present / absent (an AU the annotator did not
judge has no result); on intensity projects each present AU's intensity as a ``Rating`` of 1-5 stars for FACS A-E
(in a View shown once the AU is marked present). Lossy: the letters become star counts, and Label Studio has no place for a
face's consensus of them other than the task's data, where they sit beside the class consensus.
"""
from __future__ import annotations

import base64
import io
import json
from typing import BinaryIO, Iterable
from xml.sax.saxutils import quoteattr

from annotate.exports.common import (
    DATA_CARD_NAME, INTENSITY_LETTERS, Answer, ExportInfo, ExportRow, ZipOut, au_name, png_crop,
)
from annotate.exports.dimensions import answer_intensity, answer_present, consensus_fields
from ml.action_units import AU_NAMES

TASKS_NAME = "tasks.json"
CONFIG_NAME = "label_config.xml"
IMAGE, CHOICE, FLAGS = "image", "expression", "flags"
VALENCE, AROUSAL, PRESENT, ABSENT = "valence", "arousal", "present", "absent"
INTENSITY_SUFFIX = "_intensity"


def _dimension_controls(info: ExportInfo) -> str:
    """The valence / arousal numbers and one present-or-absent choice (and an intensity rating) per AU."""
    out = []
    if info.valence_arousal:
        out += [f'  <Header value="{name.capitalize()} (-1..1)"/>\n  <Number name="{name}" toName="{IMAGE}" min="-1" max="1" '
                f'step="0.01" slider="true"/>' for name in (VALENCE, AROUSAL)]
    for au in info.action_units:
        name = au_name(au)
        title = f"{name} {AU_NAMES.get(au, '')}".strip()
        out.append(f"  <Header value={quoteattr(title)}/>\n"
                   f'  <Choices name="{name}" toName="{IMAGE}" choice="single" showInline="true">\n'
                   f'    <Choice value="{PRESENT}"/>\n    <Choice value="{ABSENT}"/>\n  </Choices>')
        if info.au_intensity:
            out.append(f'  <View visibleWhen="choice-selected" whenTagName="{name}" whenChoiceValue="{PRESENT}">\n'
                       f'    <Rating name="{name}{INTENSITY_SUFFIX}" toName="{IMAGE}" maxRating="5"/>\n  </View>')
    return "".join("\n" + block for block in out)


def label_config(info: ExportInfo) -> str:
    """The Label Studio labelling config: the face, one choice among the labels, and the flags (any number)."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in info.labels)
    flags = "\n".join(f"    <Choice value={quoteattr(flag)}/>" for flag in info.flags)
    flag_block = (f'\n  <Choices name="{FLAGS}" toName="{IMAGE}" choice="multiple" showInline="true">\n{flags}\n  </Choices>'
                  if info.flags else "")
    class_block = (f'\n  <Choices name="{CHOICE}" toName="{IMAGE}" choice="single" showInline="true">\n{choices}\n  </Choices>'
                   if info.labels else "")  # a project without an expression class (#18) asks none
    return (f'<View>\n  <Image name="{IMAGE}" value="${IMAGE}" zoom="true"/>{class_block}'
            f"{flag_block}{_dimension_controls(info)}\n</View>\n")


def _choices(name: str, values: list[str]) -> dict:
    return {"from_name": name, "to_name": IMAGE, "type": "choices", "value": {"choices": values}}


def _dimension_results(answer: Answer, info: ExportInfo) -> list[dict]:
    """An answer's valence, arousal and AUs as Label Studio results (nothing for what it did not give)."""
    out = []
    if info.valence_arousal:
        out += [{"from_name": name, "to_name": IMAGE, "type": "number", "value": {"number": value}}
                for name, value in ((VALENCE, answer.valence), (AROUSAL, answer.arousal)) if value is not None]
    for au in info.action_units:
        present = answer_present(answer, au)
        if present is not None:
            out.append(_choices(au_name(au), [PRESENT if present else ABSENT]))
        letter = answer_intensity(answer, au) if info.au_intensity else None
        if letter is not None:
            out.append({"from_name": au_name(au) + INTENSITY_SUFFIX, "to_name": IMAGE, "type": "rating",
                        "value": {"rating": INTENSITY_LETTERS.index(letter) + 1}})
    return out


def task(row: ExportRow, info: ExportInfo) -> dict:
    """One face as a Label Studio task."""
    annotations = []
    for answer in row.answers:
        result = [_choices(CHOICE, [answer.label])] if info.labels else []
        if answer.flags:
            result.append(_choices(FLAGS, list(answer.flags)))
        result += _dimension_results(answer, info)
        annotations.append({"result": result, "ground_truth": False, "was_cancelled": False, "lead_time": answer.seconds})
    predictions = []
    if row.model_label:
        predictions.append({"model_version": info.model_version or "ferlab", "score": row.model_confidence,
                            "result": [_choices(CHOICE, [row.model_label])]})
    image = "data:image/png;base64," + base64.b64encode(png_crop(row.png)).decode("ascii")
    data = {
        IMAGE: image, "ferlab_id": row.item_id, "split": row.split, "label": row.label, "label_source": row.label_source,
        "soft_label": row.soft_label, "votes": row.votes, "num_answers": row.num_answers, "quality": row.quality,
        "label_issue": row.label_issue, "label_score": row.label_score, "model_confidence": row.model_confidence,
        "flags": row.flags, "reference_label": row.reference_label, "duplicate_group": row.duplicate_group,
        "content_hash": row.content_hash, **consensus_fields(row, info),
    }
    meta = {"ferlab_version": info.version, "ferlab_sha256": info.sha256,
            "annotators": [answer.annotator for answer in row.answers]}
    return {"data": data, "annotations": annotations, "predictions": predictions, "meta": meta}


def write(rows: Iterable[ExportRow], out: BinaryIO, *, info: ExportInfo) -> dict:
    """Stream the task list into the zip, one task per line of the JSON array."""
    faces = answers = erased = 0
    with ZipOut(out, date_time=info.date_time) as zf:
        with zf.open(TASKS_NAME) as member, io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
            text.write("[")
            for row in rows:
                if row.erased:
                    erased += 1
                    continue
                text.write(("\n" if not faces else ",\n") + json.dumps(task(row, info), separators=(",", ":")))
                faces += 1
                answers += len(row.answers)
            text.write("\n]\n")
        zf.write(CONFIG_NAME, label_config(info))
        zf.write(DATA_CARD_NAME, info.data_card)
    return {"faces": faces, "annotations": answers, "erased_left_out": erased, "files": [TASKS_NAME, CONFIG_NAME, DATA_CARD_NAME]}
