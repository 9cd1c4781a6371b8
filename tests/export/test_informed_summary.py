"""The evaluation report's informed return and gaps, on hand-made trial results."""

import numpy as np
import pytest


def test_summary_splits_the_shortfall_into_the_explorers_and_the_executors():
    from tf_metarl.export.evaluation import format_table, summarize

    # Trial 1 read the map and executed well; trial 2 knew one bus (0.4 at best) and
    # timed out (-2.0).
    summary = summarize("x", np.array([0.8, -2.0], np.float32), np.array([True, False]),
                        np.array([5, 2]), np.array([3, 20]), np.array([0.8, 0.8]),
                        0.3, np.array([0.8, 0.4]))
    assert summary["informed_return"] == pytest.approx(0.6)
    assert summary["explore_gap"] == pytest.approx(0.2)  # 0.8 - 0.6
    assert summary["execute_gap"] == pytest.approx(1.2)  # 0.6 - (-0.6)
    # A perfect policy's float32 returns leave no -0.000 in the table.
    perfect = summarize("perfect", np.full(4, 0.8, np.float32), np.ones(4, bool), np.full(4, 5),
                        np.full(4, 3), np.full(4, 0.8), 0.3, np.full(4, 0.8))
    assert perfect["explore_gap"] == 0.0 and perfect["execute_gap"] == 0.0
    table = format_table({"layouts": [perfect]})
    assert table.splitlines()[2].endswith("+0.800       +0.000       +0.000")
