"""A quality run's valence-arousal and action-unit part (#18): ml.dimensions over the run's inputs, and its result
as the run stores it (QualityItemResult's dimension columns, QualityAnnotatorResult.dimensions,
QualityRun.summary["dimensions"]; the storage contract is in annotate/models.py's field help and migration 0008).

Every key and column stays empty where the project does not ask for that dimension; NaN is stored as null.
"""
from __future__ import annotations

import math

import numpy as np

from annotate.models import DimensionCheck

SCATTER_DECIMALS = 4


def dimensions_analyse(*, inputs, consensus: np.ndarray):
    """ml.dimensions.analyse_dimensions over the live answers (QualityInputs), each face checked against its consensus
    category; None when the project asks for neither valence-arousal nor action units."""
    if inputs.valence is None and not inputs.au_numbers:
        return None
    from ml.dimensions import analyse_dimensions

    return analyse_dimensions(
        inputs.item_index, inputs.annotator_index, inputs.answer, consensus, num_items=len(inputs.item_ids),
        num_annotators=len(inputs.annotator_ids), class_names=inputs.labels, valence=inputs.valence,
        arousal=inputs.arousal, au_present=inputs.au_present, au_intensity=inputs.au_intensity,
        au_numbers=inputs.au_numbers,
    )


def _num(x, digits: int = 6) -> float | None:
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _check_bits() -> np.ndarray:
    from ml.dimensions import ISSUE_KINDS

    return np.array([int(DimensionCheck[kind.upper()]) for kind in ISSUE_KINDS], dtype=np.int64)


def _rounded(values: np.ndarray) -> list:
    """Values rounded to 6 decimals as one list, NaN as None (vectorised: a run writes one row per face)."""
    out = np.round(values, 6).astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def dimension_item_columns(dims, rows: slice) -> dict[str, list]:
    """QualityItemResult's dimension columns for the faces in ``rows``, one list per column; {} without dimensions."""
    if dims is None:
        return {}
    out = {}
    for name, part in (("valence", dims.valence), ("arousal", dims.arousal)):
        if part is not None:
            out[name] = _rounded(part.consensus.value[rows])
            out[f"{name}_spread"] = _rounded(part.consensus.spread[rows])
    if dims.au_consensus is not None:
        keys = [str(n) for n in dims.au_numbers.tolist()]
        judged = dims.au_consensus.judgements[rows].sum(axis=1) > 0
        probability = _rounded(dims.au_consensus.probability[rows])
        out["action_units"] = [dict(zip(keys, p)) if seen else None for p, seen in zip(probability, judged.tolist())]
    bits = dims.issues[rows].astype(np.int64) @ _check_bits()
    out["checks"] = bits.tolist()
    start = rows.start or 0
    out["check_reasons"] = [dims.reasons.get(start + j, []) if b else [] for j, b in enumerate(out["checks"])]
    return out


def dimension_annotator_figures(dims, a: int) -> dict:
    """QualityAnnotatorResult.dimensions for annotator index ``a``."""
    if dims is None:
        return {}
    out = {}
    for name, part in (("valence", dims.valence), ("arousal", dims.arousal)):
        if part is not None:
            c = part.consensus
            out[name] = {"offset": _num(c.annotator_offset[a]), "offset_bound": _num(c.annotator_offset_bound[a]),
                         "noise": _num(c.annotator_noise[a]), "noise_lower": _num(c.annotator_noise_lower[a]),
                         "shared": int(c.annotator_shared[a])}
    if dims.au_consensus is not None:
        c = dims.au_consensus
        out["action_units"] = {
            str(number): {"sensitivity": _num(c.sensitivity[a, u]),
                          "sensitivity_upper": _num(c.sensitivity_upper[a, u]),
                          "specificity": _num(c.specificity[a, u]),
                          "specificity_upper": _num(c.specificity_upper[a, u]),
                          "positives": int(c.positives[a, u]), "negatives": int(c.negatives[a, u])}
            for u, number in enumerate(dims.au_numbers.tolist())
        }
    if dims.self_consistency is not None:
        s = dims.self_consistency
        out["self_consistency"] = {"checkable": int(s.checkable[a]), "contradictions": int(s.contradictions[a]),
                                   "share": _num(s.share[a]), "share_lower": _num(s.share_lower[a])}
    return out


def dimension_summary(dims, *, inputs, consensus: np.ndarray) -> dict:
    """QualityRun.summary["dimensions"]: agreement per dimension (and per consensus class), per-AU agreement and the
    AU prevalence per expression, issue counts, and a scatter sample of the consensus, so no view scans answers."""
    from ml import action_units as au
    from ml.dimensions import AROUSAL_SPREAD, AU_DISPUTED, ISSUE_KINDS, VALENCE_SPREAD, scatter_sample
    from ml.cross_checks import AU_CONFLICT, VALENCE_CONFLICT

    labels = inputs.labels
    out: dict = {}
    for name, part in (("valence", dims.valence), ("arousal", dims.arousal)):
        if part is None:
            continue
        g = part.agreement
        out[name] = {"alpha": _num(g.alpha), "icc": _num(g.icc), "faces": g.faces, "answers": g.answers,
                     "by_class": {label: {"alpha": _num(g.group_alpha[j]), "icc": _num(g.group_icc[j]),
                                          "faces": int(g.group_faces[j]), "answers": int(g.group_answers[j])}
                                  for j, label in enumerate(labels)}}
    asked = []
    if dims.valence is not None:
        asked += [VALENCE_SPREAD, AROUSAL_SPREAD, VALENCE_CONFLICT]
    if dims.au_agreement is not None:
        g, numbers = dims.au_agreement, dims.au_numbers.tolist()
        out["action_units"] = {
            "numbers": numbers,
            "per_au": {str(n): {"name": au.AU_NAMES[n], "alpha": _num(g.alpha[u]), "prevalence": _num(g.prevalence[u]),
                                "positive_agreement": _num(g.positive_agreement[u]),
                                "intensity_alpha": _num(g.intensity_alpha[u]), "faces": int(g.faces[u]),
                                "judgements": int(g.judgements[u])}
                       for u, n in enumerate(numbers)},
            "by_expression": {"classes": labels, "aus": numbers,
                              "share": [[_num(x) for x in row] for row in dims.au_by_expression.tolist()],
                              "faces": dims.au_expression_faces.tolist()},
        }
        asked += [AU_DISPUTED, AU_CONFLICT]
    counts = dims.issues.sum(axis=0)
    out["checks"] = {kind: int(counts[j]) for j, kind in enumerate(ISSUE_KINDS) if kind in asked}
    # Faces that failed at least one check (checks > 0 on their result row): the issue facets' "any" count, which
    # counted at request time read each such face's heap row (220 ms at 50,000 of a million faces).
    out["checked_faces"] = int(dims.issues.any(axis=1).sum())
    if dims.valence is not None and dims.arousal is not None:
        valence, arousal = dims.valence.consensus.value, dims.arousal.consensus.value
        faces, total = scatter_sample(valence, arousal)
        names = np.array(labels + [""], dtype=object)
        out["scatter"] = {"item": inputs.item_ids[faces].tolist(),
                          "valence": [_num(v, SCATTER_DECIMALS) for v in valence[faces].tolist()],
                          "arousal": [_num(v, SCATTER_DECIMALS) for v in arousal[faces].tolist()],
                          "label": names[consensus[faces]].tolist(), "sampled_from": int(total)}
    return out
