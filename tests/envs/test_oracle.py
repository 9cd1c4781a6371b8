"""Oracle reference returns, and the oracle's plans played in the core."""

import numpy as np
import pytest

from tf_metarl.envs import (
    BatchedBusMap, Phase, known_buses_return, mean_optimal_return, no_information_return,
    optimal_actions, optimal_returns, preset_layout)
from tf_metarl.envs.layout import NOOP

NINE_BY_NINE = ["distracting_bus_map", "distracting_bus", "map"]


@pytest.mark.parametrize("preset", NINE_BY_NINE)
def test_9x9_reference_returns(preset):
    layout = preset_layout(preset)
    # Step to the right stop, ride, step to the corner: 3 steps, 1 - 0.1 * 2.
    assert mean_optimal_return(layout) == pytest.approx(0.8)
    assert mean_optimal_return(layout, layout.split_problem_ids("test")) == pytest.approx(0.8)
    # Walk 8 steps: 1 - 0.1 * 7.
    assert no_information_return(layout) == pytest.approx(0.3)


def test_small_map_reference_returns():
    layout = preset_layout("small_map")
    # Step to the stop, ride to the corner: 1 - 0.3; walk 4 steps: 1 - 0.3 * 3.
    assert mean_optimal_return(layout) == pytest.approx(0.7)
    assert no_information_return(layout) == pytest.approx(0.1)


@pytest.mark.parametrize("preset", NINE_BY_NINE + ["small_map"])
def test_optimal_actions_earn_optimal_return_in_the_core(preset):
    layout = preset_layout(preset)
    problems = np.repeat(np.arange(layout.num_problems), len(layout.goals))
    goals = np.tile(np.arange(len(layout.goals)), layout.num_problems)
    plans = [optimal_actions(layout, int(p), int(g)) for p, g in zip(problems, goals)]
    env = BatchedBusMap(layout, len(problems))
    env.start_trials(problems, goals)
    env.reset(Phase.EXECUTE)
    returns = np.zeros(len(problems))
    for t in range(layout.horizon):
        actions = np.array([plan[t] if t < len(plan) else NOOP for plan in plans])
        returns += env.step(actions)[1]
    assert env.all_done
    np.testing.assert_allclose(returns, optimal_returns(layout, problems, goals), atol=1e-6)


def test_known_buses_return_worked_case():
    # Problem 0 of distracting_bus_map pairs colored bus k with corner destination
    # (0,1) (0,7) (8,1) (8,7), one step from goals 0 (0,0), 1 (0,8), 3 (8,0), 2 (8,8).
    layout = preset_layout("distracting_bus_map")
    assert known_buses_return(layout, 0, 0, []) == pytest.approx(0.3)
    assert known_buses_return(layout, 0, 0, [0]) == pytest.approx(0.8)
    assert known_buses_return(layout, 0, 0, [1, 2, 3]) == pytest.approx(0.3)
    assert known_buses_return(layout, 0, 2, [3]) == pytest.approx(0.8)
    # Knowing buses 0..k-1: k of the 4 goals earn 0.8 and the rest walk for 0.3, so the
    # mean over goals is 0.3 + 0.5 * k / 4 = 0.3, 0.425, 0.55, 0.675, 0.8.
    for k, expected in enumerate([0.3, 0.425, 0.55, 0.675, 0.8]):
        mean = np.mean([known_buses_return(layout, 0, g, range(k)) for g in range(4)])
        assert mean == pytest.approx(expected)
