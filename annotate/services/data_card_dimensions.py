"""The data card's section on valence-arousal and action units (#18), for projects that ask for them.

It says which dimensions the faces carry, the AU set with FACS names, the agreement the version's quality run
measured on each (QualityRun.summary["dimensions"]), how many faces have a consensus, and where every export puts the
consensus and the individual answers (or that a format leaves them out). Projects that ask for neither get no
section, so their cards are unchanged.
"""
from __future__ import annotations

from annotate.exports.common import AU_PRESENT_AT, au_name
from annotate.models import DatasetVersion, QualityItemResult
from annotate.selectors.run_numbers import quality_run_number
from ml.action_units import AU_CATALOGUE

_MOVEMENT = {number: (name, movement) for number, name, movement in AU_CATALOGUE}


def _num(x) -> str:
    return "not computable" if x is None else f"{x:.3f}"


def _thin(faces: int | None, thin_faces: int) -> str:
    return "thin evidence" if (faces or 0) < thin_faces else ""


def _consensus_counts(version: DatasetVersion) -> tuple[int, int]:
    """(faces with a valence-arousal consensus, faces with an AU consensus) among the version's faces."""
    if version.quality_run_id is None:
        return 0, 0
    results = QualityItemResult.objects.filter(run_id=version.quality_run_id, item__dataset_entries__version=version)
    return (results.filter(valence__isnull=False).count(),
            results.filter(action_units__isnull=False).exclude(action_units={}).count())


