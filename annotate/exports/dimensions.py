"""The valence-arousal and action-unit fields every writer shares (#18), in one place so the formats agree.

A writer adds them only when the version's project asks for the dimension (``ExportInfo.valence_arousal`` /
``ExportInfo.action_units``): a project that asks for neither gets the very bytes it got before. AUs are named
``AU<n>`` everywhere (the names DISFA's and BP4D's files use). A face's consensus is valence and arousal with the
spread of their answers, and per AU the probability it is present and the decision (1 when the probability is at
least ``AU_PRESENT_AT``; null when nobody judged it). An annotator's AU answer is 1 present, 0 absent, null not
judged, and on intensity projects the FACS letter A-E of each present AU.
"""
from __future__ import annotations

from annotate.exports.common import INTENSITY_LETTERS, Answer, ExportInfo, ExportRow, au_name

VA_FIELDS = ("valence", "valence_spread", "arousal", "arousal_spread")


def has_dimensions(info: ExportInfo) -> bool:
    return info.valence_arousal or bool(info.action_units)


def _va(row: ExportRow) -> dict:
    d = row.dimensions
    return {"valence": d.valence, "valence_spread": d.valence_spread, "arousal": d.arousal, "arousal_spread": d.arousal_spread}


def consensus_fields(row: ExportRow, info: ExportInfo) -> dict:
    """The face's consensus as flat JSON fields (nothing for a project without the dimensions)."""
    out = _va(row) if info.valence_arousal else {}
    if info.action_units:
        d = row.dimensions
        out["au_probability"] = {au_name(au): d.au_probability.get(au) for au in info.action_units}
        out["au_present"] = {au_name(au): d.au_present(au) for au in info.action_units}
    return out


def answer_present(answer: Answer, au: int) -> int | None:
    value = (answer.action_units or {}).get(au)
    return None if value is None else int(value > 0)


def answer_intensity(answer: Answer, au: int) -> str | None:
    """The FACS letter of a present AU's intensity (None when absent, not judged, or given without one)."""
    value = (answer.action_units or {}).get(au)
    return INTENSITY_LETTERS[value - 1] if value is not None and 1 <= value <= len(INTENSITY_LETTERS) else None


def answer_fields(answer: Answer, info: ExportInfo) -> dict:
    """One annotator's answer with its dimensions (the pseudonym, never a name)."""
    out = {"annotator": answer.annotator, "label": answer.label, "flags": list(answer.flags), "seconds": answer.seconds}
    if info.valence_arousal:
        out.update(valence=answer.valence, arousal=answer.arousal)
    if info.action_units:
        out["au_present"] = {au_name(au): answer_present(answer, au) for au in info.action_units}
        if info.au_intensity:
            out["au_intensity"] = {au_name(au): answer_intensity(answer, au) for au in info.action_units}
    return out


def csv_header(info: ExportInfo) -> list[str]:
    """The consensus columns a table of faces adds (imagefolder's labels.csv)."""
    out = list(VA_FIELDS) if info.valence_arousal else []
    for au in info.action_units:
        out += [f"{au_name(au)}_probability", f"{au_name(au)}_present"]
    return out


def csv_values(row: ExportRow, info: ExportInfo) -> list:
    blank = lambda x: "" if x is None else x  # noqa: E731
    out = [blank(v) for v in _va(row).values()] if info.valence_arousal else []
    for au in info.action_units:
        out += [blank(row.dimensions.au_probability.get(au)), blank(row.dimensions.au_present(au))]
    return out
