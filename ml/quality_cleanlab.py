"""Vectorised stand-ins for the slow inner loops of cleanlab's CROWDLAB and ActiveLab, swapped in for a call.

cleanlab loops over annotators and items in Python on a dense (N, M) matrix: at 36,000 items x 300
annotators one CROWDLAB call spends ~20 s in three helpers whose results depend only on the A given
answers. The stand-ins below compute the same numbers from the answers directly (equal up to float
rounding; tests/ml/test_quality_cleanlab.py checks them against the originals), and are installed only
while a call runs (worker processes run one task at a time). They replace private cleanlab functions, so
they are installed only under the cleanlab release they were checked against (CHECKED_CLEANLAB_VERSION);
under any other, cleanlab's own code runs and a warning is logged once.

The temperature search that ActiveLab runs also counts answers per class; cleanlab's ``value_counts``
treats float class indices (the NaN-padded matrix) like strings and packs the counts into the first
columns ([3, 3, 5] -> [2, 1, 0, ...]), so its stand-in counts by class index instead: that one is a fix,
not only a speed-up, and is left out with ``exact=True``.
"""
from __future__ import annotations

import contextlib
import logging

import numpy as np

# The cleanlab release (requirements.txt pins it) whose private helpers the stand-ins reproduce; another
# release may change their signatures or their numbers, and a stand-in would then silently differ.
CHECKED_CLEANLAB_VERSION = "2.9.0"

log = logging.getLogger(__name__)
_warned: set[str] = set()  # cleanlab versions already warned about in this process
_cache: dict = {}


def speedups_supported() -> bool:
    """True under the checked cleanlab release; otherwise False, with one logged warning per process and version."""
    import cleanlab

    version = str(getattr(cleanlab, "__version__", "unknown"))
    if version == CHECKED_CLEANLAB_VERSION:
        return True
    if version not in _warned:
        _warned.add(version)
        log.warning("cleanlab %s is installed, but the CROWDLAB/ActiveLab stand-ins were checked against %s: "
                    "running cleanlab's own (slower) code", version, CHECKED_CLEANLAB_VERSION)
    return False


def _answers(labels_multiannotator: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, class) of every given answer; remembered per matrix while the stand-ins are installed,
    since cleanlab asks about the same (unchanged) matrix a dozen times per call."""
    key = (id(labels_multiannotator), labels_multiannotator.__array_interface__["data"][0], labels_multiannotator.shape)
    if key not in _cache:
        rows, cols = np.nonzero(~np.isnan(labels_multiannotator))
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = (rows, cols, labels_multiannotator[rows, cols].astype(np.int64))
    return _cache[key]


def class_counts(labels_multiannotator: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, M) labels with NaN gaps -> int (N, K) answers per class."""
    rows, _, given = _answers(labels_multiannotator)
    counts = np.zeros((len(labels_multiannotator), num_classes), dtype=np.int64)
    np.add.at(counts, (rows, given), 1)
    return counts


