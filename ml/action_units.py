"""Facial action units (FACS): catalogue and presets, per-AU agreement, a weighted consensus, annotator sensitivity.

One row per answer: item int (A,), annotator int (A,), present int (A, U) over the project's AUs ``au_numbers``
(1 = present, 0 = absent, -1 = not judged), optional intensity int (A, U) (1..5 = FACS A..E, 0 = absent,
-1 = not given). N faces, M annotators, U action units; sparse over answers, never faces x annotators.
Evidence bounds as ml.annotator_bias: rates need MIN_SHARED_FACES faces of their kind, and a "low sensitivity"
is read off the one-sided (1 - BIAS_ALPHA) Clopper-Pearson upper bound, so a few misses do not condemn anyone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.agreement import krippendorff_alpha, specific_agreement
from ml.annotator_bias import BIAS_ALPHA
from ml.crowd_sparse import sparse_indices_check
from ml.valence_arousal import MIN_SHARED_FACES, grouped_median, interval_alpha

# (number, FACS name, the movement), after Ekman, Friesen & Hager (2002), FACS Manual.
AU_CATALOGUE = (
    (1, "Inner brow raiser", "raises the inner ends of the eyebrows"),
    (2, "Outer brow raiser", "raises the outer ends of the eyebrows"),
    (4, "Brow lowerer", "lowers the brows and draws them together"),
    (5, "Upper lid raiser", "widens the eye, showing white above the iris"),
    (6, "Cheek raiser", "lifts the cheeks, crow's-feet at the outer eye corners"),
    (7, "Lid tightener", "tightens the lower eyelids"),
    (9, "Nose wrinkler", "wrinkles the nose and lifts the upper lip a little"),
    (10, "Upper lip raiser", "raises the upper lip"),
    (11, "Nasolabial deepener", "deepens the fold from the nose to the mouth corner"),
    (12, "Lip corner puller", "pulls the lip corners up and back (the smile)"),
    (14, "Dimpler", "tightens the lip corners, making dimples"),
    (15, "Lip corner depressor", "pulls the lip corners down"),
    (16, "Lower lip depressor", "pulls the lower lip down"),
    (17, "Chin raiser", "pushes the chin and lower lip up"),
    (20, "Lip stretcher", "stretches the lips sideways"),
    (22, "Lip funneler", "funnels the lips outward"),
    (23, "Lip tightener", "tightens and narrows the lips"),
    (24, "Lip pressor", "presses the lips together"),
    (25, "Lips part", "parts the lips"),
    (26, "Jaw drop", "drops the jaw, opening the mouth"),
    (27, "Mouth stretch", "stretches the mouth wide open"),
)
AU_NAMES = {number: name for number, name, _ in AU_CATALOGUE}
# The AUs the two common benchmarks code: DISFA (Mavadati et al. 2013) and BP4D as in FERA 2015 (Zhang et al. 2014).
PRESETS = {
    "disfa": (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26),
    "bp4d": (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24),
}
# EMFACS-7 prototypes (Friesen & Ekman 1983, EMFACS-7: Emotional Facial Action Coding System, unpublished
# manual, UCSF), as summarised in the emotion table of Wikipedia's "Facial Action Coding System" article:
# expression -> (prototype AUs, key AUs). A face of that expression is expected to show at least one key AU;
# the key is the whole prototype except where one AU defines the expression (a smile needs AU12; AU6 alone is a
# squint). Contempt's prototype is unilateral (R12A + R14A); sides are not annotated, so it reads 12 + 14.
EMFACS_PROTOTYPES = {
    "happiness": ((6, 12), (12,)),
    "sadness": ((1, 4, 15), (1, 4, 15)),
    "surprise": ((1, 2, 5, 26), (1, 2, 5, 26)),
    "fear": ((1, 2, 4, 5, 7, 20, 26), (1, 2, 4, 5, 7, 20, 26)),
    "anger": ((4, 5, 7, 23), (4, 5, 7, 23)),
    "disgust": ((9, 15, 16), (9, 15, 16)),
    "contempt": ((12, 14), (14,)),
}
PRIOR_ANSWERS = 10.0  # pseudo-answers pulling each annotator's sensitivity / specificity toward the crowd's
# (a newcomer's few answers would otherwise set their own rates and confirm themselves)
RATE_CLIP = (0.01, 0.99)
DISPUTE_CONFIDENCE = 0.8  # a split face whose consensus is less sure than this is disputed (a 2-1 split of
# three good annotators is typically 0.96 sure, so only splits among weak or discounted judges, or 1-1 ties, are)
ITERATIONS = 30
TOLERANCE = 1e-3  # on P(present): EM stops when no face's probability moves more in a step


@dataclass(frozen=True)
class AUAnswers:
    item: np.ndarray  # int (A,)
    annotator: np.ndarray  # int (A,)
    present: np.ndarray  # int8 (A, U): 1, 0, -1 = not judged
    intensity: np.ndarray  # int8 (A, U): 1..5, 0, -1 = not given
    au_numbers: np.ndarray  # int (U,)
    num_items: int
    num_annotators: int


@dataclass(frozen=True)
class AUAgreement:
    """Per AU (U,), over faces with two or more judgements of it."""

    alpha: np.ndarray  # float Krippendorff's alpha, nominal (present / absent)
    prevalence: np.ndarray  # float share of judgements that say present (rare AUs make kappa and alpha unstable)
    positive_agreement: np.ndarray  # float chance another judge of the face also says present, given one did
    intensity_alpha: np.ndarray  # float interval alpha of A..E among present judgements with an intensity
    faces: np.ndarray  # int faces with >= 2 judgements
    judgements: np.ndarray  # int judgements on those faces


@dataclass(frozen=True)
class AUConsensus:
    probability: np.ndarray  # float (N, U) P(present | answers), NaN where nobody judged the AU
    present: np.ndarray  # int8 (N, U) 1 / 0 / -1 = no judgement
    intensity: np.ndarray  # int8 (N, U) median intensity of the present judgements where present, else 0 / -1
    judgements: np.ndarray  # int (N, U)
    prevalence: np.ndarray  # float (U,) the model's share of faces with the AU
    model_sensitivity: np.ndarray  # float (M, U) the Dawid-Skene rates that weight each answer
    model_specificity: np.ndarray  # float (M, U)
    sensitivity: np.ndarray  # float (M, U) against the others' consensus; NaN below MIN_SHARED_FACES positives
    sensitivity_upper: np.ndarray  # float (M, U) one-sided upper bound
    specificity: np.ndarray  # float (M, U) likewise over negatives
    specificity_upper: np.ndarray  # float (M, U)
    positives: np.ndarray  # int (M, U) their judgements on faces the others call present
    negatives: np.ndarray  # int (M, U)


def au_answers_check(item, annotator, present, intensity=None, *, au_numbers, num_items: int,
                     num_annotators: int) -> AUAnswers:
    """The one place inputs are checked; an intensity on an absent judgement is refused rather than guessed."""
    item, annotator = (np.asarray(x, dtype=np.int64).ravel() for x in (item, annotator))
    au_numbers = np.asarray(au_numbers, dtype=np.int64).ravel()
    present = np.asarray(present, dtype=np.int64)
    if present.ndim != 2 or present.shape != (len(item), len(au_numbers)):
        raise ValueError(f"present must be (A, U) = ({len(item)}, {len(au_numbers)}), got {present.shape}")
    if len(annotator) != len(item):
        raise ValueError("item, annotator and present must have one entry per answer")
    unknown = sorted(set(au_numbers.tolist()) - set(AU_NAMES))
    if unknown or len(set(au_numbers.tolist())) != len(au_numbers):
        raise ValueError(f"au_numbers must be distinct FACS AUs from the catalogue; unknown: {unknown}")
    if present.size and not np.isin(present, (-1, 0, 1)).all():
        raise ValueError("present must hold 1 (present), 0 (absent) or -1 (not judged)")
    if intensity is None:
        intensity = np.where(present == 1, -1, present)
    intensity = np.asarray(intensity, dtype=np.int64)
    if intensity.shape != present.shape:
        raise ValueError("intensity must have present's shape")
    if intensity.size and (intensity.min() < -1 or intensity.max() > 5):
        raise ValueError("intensity must be 1..5 (A..E), 0 (absent) or -1 (not given)")
    if ((present != 1) & (intensity > 0)).any():
        raise ValueError("an intensity was given for an AU not marked present")
    sparse_indices_check(item, annotator, num_items=num_items, num_annotators=num_annotators)
    return AUAnswers(item=item, annotator=annotator, present=present.astype(np.int8),
                     intensity=intensity.astype(np.int8), au_numbers=au_numbers, num_items=num_items,
                     num_annotators=num_annotators)


def au_counts(a: AUAnswers, u: int) -> np.ndarray:
    """int (N, 2) absent / present judgements of AU column u per face."""
    judged = a.present[:, u] >= 0
    flat = np.bincount(a.item[judged] * 2 + a.present[judged, u], minlength=2 * a.num_items)
    return flat.reshape(a.num_items, 2)


def au_agreement(a: AUAnswers) -> AUAgreement:
    """Per AU: nominal alpha, prevalence, positive specific agreement, and interval alpha of the intensities."""
    u_count = len(a.au_numbers)
    out = {k: np.full(u_count, np.nan) for k in ("alpha", "prevalence", "positive", "intensity")}
    faces, judgements = np.zeros(u_count, np.int64), np.zeros(u_count, np.int64)
    for u in range(u_count):
        counts = au_counts(a, u)
        total = counts.sum(axis=1)
        multi = total >= 2
        faces[u], judgements[u] = int(multi.sum()), int(total[multi].sum())
        if judgements[u]:
            out["alpha"][u] = krippendorff_alpha(counts)
            out["prevalence"][u] = counts[multi, 1].sum() / judgements[u]
            out["positive"][u] = specific_agreement(counts)[1]
        rated = a.intensity[:, u] > 0
        out["intensity"][u] = interval_alpha(a.item[rated], a.intensity[rated, u].astype(float))
    return AUAgreement(alpha=out["alpha"], prevalence=out["prevalence"], positive_agreement=out["positive"],
                       intensity_alpha=out["intensity"], faces=faces, judgements=judgements)


def _dawid_skene(item: np.ndarray, annotator: np.ndarray, x: np.ndarray, *, num_items: int, num_annotators: int):
    """One AU: judgements item, annotator, x int (J,) (1 present, 0 absent; unjudged rows already dropped)
    -> (P(present) (N,) NaN where unjudged, sensitivity (M,), specificity (M,), prevalence, and the
    leave-one-out counts positives, negatives, true positives, true negatives, each int (M,))."""
    n, m = num_items, num_annotators
    yes = (x == 1).astype(float)
    judgements = np.bincount(item, minlength=n).astype(float)
    seen = judgements > 0
    said_yes = np.bincount(annotator, weights=yes, minlength=m)
    said = np.bincount(annotator, minlength=m).astype(float)
    p = np.bincount(item, weights=yes, minlength=n) / np.maximum(judgements, 1)  # 0 where unjudged
    code = annotator * 2 + (x == 1)  # index into [no_0, yes_0, no_1, yes_1, ...]: one gather a step
    table = np.empty(2 * m)
    for _ in range(ITERATIONS):
        prevalence = float(np.clip(p[seen].mean() if seen.any() else 0.5, *RATE_CLIP))
        q = p[item]
        tp, pos = np.bincount(annotator, weights=q * yes, minlength=m), np.bincount(annotator, weights=q, minlength=m)
        tn, neg = (said - said_yes) - (pos - tp), said - pos
        crowd_se, crowd_sp = tp.sum() / max(pos.sum(), 1e-12), tn.sum() / max(neg.sum(), 1e-12)
        se = np.clip((tp + PRIOR_ANSWERS * crowd_se) / (pos + PRIOR_ANSWERS), *RATE_CLIP)
        sp = np.clip((tn + PRIOR_ANSWERS * crowd_sp) / (neg + PRIOR_ANSWERS), *RATE_CLIP)
        table[1::2], table[0::2] = np.log(se / (1 - sp)), np.log((1 - se) / sp)
        own = table[code]
        logit = np.log(prevalence / (1 - prevalence)) + np.bincount(item, weights=own, minlength=n)
        fresh = np.where(seen, 1 / (1 + np.exp(-logit)), 0.0)
        change = np.abs(fresh - p).max(initial=0)
        p = fresh
        if change < TOLERANCE:
            break
    usable = judgements[item] >= 2  # someone else judged the face too
    truth = (logit[item] - own) > 0  # the others' consensus
    count = lambda mask: np.bincount(annotator[mask], minlength=m)  # noqa: E731
    counts = (count(usable & truth), count(usable & ~truth), count(usable & truth & (x == 1)),
              count(usable & ~truth & (x == 0)))
    return (np.where(seen, p, np.nan), se, sp, prevalence) + counts


def au_consensus(a: AUAnswers) -> AUConsensus:
    """Per face and AU, P(present) under a two-coin Dawid-Skene model fitted by EM (each AU on its own, so
    memory stays O(A) per AU), one sensitivity and specificity per annotator and AU, each pulled toward the
    crowd's by PRIOR_ANSWERS pseudo-answers and clipped to RATE_CLIP; an answer weighs by its log likelihood
    ratio, so an annotator who never marks an AU says little by leaving it out. Starts from the share of
    present judgements. (Fitting each annotator's rates against the others' posterior instead, to keep an
    answer from confirming itself, was tried: with three answers a face it halves everyone's estimated
    sensitivity at a 15% error rate, so the plain EM stays.)

    Annotators are then scored against the consensus of the others on the face (their own log likelihood ratio
    taken out of the face's, faces nobody else judged left out): sensitivity = present answers / faces the
    others call present, with its Clopper-Pearson upper bound at 1 - BIAS_ALPHA; specificity likewise."""
    from scipy.stats import beta

    n, m, u_count = a.num_items, a.num_annotators, len(a.au_numbers)
    columns = []
    for u in range(u_count):
        judged = a.present[:, u] >= 0
        columns.append(_dawid_skene(a.item[judged], a.annotator[judged], a.present[judged, u].astype(np.int64),
                                    num_items=n, num_annotators=m))
    p, se, sp = (np.stack([c[k] for c in columns], axis=1) if u_count else np.zeros((size, 0))
                 for k, size in ((0, n), (1, m), (2, m)))
    prevalence = np.array([c[3] for c in columns])
    positives, negatives, tp, tn = (np.stack([c[k] for c in columns], axis=1).astype(np.int64) if u_count
                                    else np.zeros((m, 0), np.int64) for k in (4, 5, 6, 7))
    judgements = np.stack([np.bincount(a.item[a.present[:, u] >= 0], minlength=n) for u in range(u_count)], axis=1) \
        if u_count else np.zeros((n, 0), np.int64)

    def rate(hits, total):
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(total >= MIN_SHARED_FACES, hits / np.maximum(total, 1), np.nan)
        upper = np.where(hits < total, beta.ppf(1 - BIAS_ALPHA, hits + 1, np.maximum(total - hits, 1)), 1.0)
        return value, np.where(total >= MIN_SHARED_FACES, upper, np.nan)

    sensitivity, sensitivity_upper = rate(tp, positives)
    specificity, specificity_upper = rate(tn, negatives)
    with np.errstate(invalid="ignore"):
        present = np.where(judgements > 0, (p >= 0.5).astype(np.int8), -1).astype(np.int8)
    intensity = np.where(present == 1, -1, present).astype(np.int8)
    for u in range(u_count):
        rated = a.intensity[:, u] > 0
        median = grouped_median(a.item[rated], a.intensity[rated, u].astype(float), n)
        has = (present[:, u] == 1) & ~np.isnan(median)
        intensity[has, u] = np.floor(median[has] + 0.5).astype(np.int8)
    return AUConsensus(probability=p, present=present, intensity=intensity, judgements=judgements.astype(np.int64),
                       prevalence=prevalence, model_sensitivity=se, model_specificity=sp, sensitivity=sensitivity,
                       sensitivity_upper=sensitivity_upper, specificity=specificity,
                       specificity_upper=specificity_upper, positives=positives, negatives=negatives)


def au_disputes(a: AUAnswers, consensus: AUConsensus, *, confidence: float = DISPUTE_CONFIDENCE):
    """Faces and AUs where the judgements split and the consensus is less sure than ``confidence``
    -> (item int (I,), au number int (I,), reason str (I,)), least sure first."""
    counts = np.stack([au_counts(a, u) for u in range(len(a.au_numbers))], axis=2)  # (N, 2, U)
    no, yes = counts[:, 0], counts[:, 1]
    p = consensus.probability
    with np.errstate(invalid="ignore"):
        sure = np.maximum(p, 1 - p)
        face, u = np.nonzero((yes > 0) & (no > 0) & (sure < confidence))
    order = np.argsort(sure[face, u], kind="stable")
    face, u = face[order], u[order]
    numbers = a.au_numbers[u]
    reasons = np.array([f"AU{n} ({AU_NAMES[n].lower()}): {yes[i, j]} present, {no[i, j]} absent; "
                        f"consensus P(present) = {p[i, j]:.2f}" for i, j, n in zip(face, u, numbers)], dtype=object)
    return face, numbers, reasons
