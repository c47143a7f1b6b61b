"""Valence and arousal (each -1..1): interval alpha and ICC(1,1), robust consensus, annotator offset and noise.

One dimension at a time (call it once for valence, once for arousal), from one row per answer: item int (A,),
annotator int (A,), value float (A,) in -1..1 (NaN = the annotator gave no value; the row is dropped).
N faces, M annotators; everything is sparse (bincounts over the A answers), never a faces x annotators matrix.

Evidence bounds follow ml.annotator_bias: an annotator's figures need faces they share with someone else
(at least MIN_SHARED_FACES, else NaN), and the claims a lead acts on (an offset, excess noise) are one-sided
(1 - BIAS_ALPHA) bounds, so a handful of odd answers reads as 0, not as a finding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.annotator_bias import BIAS_ALPHA
from ml.crowd_sparse import sparse_indices_check

# As worst_classes' min_count in ml.annotator_bias: fewer shared faces than this and a figure is not shown.
MIN_SHARED_FACES = 3
HUBER_K = 1.345  # Huber's tuning constant: 95% efficiency under normal noise
PRIOR_FACES = 5.0  # pseudo-faces pulling a thinly evidenced annotator's noise toward the crowd's median
MIN_NOISE = 0.05  # no annotator's answers count as more exact than this (a weight cap)
SPREAD_THRESHOLD = 0.4  # a face whose answers lie this far from their mean (root mean square) is an issue
ITERATIONS = 50
TOLERANCE = 1e-6


@dataclass(frozen=True)
class VAAnswers:
    """Checked answers: rows with a value, int64 / float64."""

    item: np.ndarray  # int (A,)
    annotator: np.ndarray  # int (A,)
    value: np.ndarray  # float (A,) in -1..1
    num_items: int
    num_annotators: int


@dataclass(frozen=True)
class VAAgreement:
    """Agreement over faces with two or more answers; per group (e.g. the face's consensus expression) too."""

    alpha: float  # Krippendorff's alpha, interval metric; NaN when undefined
    icc: float  # ICC(1,1): one-way random effects, single rater, absolute agreement (Shrout & Fleiss case 1)
    faces: int  # faces with >= 2 answers behind both figures
    answers: int  # answers on those faces
    group_alpha: np.ndarray  # float (G,)
    group_icc: np.ndarray  # float (G,)
    group_faces: np.ndarray  # int (G,)
    group_answers: np.ndarray  # int (G,)


@dataclass(frozen=True)
class VAConsensus:
    """Per face (N,) and per annotator (M,). NaN where there is no evidence."""

    value: np.ndarray  # float (N,) robust consensus, NaN without answers
    answers: np.ndarray  # int (N,)
    spread: np.ndarray  # float (N,) root mean square distance of the answers from their mean, NaN below 2 answers
    annotator_offset: np.ndarray  # float (M,) mean of (answer - peers' offset-corrected mean), median annotator = 0
    annotator_offset_bound: np.ndarray  # float (M,) the offset's one-sided bound toward 0 (sign kept; 0 = not shown)
    annotator_noise: np.ndarray  # float (M,) SD of their own answer noise, the peers' share taken out
    annotator_noise_lower: np.ndarray  # float (M,) one-sided lower bound of annotator_noise
    annotator_shared: np.ndarray  # int (M,) their answers on faces someone else answered
    annotator_weight: np.ndarray  # float (M,) reliability weight 1 / noise^2 (shrunk), NaN without answers


def va_answers_check(item, annotator, value, *, num_items: int, num_annotators: int) -> VAAnswers:
    """The one place inputs are checked: drops NaN values, refuses values outside -1..1, bad indices, repeats."""
    item, annotator = (np.asarray(x, dtype=np.int64).ravel() for x in (item, annotator))
    value = np.asarray(value, dtype=float).ravel()
    if not len(item) == len(annotator) == len(value):
        raise ValueError("item, annotator and value must have one entry per answer")
    keep = ~np.isnan(value)
    item, annotator, value = item[keep], annotator[keep], value[keep]
    if len(value) and (np.abs(value).max() > 1 or not np.isfinite(value).all()):
        raise ValueError("values must lie in -1..1")
    sparse_indices_check(item, annotator, num_items=num_items, num_annotators=num_annotators)
    return VAAnswers(item=item, annotator=annotator, value=value, num_items=num_items, num_annotators=num_annotators)


def interval_alpha(item: np.ndarray, value: np.ndarray) -> float:
    """Krippendorff's alpha with the interval metric from item int (A,), value float (A,); faces with < 2 answers
    are not pairable and are ignored. alpha = 1 - D_o / D_e with D_o = (1/n) sum_u sum_{i != j in u} (v_i - v_j)^2
    / (m_u - 1) and D_e = sum_{i != j} (v_i - v_j)^2 / (n (n - 1)) over all n pairable values; each double sum is
    2 (m S2 - S1^2), so this is O(A). NaN when undefined (nothing pairable, or every value equal)."""
    item, value = np.asarray(item, dtype=np.int64), np.asarray(value, dtype=float)
    if not len(item):
        return float("nan")
    m = np.bincount(item)
    pairable = m[item] >= 2
    item, value = item[pairable], value[pairable]
    if not len(item):
        return float("nan")
    m = np.bincount(item).astype(float)
    s1, s2 = np.bincount(item, weights=value), np.bincount(item, weights=value ** 2)
    units = m >= 2
    within = (2 * (m[units] * s2[units] - s1[units] ** 2) / (m[units] - 1)).sum()
    n = float(len(value))
    total = 2 * (n * (value ** 2).sum() - value.sum() ** 2)
    if total <= 1e-12 * n * n:
        return float("nan")
    return float(1 - (n - 1) * within / total)


def icc_oneway(item: np.ndarray, value: np.ndarray) -> float:
    """ICC(1,1) (Shrout & Fleiss 1979, case 1: each face rated by its own random set of annotators, which is how
    a crowd labels) from item int (A,), value float (A,), over faces with >= 2 answers. Unbalanced one-way ANOVA:
    (MSB - MSW) / (MSB + (n0 - 1) MSW) with n0 = (n - sum m_i^2 / n) / (k - 1); with m answers on every face
    n0 = m and this is Shrout & Fleiss's formula. NaN with fewer than 2 faces or no variance."""
    item, value = np.asarray(item, dtype=np.int64), np.asarray(value, dtype=float)
    if not len(item):
        return float("nan")
    pairable = np.bincount(item)[item] >= 2
    item, value = item[pairable], value[pairable]
    _, item = np.unique(item, return_inverse=True)
    k, n = int(item.max(initial=-1)) + 1, len(value)
    if k < 2:
        return float("nan")
    m = np.bincount(item).astype(float)
    mean = np.bincount(item, weights=value) / m
    grand = value.mean()
    msb = (m * (mean - grand) ** 2).sum() / (k - 1)
    msw = ((value - mean[item]) ** 2).sum() / (n - k)
    n0 = (n - (m ** 2).sum() / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    return float((msb - msw) / denominator) if denominator > 0 else float("nan")


def va_agreement(a: VAAnswers, *, group: np.ndarray | None = None, num_groups: int | None = None) -> VAAgreement:
    """alpha and ICC(1,1) over the project, and per group: group int (N,) e.g. the face's consensus expression
    (-1 = none; those faces count only in the overall figures)."""
    m = np.bincount(a.item, minlength=a.num_items)
    pairable = m[a.item] >= 2
    group = np.full(a.num_items, -1) if group is None else np.asarray(group, dtype=np.int64)
    g = int(num_groups if num_groups is not None else group.max(initial=-1) + 1)
    alphas, iccs, faces, answers = np.full(g, np.nan), np.full(g, np.nan), np.zeros(g, np.int64), np.zeros(g, np.int64)
    row_group = group[a.item]
    for j in range(g):
        rows = pairable & (row_group == j)
        alphas[j], iccs[j] = interval_alpha(a.item[rows], a.value[rows]), icc_oneway(a.item[rows], a.value[rows])
        faces[j], answers[j] = len(np.unique(a.item[rows])), int(rows.sum())
    return VAAgreement(alpha=interval_alpha(a.item, a.value), icc=icc_oneway(a.item, a.value),
                       faces=int((m >= 2).sum()), answers=int(pairable.sum()), group_alpha=alphas, group_icc=iccs,
                       group_faces=faces, group_answers=answers)


def grouped_median(item: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """float (n,) median value per item, NaN for items without values; O(A log A)."""
    order = np.lexsort((value, item))
    count = np.bincount(item, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    out = np.full(n, np.nan)
    has = count > 0
    sorted_value = value[order]
    out[has] = (sorted_value[start[has] + (count[has] - 1) // 2] + sorted_value[start[has] + count[has] // 2]) / 2
    return out


def _annotator_offsets(a: VAAnswers, m: np.ndarray, shared: np.ndarray, evident: np.ndarray):
    """Offsets b (M,) of the additive model answer = face + b_annotator + noise, each annotator against the mean of
    their peers on the same faces with the peers' own offsets taken out (damped Jacobi, so pairs of annotators who
    always answer together converge too), centred on the median annotator with evidence; and each shared
    answer's residual e (A_shared,) = answer - b - peers' corrected mean."""
    item, who, value = a.item[shared], a.annotator[shared], a.value[shared]
    peers = (m[item] - 1).astype(float)
    s1 = np.bincount(item, weights=value, minlength=a.num_items)
    peer_mean = (s1[item] - value) / peers
    n_shared = np.bincount(who, minlength=a.num_annotators).astype(float)
    offset = np.zeros(a.num_annotators)
    for _ in range(ITERATIONS):
        used = np.where(evident, offset, 0.0)
        sb = np.bincount(item, weights=used[who], minlength=a.num_items)
        target = value - (peer_mean - (sb[item] - used[who]) / peers)
        fresh = np.bincount(who, weights=target, minlength=a.num_annotators) / np.maximum(n_shared, 1)
        fresh = 0.5 * offset + 0.5 * fresh
        if evident.any():
            fresh -= np.median(fresh[evident])
        change = np.abs(fresh - offset).max(initial=0)
        offset = fresh
        if change < TOLERANCE:
            break
    used = np.where(evident, offset, 0.0)
    sb = np.bincount(item, weights=used[who], minlength=a.num_items)
    residual = value - offset[who] - (peer_mean - (sb[item] - used[who]) / peers)
    return offset, residual


def _annotator_noise(a: VAAnswers, m: np.ndarray, shared: np.ndarray, residual: np.ndarray, evident: np.ndarray,
                     n_shared: np.ndarray):
    """Own noise SD per annotator and its one-sided lower bound. A residual's variance is the annotator's noise
    plus the peers' mean's, sum_p sigma_p^2 / (m - 1)^2; the moment estimate takes the peers' share out, iterated."""
    from scipy.stats import chi2

    item, who = a.item[shared], a.annotator[shared]
    peers = (m[item] - 1).astype(float)
    square = np.bincount(who, weights=residual ** 2, minlength=a.num_annotators)
    mean_square = square / np.maximum(n_shared, 1)
    variance = mean_square / 2
    for _ in range(ITERATIONS):
        sv = np.bincount(item, weights=variance[who], minlength=a.num_items)
        peer_term = np.bincount(who, weights=(sv[item] - variance[who]) / peers ** 2,
                                minlength=a.num_annotators) / np.maximum(n_shared, 1)
        fresh = np.clip(mean_square - peer_term, 0.0, None)
        change = np.abs(fresh - variance).max(initial=0)
        variance = fresh
        if change < TOLERANCE:
            break
    df = np.maximum(n_shared, 1)
    lower_square = square / chi2.ppf(1 - BIAS_ALPHA, df)
    noise = np.where(evident, np.sqrt(variance), np.nan)
    noise_lower = np.where(evident, np.sqrt(np.clip(lower_square - peer_term, 0.0, None)), np.nan)
    return noise, noise_lower


def va_consensus(a: VAAnswers, *, correct_offsets: bool = True) -> VAConsensus:
    """Robust consensus per face, weighting annotators by reliability, with each annotator's offset and noise.

    1. Offsets: answer = face + b_annotator + noise, each b from the annotator's answers against their peers' on
       the same faces (the peers' offsets taken out), centred so the median annotator has 0. Reported with the
       one-sided (1 - BIAS_ALPHA) Student-t bound of the mean toward 0 (0 when the evidence cannot tell it
       from 0); NaN below MIN_SHARED_FACES shared faces.
    2. Noise: each annotator's own SD, the peers' noise taken out, with a chi-square lower bound.
    3. Consensus: iteratively reweighted least squares. Start at each face's median (offset-corrected answers if
       ``correct_offsets``); weight an answer by the annotator's reliability 1 / sigma^2 (sigma their noise
       shrunk toward the crowd's median by PRIOR_FACES pseudo-faces, at least MIN_NOISE) times Huber's weight
       min(1, HUBER_K / |r|) of its standardised residual r from the current consensus, so one wild answer
       among several moves the consensus little; repeat to convergence. Clipped to -1..1.
    """
    from scipy.stats import t as student_t

    n, mm = a.num_items, a.num_annotators
    m = np.bincount(a.item, minlength=n)
    shared = m[a.item] >= 2
    n_shared = np.bincount(a.annotator[shared], minlength=mm).astype(float)
    evident = n_shared >= MIN_SHARED_FACES
    offset, residual = _annotator_offsets(a, m, shared, evident)
    who = a.annotator[shared]
    centred = residual - (np.bincount(who, weights=residual, minlength=mm) / np.maximum(n_shared, 1))[who]
    sd = np.sqrt(np.bincount(who, weights=centred ** 2, minlength=mm) / np.maximum(n_shared - 1, 1))
    margin = student_t.ppf(1 - BIAS_ALPHA, np.maximum(n_shared - 1, 1)) * sd / np.sqrt(np.maximum(n_shared, 1))
    offset_bound = np.sign(offset) * np.clip(np.abs(offset) - margin, 0.0, None)
    noise, noise_lower = _annotator_noise(a, m, shared, residual, evident, n_shared)

    typical = float(np.median(noise[evident])) if evident.any() else 0.25
    known = np.where(evident, noise, 0.0) ** 2
    sigma2 = (n_shared * known + PRIOR_FACES * typical ** 2) / (np.where(evident, n_shared, 0) + PRIOR_FACES)
    sigma = np.sqrt(np.maximum(sigma2, MIN_NOISE ** 2))
    reliability = 1 / sigma ** 2
    shift = np.where(evident, offset, 0.0) if correct_offsets else np.zeros(mm)
    corrected = a.value - shift[a.annotator]
    consensus = grouped_median(a.item, corrected, n)
    for _ in range(ITERATIONS):
        r = (corrected - consensus[a.item]) / sigma[a.annotator]
        weight = reliability[a.annotator] * np.minimum(1.0, HUBER_K / np.maximum(np.abs(r), 1e-12))
        total = np.bincount(a.item, weights=weight, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            fresh = np.bincount(a.item, weights=weight * corrected, minlength=n) / total
        change = np.nanmax(np.abs(fresh - consensus), initial=0)
        consensus = fresh
        if change < TOLERANCE:
            break
    consensus = np.clip(consensus, -1.0, 1.0)

    s1 = np.bincount(a.item, weights=a.value, minlength=n)
    s2 = np.bincount(a.item, weights=a.value ** 2, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(m >= 2, np.sqrt(np.clip(s2 / m - (s1 / m) ** 2, 0.0, None)), np.nan)
    answered = np.bincount(a.annotator, minlength=mm) > 0
    return VAConsensus(
        value=consensus, answers=m, spread=spread,
        annotator_offset=np.where(evident, offset, np.nan),
        annotator_offset_bound=np.where(evident, offset_bound, np.nan),
        annotator_noise=noise, annotator_noise_lower=noise_lower, annotator_shared=n_shared.astype(np.int64),
        annotator_weight=np.where(answered, reliability, np.nan),
    )


def va_spread_issues(a: VAAnswers, consensus: VAConsensus, *, dimension: str = "valence",
                     threshold: float = SPREAD_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose answers spread widely -> (item int (I,), reason str (I,)), widest first."""
    items = np.flatnonzero(consensus.spread >= threshold)
    items = items[np.argsort(-consensus.spread[items], kind="stable")]
    low = np.full(a.num_items, np.inf)
    high = np.full(a.num_items, -np.inf)
    np.minimum.at(low, a.item, a.value)
    np.maximum.at(high, a.item, a.value)
    reasons = np.array([f"{dimension} answers spread ±{consensus.spread[i]:.2f} around their mean "
                        f"(from {low[i]:+.2f} to {high[i]:+.2f}, {consensus.answers[i]} answers)" for i in items],
                       dtype=object)
    return items, reasons
