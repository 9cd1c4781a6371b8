"""95% confidence intervals of a mean: one place for evaluation reports and seed bands.

The interval is mean +- t * std / sqrt(n) with Student's t quantile for n - 1 degrees of
freedom. With the few seeds of a sweep the normal quantile (1.96) would be far too narrow:
for 3 seeds the right factor is 4.30.
"""

from __future__ import annotations

import math

import numpy as np

# Two-sided 95% quantiles t_{0.975, dof} for dof = 1..30 (standard tables, 3 decimals).
_T975_TABLE = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z975 = 1.959963985


def t_quantile_975(dof: int) -> float:
    """Student's t quantile at 0.975 for ``dof`` degrees of freedom.

    Tabulated up to 30; beyond, Fisher's expansion in 1/dof around the normal quantile,
    whose first omitted term is below 1e-5 there."""
    if not isinstance(dof, (int, np.integer)) or isinstance(dof, bool) or dof < 1:
        raise ValueError(f"dof={dof!r}: expected an integer >= 1")
    if dof <= len(_T975_TABLE):
        return _T975_TABLE[dof - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def ci95_half_width(std: float | np.ndarray, n: int) -> float | np.ndarray:
    """Half-width of the 95% CI of a mean of ``n`` values with sample std ``std``
    (NaN for fewer than two values: one value says nothing about its spread)."""
    if n < 2:
        return np.full_like(np.asarray(std, dtype=float), np.nan) if np.ndim(std) else math.nan
    return t_quantile_975(n - 1) * std / math.sqrt(n)
