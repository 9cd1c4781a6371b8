"""Oracle reference returns, and the oracle's plans played in the core."""

import dataclasses

import numpy as np
import pytest

from tf_metarl.envs import (
    BatchedBusMap, Phase, known_buses_return, mean_optimal_return, no_information_return,
    optimal_actions, optimal_return, optimal_returns, preset_layout)
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
    # Colored stops are one step from the start and two from each other.
    layout = preset_layout("distracting_bus_map")
    assert known_buses_return(layout, 0, 0, []) == pytest.approx(0.3)  # walk 8 steps
    assert known_buses_return(layout, 0, 0, [0]) == pytest.approx(0.8)  # step, ride, step
    assert known_buses_return(layout, 0, 2, [3]) == pytest.approx(0.8)
    # Three known: the fourth follows.
    assert known_buses_return(layout, 0, 0, [1, 2, 3]) == pytest.approx(0.8)
    # Two unknown buses, one of them right: try one (3 steps, 0.8) or ride back and try
    # the other (7 steps, 0.4): 0.6 on average, better than walking (0.3).
    assert known_buses_return(layout, 0, 2, [0, 1]) == pytest.approx(0.6)
    # Three unknown: 0.8, 0.4 or (third try, 11 steps) 0.0, each with probability 1/3.
    assert known_buses_return(layout, 0, 1, [0]) == pytest.approx(0.4)
    # Four unknown: gambling averages (0.8 + 0.4 + 0.0 - 0.4) / 4 = 0.2, so walk.
    # The mean over goals is environment.md's 0.3/0.5/0.7/0.8/0.8.
    for k, expected in enumerate([0.3, 0.5, 0.7, 0.8, 0.8]):
        mean = np.mean([known_buses_return(layout, 0, g, range(k)) for g in range(4)])
        assert mean == pytest.approx(expected)


def test_known_buses_return_counts_episodes_ended_on_a_wrong_corner():
    # small_map: buses lead straight to the corners and any corner ends the episode.
    # One known bus, goal elsewhere: a ride to one of 3 unknown buses is 1/3 * 0.7 +
    # 2/3 * (-0.6) < 0 (two steps, then ended on a wrong corner), so walk: 0.1.
    layout = preset_layout("small_map")
    buses = [b for b in layout.buses(0) if b[2]]
    goal_of_bus_0 = layout.goals.index(buses[0][1])
    other_goal = (goal_of_bus_0 + 1) % 4
    assert known_buses_return(layout, 0, goal_of_bus_0, [0]) == pytest.approx(0.7)
    assert known_buses_return(layout, 0, other_goal, [0]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="known colored bus 4"):
        known_buses_return(layout, 0, 0, [4])


def test_a_ride_onto_a_wrong_goal_ends_the_gamble_there():
    # The map preset with its colored buses leading straight to the corners, every corner
    # ending the episode. Buses 0 and 1 known, the goal served by bus 3: trying one of the
    # two unknown stops lands on the goal (2 steps, 0.9) or on the other corner, which ends
    # the episode at -0.2: 0.35 on average (riding back and on would have given 0.5).
    base = preset_layout("map")
    layout = dataclasses.replace(base, colored_destinations=base.goals, map_cell=None,
                                 terminate_on_any_goal=True)
    goal = layout.goals.index(layout.buses(0)[3][1])
    assert known_buses_return(layout, 0, goal, [0, 1]) == pytest.approx(0.35)


def test_no_ride_starts_from_a_cell_that_ended_the_episode():
    # A wrong goal next to the start is also a bus destination: stepping onto it ends the
    # episode, so riding on from there to the target's corner is not a plan. Walking the
    # 8 steps (0.3) is the best, as with the whole layout known.
    base = preset_layout("map")
    layout = dataclasses.replace(
        base, colored_stops=((1, 0), (0, 1)), colored_destinations=((4, 5), (8, 8)),
        goals=((0, 0), (4, 5), (8, 8), (8, 0)), map_cell=None, terminate_on_any_goal=True)
    assert optimal_return(layout, 0, 0) == pytest.approx(0.3)
    assert known_buses_return(layout, 0, 0, []) == pytest.approx(0.3)
