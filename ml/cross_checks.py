"""Cross-checks between a face's expression, its action units and its valence; per face and per annotator.

Expression against AUs uses the EMFACS-7 prototypes in ml.action_units.EMFACS_PROTOTYPES: a face called E
contradicts its AUs when every key AU of E the project annotates was judged absent (a "happiness" face without
AU12), and a "neutral" face contradicts them when it shows an emotion's whole prototype (two AUs or more, all
annotated and present). Expression against valence uses the pleasure axis of Russell's circumplex (Russell 1980,
"A circumplex model of affect", J. Pers. Soc. Psychol. 39(6)): happiness is pleasant; sadness, anger, fear,
disgust and contempt unpleasant; surprise and neutral can be either and are not checked. A face contradicts
its valence when the value lies at least ``threshold`` on the wrong side of 0.

The same rules score an annotator's own answers (their expression against their own AUs and valence on the
same face): the share of their checkable answers that contradict themselves, with its evidence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.action_units import AU_NAMES, EMFACS_PROTOTYPES
from ml.annotator_bias import BIAS_ALPHA
from ml.valence_arousal import MIN_SHARED_FACES

EXPECTED_VALENCE = {"happiness": 1, "sadness": -1, "anger": -1, "fear": -1, "disgust": -1, "contempt": -1}
VALENCE_THRESHOLD = 0.4  # "strongly" on the wrong side: a fifth of the scale's length past neutral
AU_CONFLICT, VALENCE_CONFLICT = "expression_vs_au", "expression_vs_valence"


@dataclass(frozen=True)
class SelfConsistency:
    """Per annotator (M,): their own expression answers against their own AUs / valence on the same face."""

    checkable: np.ndarray  # int answers where a rule applies (an expression with a rule, its AUs or valence given)
    contradictions: np.ndarray  # int of those, answers that contradict themselves
    share: np.ndarray  # float contradictions / checkable, NaN below MIN_SHARED_FACES checkable answers
    share_lower: np.ndarray  # float one-sided (1 - BIAS_ALPHA) Clopper-Pearson lower bound of the share


def _columns(au_numbers: np.ndarray, wanted) -> list[int]:
    where = {int(n): j for j, n in enumerate(au_numbers)}
    return [where[n] for n in wanted if n in where]


def _au_list(numbers) -> str:
    return " + ".join(f"AU{n}" for n in numbers)


def expression_au_check(expression: np.ndarray, au_present: np.ndarray, *, au_numbers, class_names,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """expression int (R,) class index into class_names (-1 = none), au_present int (R, U) 1 / 0 / -1 (not
    judged) over au_numbers -> (conflict bool (R,), checkable bool (R,)). A row is checkable when its expression
    has a rule and every AU the rule reads (within au_numbers) was judged."""
    expression = np.asarray(expression, dtype=np.int64)
    au_present = np.asarray(au_present)
    au_numbers = np.asarray(au_numbers, dtype=np.int64)
    conflict = np.zeros(len(expression), dtype=bool)
    checkable = np.zeros(len(expression), dtype=bool)
    names = list(class_names)
    for index, name in enumerate(names):
        rows = expression == index
        if not rows.any():
            continue
        if name in EMFACS_PROTOTYPES:
            key = _columns(au_numbers, EMFACS_PROTOTYPES[name][1])
            if not key:
                continue
            judged = (au_present[:, key] >= 0).all(axis=1)
            absent = (au_present[:, key] == 0).all(axis=1)
            checkable |= rows & judged
            conflict |= rows & judged & absent
        elif name == "neutral":
            full = _neutral_prototypes(au_numbers)
            if not full:
                continue
            columns = sorted({j for cols in full.values() for j in cols})
            judged = (au_present[:, columns] >= 0).all(axis=1)
            shows = np.zeros(len(expression), dtype=bool)
            for cols in full.values():
                shows |= (au_present[:, cols] == 1).all(axis=1)
            checkable |= rows & judged
            conflict |= rows & judged & shows
    return conflict, checkable


def _neutral_prototypes(au_numbers: np.ndarray) -> dict[str, list[int]]:
    """Emotions whose whole prototype (two AUs or more) the project annotates -> their columns."""
    out = {}
    for emotion, (prototype, _) in EMFACS_PROTOTYPES.items():
        columns = _columns(au_numbers, prototype)
        if len(prototype) >= 2 and len(columns) == len(prototype):
            out[emotion] = columns
    return out


def expression_au_reason(name: str, present_row: np.ndarray, *, au_numbers) -> str:
    """Why one row (its expression's name, au_present (U,)) contradicts its AUs, in a lead's words."""
    au_numbers = np.asarray(au_numbers, dtype=np.int64)
    shown = [emotion for emotion, cols in _neutral_prototypes(au_numbers).items()
             if emotion != name and (np.asarray(present_row)[cols] == 1).all()]
    also = f"; it shows the {', '.join(shown)} prototype" + ("s" if len(shown) > 1 else "") if shown else ""
    if name == "neutral":
        parts = [f"{e} ({_au_list(EMFACS_PROTOTYPES[e][0])})" for e in shown]
        return f"labelled neutral but shows the whole EMFACS prototype of {', '.join(parts)}"
    prototype, key = EMFACS_PROTOTYPES[name]
    key = [n for n in key if n in set(au_numbers.tolist())]
    missing = " or ".join(f"AU{n} ({AU_NAMES[n].lower()})" for n in key)
    return f"labelled {name} but {missing} judged absent (EMFACS prototype {_au_list(prototype)}){also}"


def expression_valence_check(expression: np.ndarray, valence: np.ndarray, *, class_names,
                             threshold: float = VALENCE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """expression int (R,), valence float (R,) (NaN = none) -> (conflict bool (R,), checkable bool (R,))."""
    expression = np.asarray(expression, dtype=np.int64)
    valence = np.asarray(valence, dtype=float)
    sign_of = np.array([EXPECTED_VALENCE.get(name, 0) for name in class_names] + [0])
    sign = sign_of[np.where(expression >= 0, expression, len(sign_of) - 1)]
    checkable = (sign != 0) & ~np.isnan(valence)
    with np.errstate(invalid="ignore"):
        conflict = checkable & (sign * valence <= -threshold)
    return conflict, checkable


def expression_valence_reason(name: str, valence: float) -> str:
    side = "pleasant" if EXPECTED_VALENCE[name] > 0 else "unpleasant"
    return f"labelled {name} (expected {side}) but valence is {valence:+.2f}"


def face_issues(expression: np.ndarray, *, class_names, au_present: np.ndarray | None = None, au_numbers=(),
                valence: np.ndarray | None = None, threshold: float = VALENCE_THRESHOLD):
    """Consensus against consensus per face: expression int (N,) (-1 = none), au_present int (N, U) 1 / 0 / -1,
    valence float (N,) (NaN = none) -> (item int (I,), kind str (I,), reason str (I,)); a face can have both kinds."""
    expression = np.asarray(expression, dtype=np.int64)
    names = list(class_names)
    items, kinds, reasons = [], [], []
    if au_present is not None and len(au_numbers):
        conflict, _ = expression_au_check(expression, au_present, au_numbers=au_numbers, class_names=names)
        for i in np.flatnonzero(conflict):
            items.append(i), kinds.append(AU_CONFLICT)
            reasons.append(expression_au_reason(names[expression[i]], np.asarray(au_present)[i], au_numbers=au_numbers))
    if valence is not None:
        conflict, _ = expression_valence_check(expression, valence, class_names=names, threshold=threshold)
        for i in np.flatnonzero(conflict):
            items.append(i), kinds.append(VALENCE_CONFLICT)
            reasons.append(expression_valence_reason(names[expression[i]], float(valence[i])))
    order = np.argsort(np.asarray(items, dtype=np.int64), kind="stable")
    return (np.asarray(items, dtype=np.int64)[order], np.asarray(kinds, dtype=object)[order],
            np.asarray(reasons, dtype=object)[order])


def annotator_self_consistency(annotator: np.ndarray, expression: np.ndarray, *, num_annotators: int, class_names,
                               au_present: np.ndarray | None = None, au_numbers=(), valence: np.ndarray | None = None,
                               threshold: float = VALENCE_THRESHOLD) -> SelfConsistency:
    """One row per answer that holds an expression: annotator int (A,), expression int (A,), and that same
    answer's au_present int (A, U) and / or valence float (A,) (NaN = not given). An answer contradicts itself
    when either rule finds a conflict; it is checkable when either rule applies."""
    from scipy.stats import beta

    annotator = np.asarray(annotator, dtype=np.int64)
    conflict = np.zeros(len(annotator), dtype=bool)
    checkable = np.zeros(len(annotator), dtype=bool)
    if au_present is not None and len(au_numbers):
        c, k = expression_au_check(expression, au_present, au_numbers=au_numbers, class_names=class_names)
        conflict |= c
        checkable |= k
    if valence is not None:
        c, k = expression_valence_check(expression, valence, class_names=class_names, threshold=threshold)
        conflict |= c
        checkable |= k
    n = np.bincount(annotator[checkable], minlength=num_annotators)
    x = np.bincount(annotator[conflict & checkable], minlength=num_annotators)
    evident = n >= MIN_SHARED_FACES
    share = np.where(evident, x / np.maximum(n, 1), np.nan)
    lower = np.where(x > 0, beta.ppf(BIAS_ALPHA, np.maximum(x, 1), n - x + 1), 0.0)
    return SelfConsistency(checkable=n, contradictions=x, share=share, share_lower=np.where(evident, lower, np.nan))
