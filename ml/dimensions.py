"""Valence-arousal, action units and their cross-checks for one quality run, over plain arrays (#18).

``analyse_dimensions`` combines ml.valence_arousal, ml.action_units and ml.cross_checks the way ml.quality.analyse
combines the class parts: one row per live answer in, one frozen result out. The expression a face is checked
against is its consensus class from the class analysis; an annotator's self-consistency reads their own answers.

Conventions: N faces, M annotators, A answers, C answer categories (``class_names``), U action units.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml import action_units as au
from ml import cross_checks as cc
from ml import valence_arousal as va

# The face issues, in the order of their bits in a quality run's per-face bit set (annotate.models.DimensionCheck).
VALENCE_SPREAD, AROUSAL_SPREAD, AU_DISPUTED = "valence_spread", "arousal_spread", "au_disputed"
ISSUE_KINDS = (VALENCE_SPREAD, AROUSAL_SPREAD, AU_DISPUTED, cc.AU_CONFLICT, cc.VALENCE_CONFLICT)
SCATTER_LIMIT = 3000


@dataclass(frozen=True)
class VADimension:
    """One of valence / arousal: agreement (overall and per consensus class), the consensus and annotator figures."""

    agreement: va.VAAgreement
    consensus: va.VAConsensus


@dataclass(frozen=True)
class DimensionAnalysis:
    """What a run computes beyond the class. A part is None when the project does not ask for it."""

    valence: VADimension | None
    arousal: VADimension | None
    au_numbers: np.ndarray  # int (U,), empty without AUs
    au_agreement: au.AUAgreement | None
    au_consensus: au.AUConsensus | None
    au_by_expression: np.ndarray | None  # float (C, U) share of a consensus class's faces with the AU present
    au_expression_faces: np.ndarray | None  # int (C,) faces of each consensus class with an AU consensus
    issues: np.ndarray  # bool (N, len(ISSUE_KINDS)) which issues each face has
    reasons: dict[int, list[str]]  # face -> one sentence per issue it has, in ISSUE_KINDS order
    dispute_priority: np.ndarray  # float (N,) 1 - the confidence of the face's least sure disputed AU, 0 if none
    self_consistency: cc.SelfConsistency | None  # per annotator; None when nothing can be cross-checked


def analyse_dimensions(item: np.ndarray, annotator: np.ndarray, expression: np.ndarray, consensus: np.ndarray, *,
                       num_items: int, num_annotators: int, class_names, valence: np.ndarray | None = None,
                       arousal: np.ndarray | None = None, au_present: np.ndarray | None = None,
                       au_intensity: np.ndarray | None = None, au_numbers=()) -> DimensionAnalysis:
    """Everything #18 asks of a run, from one row per live answer.

    item, annotator, expression: int (A,), expression the answer's own category (-1 = none); consensus: int (N,)
    each face's consensus category (-1 = none); valence, arousal: float (A,) NaN where not given, None when the
    project does not ask; au_present, au_intensity: int (A, U) as ml.action_units (1 / 0 / -1; 1..5 / 0 / -1), None
    without AUs. Faces get VALENCE_SPREAD / AROUSAL_SPREAD (ml.valence_arousal.va_spread_issues), AU_DISPUTED
    (ml.action_units.au_disputes, one sentence naming every disputed AU), and the consensus cross-checks against
    their consensus class (ml.cross_checks.face_issues).

    ``dispute_priority`` says how much another answer is worth for the AUs, on ActiveLab's scale (1 - the
    confidence in the consensus): a disputed AU is as open as a disputed class. Spreads are left out: a spread
    measures how far the answers lie apart, which more answers estimate better but do not shrink.
    """
    item, annotator, expression = (np.asarray(x, dtype=np.int64) for x in (item, annotator, expression))
    consensus = np.asarray(consensus, dtype=np.int64)
    names = list(class_names)
    n, c = num_items, len(names)
    issues = np.zeros((n, len(ISSUE_KINDS)), dtype=bool)
    reasons: dict[int, list[tuple[int, str]]] = {}

    def flag(kind: str, faces, texts) -> None:
        column = ISSUE_KINDS.index(kind)
        issues[faces, column] = True
        for face, text in zip(np.asarray(faces).tolist(), texts):
            reasons.setdefault(face, []).append((column, str(text)))

    dims = {}
    for name, values in (("valence", valence), ("arousal", arousal)):
        if values is None:
            dims[name] = None
            continue
        answers = va.va_answers_check(item, annotator, values, num_items=n, num_annotators=num_annotators)
        agreement = va.va_agreement(answers, group=consensus, num_groups=c)
        result = va.va_consensus(answers)
        faces, texts = va.va_spread_issues(answers, result, dimension=name)
        flag(VALENCE_SPREAD if name == "valence" else AROUSAL_SPREAD, faces, texts)
        dims[name] = VADimension(agreement=agreement, consensus=result)

    au_numbers = np.asarray(au_numbers, dtype=np.int64)
    agreement = au_result = by_expression = expression_faces = None
    dispute_priority = np.zeros(n)
    if len(au_numbers) and au_present is not None:
        answers = au.au_answers_check(item, annotator, au_present, au_intensity, au_numbers=au_numbers, num_items=n,
                                      num_annotators=num_annotators)
        agreement = au.au_agreement(answers)
        au_result = au.au_consensus(answers)
        faces, numbers, texts = au.au_disputes(answers, au_result)
        if len(faces):
            column = {int(x): j for j, x in enumerate(au_numbers.tolist())}
            p = au_result.probability[faces, [column[int(x)] for x in numbers]]
            np.maximum.at(dispute_priority, faces, 1 - np.maximum(p, 1 - p))
            order = np.argsort(faces, kind="stable")
            starts = np.flatnonzero(np.r_[True, faces[order][1:] != faces[order][:-1]])
            groups = np.split(order, starts[1:])
            flag(AU_DISPUTED, faces[order][starts], ["; ".join(texts[g]) for g in groups])
        by_expression, expression_faces = _au_by_expression(au_result.present, consensus, num_classes=c)

    checked = au_result is not None or dims["valence"] is not None
    if checked:
        faces, kinds, texts = cc.face_issues(
            consensus, class_names=names, au_present=None if au_result is None else au_result.present,
            au_numbers=au_numbers, valence=None if dims["valence"] is None else dims["valence"].consensus.value)
        for kind in (cc.AU_CONFLICT, cc.VALENCE_CONFLICT):
            flag(kind, faces[kinds == kind], texts[kinds == kind])
    own = expression >= 0
    self_consistency = cc.annotator_self_consistency(
        annotator[own], expression[own], num_annotators=num_annotators, class_names=names,
        au_present=None if au_result is None else np.asarray(au_present)[own], au_numbers=au_numbers,
        valence=None if valence is None else np.asarray(valence, dtype=float)[own]) if checked else None
    return DimensionAnalysis(
        valence=dims["valence"], arousal=dims["arousal"], au_numbers=au_numbers, au_agreement=agreement,
        au_consensus=au_result, au_by_expression=by_expression, au_expression_faces=expression_faces, issues=issues,
        reasons={face: [text for _, text in sorted(found, key=lambda x: x[0])] for face, found in reasons.items()},
        dispute_priority=dispute_priority, self_consistency=self_consistency,
    )


def _au_by_expression(present: np.ndarray, consensus: np.ndarray, *, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """present int8 (N, U) consensus 1 / 0 / -1, consensus int (N,) -> (share (C, U) of each class's faces with an
    AU consensus whose AU is present, NaN for a class without such faces; faces (C,))."""
    rows = (consensus >= 0) & (present >= 0).any(axis=1)
    faces = np.bincount(consensus[rows], minlength=num_classes)
    shown = np.zeros((num_classes, present.shape[1]))
    np.add.at(shown, consensus[rows], (present[rows] == 1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(faces[:, None] > 0, shown / np.maximum(faces, 1)[:, None], np.nan)
    return share, faces


def scatter_sample(valence: np.ndarray, arousal: np.ndarray, *, limit: int = SCATTER_LIMIT,
                   seed: int = 0) -> tuple[np.ndarray, int]:
    """Faces with both consensus values (float (N,) each, NaN = none) -> (at most ``limit`` face indices, ascending,
    the same on every run over the same faces; how many faces there were to sample from)."""
    valid = np.flatnonzero(~np.isnan(valence) & ~np.isnan(arousal))
    if len(valid) <= limit:
        return valid, len(valid)
    return np.sort(np.random.default_rng(seed).choice(valid, size=limit, replace=False)), len(valid)