def annotator_agreement_with_annotators(labels_multiannotator: np.ndarray, num_annotations: np.ndarray, verbose: bool = True) -> np.ndarray:
    """cleanlab's _get_annotator_agreement_with_annotators: for each annotator, the share of the other
    answers on the items they answered that equal theirs, weighted by (answers on the item - 1)."""
    rows, cols, given = _answers(labels_multiannotator)
    m = labels_multiannotator.shape[1]
    counts = class_counts(labels_multiannotator, int(given.max(initial=0)) + 1)
    agree = np.bincount(cols, weights=counts[rows, given] - 1, minlength=m)
    pairs = np.bincount(cols, weights=num_annotations[rows] - 1, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(pairs > 0, agree / np.where(pairs > 0, pairs, 1), np.nan)
    lonely = np.isnan(agreement)
    if lonely.any():  # as cleanlab: annotators who share no item get the others' mean
        agreement[lonely] = np.mean(agreement[~lonely])
    return agreement


def _post_pred_probs_and_weights(original):
    """cleanlab's _get_post_pred_probs_and_weights for quality_method="crowdlab", from the answers."""
    from cleanlab.internal.constants import CLIPPING_LOWER_BOUND

    def post(labels_multiannotator, consensus_label, prior_pred_probs, num_annotations, annotator_agreement,
             quality_method="crowdlab", verbose=True):
        if quality_method != "crowdlab":
            return original(labels_multiannotator, consensus_label, prior_pred_probs, num_annotations, annotator_agreement,
                            quality_method=quality_method, verbose=verbose)
        k = prior_pred_probs.shape[1]
        consensus_likelihood = np.mean(annotator_agreement[num_annotations != 1])
        non_consensus_likelihood = (1 - consensus_likelihood) / (k - 1)
        mask = num_annotations != 1
        subset = consensus_label[mask]
        most_likely_class_error = np.clip(np.mean(subset != np.argmax(np.bincount(subset, minlength=k))),
                                          a_min=CLIPPING_LOWER_BOUND, a_max=None)
        agreement = annotator_agreement_with_annotators(labels_multiannotator, num_annotations, verbose)
        adjusted = np.clip(1 - ((1 - agreement) / most_likely_class_error), a_min=CLIPPING_LOWER_BOUND, a_max=None)
        model_error = np.mean(np.argmax(prior_pred_probs[mask], axis=1) != subset)
        model_weight = np.max([(1 - (model_error / most_likely_class_error)), CLIPPING_LOWER_BOUND]) * np.sqrt(np.mean(num_annotations))
        rows, cols, given = _answers(labels_multiannotator)
        n = len(labels_multiannotator)
        weight = np.bincount(rows, weights=adjusted[cols], minlength=n)
        voted = np.zeros((n, k))
        np.add.at(voted, (rows, given), adjusted[cols])
        post_pred_probs = (prior_pred_probs * model_weight + non_consensus_likelihood * weight[:, None]
                           + (consensus_likelihood - non_consensus_likelihood) * voted) / (weight + model_weight)[:, None]
        return post_pred_probs, model_weight, adjusted

    return post


def _assert_valid_inputs(original):
    """cleanlab's input check without its per-element scan for strings, which a float array cannot hold."""

    def check(labels_multiannotator, pred_probs=None, ensemble=False, allow_single_label=False, annotator_ids=None):
        if not (isinstance(labels_multiannotator, np.ndarray) and labels_multiannotator.dtype.kind == "f" and not ensemble):
            return original(labels_multiannotator, pred_probs, ensemble, allow_single_label, annotator_ids)
        if labels_multiannotator.ndim != 2:
            raise ValueError("labels_multiannotator must be a 2D array")
        answered = ~np.isnan(labels_multiannotator)
        if not answered.any(axis=1).all():
            raise ValueError("labels_multiannotator cannot have rows with all NaN")
        if not answered.any(axis=0).all():
            raise ValueError("labels_multiannotator cannot have columns with all NaN")
        if not allow_single_label and (labels_multiannotator.shape[1] <= 1 or (answered.sum(axis=1) == 1).all()):
            raise ValueError("labels_multiannotator needs more than one annotator on some example")
        given = labels_multiannotator[answered]
        if given.size and (given.min() < 0 or (np.mod(given, 1) != 0).any()):
            raise ValueError("Labels must be zero-indexed integers corresponding to class indices.")
        if pred_probs is not None:
            if not isinstance(pred_probs, np.ndarray) or pred_probs.ndim != 2 or len(pred_probs) != len(labels_multiannotator):
                raise ValueError("pred_probs must be a 2d array with one row per example")
            if given.size and pred_probs.shape[1] < given.max() + 1:
                raise ValueError("pred_probs has fewer columns than the largest class label")

    return check


def _soft_cross_entropy(labels_multiannotator: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    from cleanlab.internal.multiannotator_utils import SMALL_CONST

    k = pred_probs.shape[1]
    counts = class_counts(labels_multiannotator, k)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    clipped = np.clip(pred_probs, a_min=SMALL_CONST, a_max=None)
    return -np.sum(empirical * np.log(clipped), axis=1) / np.log(k)


@contextlib.contextmanager
def cleanlab_speedups(*, exact: bool = False):
    """Install the stand-ins for the duration of the block (``exact``: only those equal to cleanlab's own);
    under a cleanlab release other than CHECKED_CLEANLAB_VERSION, install nothing (see speedups_supported)."""
    if not speedups_supported():
        yield
        return
    import cleanlab.multiannotator as ma
    from cleanlab.internal import multiannotator_utils as utils

    saved = [(ma, "_get_post_pred_probs_and_weights"), (ma, "_get_annotator_agreement_with_annotators"),
             (ma, "assert_valid_inputs_multiannotator"), (utils, "compute_soft_cross_entropy")]
    originals = [getattr(module, name) for module, name in saved]
    ma._get_post_pred_probs_and_weights = _post_pred_probs_and_weights(originals[0])
    ma._get_annotator_agreement_with_annotators = annotator_agreement_with_annotators
    ma.assert_valid_inputs_multiannotator = _assert_valid_inputs(originals[2])
    if not exact:
        utils.compute_soft_cross_entropy = _soft_cross_entropy
    _cache.clear()
    try:
        yield
    finally:
        _cache.clear()
        for (module, name), original in zip(saved, originals):
            setattr(module, name, original)