def _va_agreement(dims: dict, thin_faces: int) -> list[str]:
    out = ["| dimension | group | Krippendorff's alpha (interval) | ICC(1,1) | faces | answers | |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for name in ("valence", "arousal"):
        block = dims.get(name) or {}
        out.append(f"| {name} | all | {_num(block.get('alpha'))} | {_num(block.get('icc'))} | {block.get('faces', 0):,} | "
                   f"{block.get('answers', 0):,} | {_thin(block.get('faces'), thin_faces)} |")
        for label, row in (block.get("by_class") or {}).items():
            out.append(f"| {name} | {label} | {_num(row.get('alpha'))} | {_num(row.get('icc'))} | {row.get('faces', 0):,} | "
                       f"{row.get('answers', 0):,} | {_thin(row.get('faces'), thin_faces)} |")
    return out


def _au_table(numbers: list[int], per_au: dict, intensity: bool, thin_faces: int) -> list[str]:
    head = "| AU | FACS name | movement | alpha | prevalence | positive agreement |" + (" intensity alpha |" if intensity else "")
    out = [head + " faces | judgements | |", "| --- | --- | --- |" + " ---: |" * (3 + intensity) + " ---: | ---: | --- |"]
    for au in numbers:
        name, movement = _MOVEMENT.get(au, ("", ""))
        row = per_au.get(str(au))
        if row is None:
            out.append(f"| {au_name(au)} | {name} | {movement} |" + " |" * (5 + intensity) + " not measured |")
            continue
        cells = [_num(row.get("alpha")), _num(row.get("prevalence")), _num(row.get("positive_agreement"))]
        if intensity:
            cells.append(_num(row.get("intensity_alpha")))
        out.append(f"| {au_name(au)} | {name} | {movement} | " + " | ".join(cells)
                   + f" | {row.get('faces', 0):,} | {row.get('judgements', 0):,} | {_thin(row.get('faces'), thin_faces)} |")
    return out


def _formats(va: bool, aus: bool, intensity: bool, classes: bool) -> list[str]:
    fields = ", ".join((["`valence`, `valence_spread`, `arousal`, `arousal_spread`"] if va else [])
                       + (["`au_probability` and `au_present` (one entry per AU, named `AU<n>`)"] if aus else []))
    answer = ", ".join(["annotator pseudonym", "label", "flags", "seconds"] + (["valence", "arousal"] if va else [])
                       + (["`au_present`"] if aus else []) + (["`au_intensity` (A-E)"] if intensity else []))
    lines = ["Where each export puts them:", "",
             f"- `jsonl`: each face's line adds {fields}, and `answers`: every annotator's answer ({answer});",
             "- `parquet`: the same as columns after `content_hash`; `answers` is a list of structs (declared in the "
             "features, so `datasets` reads them typed);",
             "- `label-studio`: the face's consensus in each task's `data`; every answer's "
             + ", ".join((["valence and arousal as `number` results"] if va else [])
                         + (["each AU judged as a `choices` result, present or absent (an AU not judged has none)"] if aus else [])
                         + (["each present AU's intensity as a `rating` of 1-5 for A-E"] if intensity else []))
             + ". Lossy: " + ("intensity letters become star counts, and " if intensity else "")
             + "Label Studio shows the consensus only as task data, not as an annotation;",
             "- `imagefolder`: the consensus as the last columns of `labels.csv` ("
             + ", ".join((["`valence`, `valence_spread`, `arousal`, `arousal_spread`"] if va else [])
                         + (["`AU<n>_probability`, `AU<n>_present`"] if aus else []))
             + "); no individual answers;",
             "- `fer2013-csv` and `ferplus-csv`: FER2013's and FER+'s fixed layouts have no place for them: left out."]
    if not classes:  # no expression class (#18): the formats laid out by class are not built at all
        lines[-2:] = ["- `imagefolder`, `fer2013-csv` and `ferplus-csv`: laid out by expression class, which this dataset "
                      "has not: not offered."]
    return lines


def dimensions_card(*, version: DatasetVersion, thin_faces: int) -> list[str]:
    """The card's lines on valence-arousal and action units ([] for a project that asks for neither)."""
    project, run = version.project, version.quality_run
    va, numbers = project.valence_arousal, list(project.action_units or ())
    intensity = bool(numbers) and project.au_intensity
    if not va and not numbers:
        return []
    asked = (["the expression class"] if project.labels else []) + (["valence and arousal, each in -1..1 (-1 unpleasant / calm, +1 pleasant / "
                                          "aroused)"] if va else [])
    if numbers:
        asked.append(f"{len(numbers)} FACS action units ({', '.join(au_name(au) for au in numbers)}), each judged present "
                     "or absent" + (", with its intensity A-E when present" if intensity else ""))
    out = ["## Valence-arousal and action units", "", "Dimensions of every face: " + "; ".join(asked) + ".", ""]
    if not project.labels:
        out += ["The dataset has no expression class: the project asks none, so these dimensions are all it holds.", ""]
    if run is None:
        return out + ["No quality run was used: there is no consensus or agreement for these dimensions, and the exports "
                      "carry none (null)."]
    with_va, with_au = _consensus_counts(version)
    counted = ([f"valence-arousal for {with_va:,}"] if va else []) + ([f"action units for {with_au:,}"] if numbers else [])
    out += [f"Consensus per face, from quality run #{quality_run_number(run=run)} ({' and '.join(counted)} of the version's "
            "faces; null elsewhere): "
            + ("valence and arousal weighted by each annotator's reliability and resistant to outliers, with their spread "
               "(root mean square distance of the answers from their mean)" if va else "")
            + ("; " if va and numbers else "")
            + (f"per AU, the probability it is present (Dawid-Skene over the annotators) and the decision, present when "
               f"that probability is at least {AU_PRESENT_AT}" if numbers else "")
            + ". An annotator's AU answer is 1 present, 0 absent, null not judged.", ""]
    dims = (run.summary or {}).get("dimensions")
    if not dims:
        out += [f"Quality run #{quality_run_number(run=run)} measured no agreement on these dimensions.", ""]
    else:
        out.append("### Agreement on them")
        if va:
            out += [""] + _va_agreement(dims, thin_faces)
        if numbers:
            block = dims.get("action_units") or {}
            out += [""] + _au_table(numbers, block.get("per_au") or {}, intensity, thin_faces)
        checks = dims.get("checks") or {}
        if checks:
            out += ["", "Faces the run flagged: " + ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in checks.items()) + "."]
        out += [f"Figures over fewer than {thin_faces} faces are marked thin evidence: they can move a lot with more answers.", ""]
    return out + _formats(va, bool(numbers), intensity, bool(project.labels))
