"""Inter-annotator agreement over answer counts (N, C): Krippendorff's alpha, Fleiss' kappa, specific agreement."""
from __future__ import annotations

import numpy as np


def krippendorff_alpha(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from counts (N, C); items with fewer than 2 answers are ignored.

    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k, with o the coincidence matrix
    o_ck = sum_u n_uc (n_uk - [c = k]) / (n_u - 1). NaN when undefined (no pairable answers or one category).
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    m = m[m >= 2]
    if len(counts) == 0:
        return float("nan")
    o = (counts / (m - 1)[:, None]).T @ counts - np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    observed_disagreement = o.sum() - np.trace(o)
    expected = n_c.sum() ** 2 - (n_c ** 2).sum()
    if expected <= 0:
        return float("nan")
    return float(1 - (n - 1) * observed_disagreement / expected)


def fleiss_kappa(counts: np.ndarray) -> tuple[float, np.ndarray]:
    """Fleiss' kappa from counts (N, C), allowing a different number of answers per item
    -> (overall kappa, per-category kappa (C,), NaN for a category nobody chose). Items with < 2 answers are ignored.
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    c = counts.shape[1] if counts.ndim == 2 else 0
    if len(counts) == 0:
        return float("nan"), np.full(c, np.nan)
    p = counts.sum(axis=0) / m.sum()
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))
    p_e = (p ** 2).sum()
    overall = float((p_item.mean() - p_e) / (1 - p_e)) if p_e < 1 else float("nan")
    disagreement = (counts * (m[:, None] - counts) / (m - 1)[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(p * (1 - p) > 0, 1 - disagreement / (m.sum() * p * (1 - p)), np.nan)
    return overall, per_class


def specific_agreement(counts: np.ndarray) -> np.ndarray:
    """counts (N, C) -> (C,): for an answer of category c, the chance that another annotator of the same
    item also answered c (positive specific agreement); NaN for a category nobody chose. Items with < 2 answers ignored."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    agree = (counts * (counts - 1) / (m - 1)[:, None]).sum(axis=0)
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, agree / total, np.nan)
