import math

import numpy as np
import pytest

from tf_metarl.statistics import ci95_half_width, t_quantile_975


def student_t_cdf(q: float, dof: int) -> float:
    """P(T <= q) by integrating Student's t density (an independent check of the table)."""
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    x = np.linspace(0.0, q, 200_001)
    density = np.exp(log_norm - (dof + 1) / 2 * np.log1p(x**2 / dof))
    return 0.5 + float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(x)))


@pytest.mark.parametrize("dof", [1, 2, 3, 9, 30, 31, 60, 500])
def test_t_quantile_leaves_2_5_percent_in_the_upper_tail(dof):
    # The table has 3 decimals; the density there is below 0.4, so the CDF is within 2e-4.
    assert student_t_cdf(t_quantile_975(dof), dof) == pytest.approx(0.975, abs=2e-4)


def test_many_degrees_of_freedom_approach_the_normal_quantile():
    assert t_quantile_975(100_000) == pytest.approx(1.959964, abs=1e-4)
    assert t_quantile_975(31) < t_quantile_975(30) < t_quantile_975(2)


def test_half_width_by_hand():
    # Three seeds with std 0.1: 4.303 * 0.1 / sqrt(3).
    assert ci95_half_width(0.1, 3) == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert math.isnan(ci95_half_width(0.1, 1))
    np.testing.assert_allclose(ci95_half_width(np.array([0.0, 0.2]), 3), [0.0, 4.303 * 0.2 / math.sqrt(3)])


@pytest.mark.parametrize("dof", [0, -3, 2.5, True])
def test_bad_degrees_of_freedom_are_refused(dof):
    with pytest.raises(ValueError, match="dof="):
        t_quantile_975(dof)
