"""ml.agreement matches published values of Fleiss' kappa and Krippendorff's alpha."""
import numpy as np
import pytest

from ml import agreement


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210.
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    overall, per_class = agreement.fleiss_kappa(counts)
    assert overall == pytest.approx(0.210, abs=5e-4)
    # Category 5 by Fleiss' per-category formula: 1 - sum n(m - n) / (N m (m - 1) p q), p = 32/140.
    assert per_class[4] == pytest.approx(1 - 158 / (10 * 14 * 13 * (32 / 140) * (108 / 140)))


def test_krippendorff_alpha_matches_krippendorffs_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, nominal alpha 0.743.
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    counts = np.zeros((len(units), 6), dtype=int)
    for u, values in enumerate(units):
        for v in values:
            counts[u, v] += 1
    assert agreement.krippendorff_alpha(counts) == pytest.approx(0.743, abs=5e-4)
