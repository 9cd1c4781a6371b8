"""The batched core against hand-worked trajectories.

Problem ids of distracting_bus_map, worked by hand: problem mu uses colored permutation
``permutations(range(4))[mu % 24]`` and gray permutation ``[mu // 24]``, where stop i
leads to destination ``perm[i]``.
  colored stops (4,5) (5,4) (3,4) (4,3);  destinations (0,1) (0,7) (8,1) (8,7)
  gray stops    (5,5) (3,3) (3,5) (5,3);  destinations (0,4) (4,0) (8,4) (4,8)
  problem 0:   colored (0,1,2,3), gray (0,1,2,3)
  problem 5:   colored (0,3,2,1): (4,5)->(0,1) (5,4)->(8,7) (3,4)->(8,1) (4,3)->(0,7)
  problem 173 = 7*24 + 5: colored as problem 5, gray index 7 = (1,0,3,2):
               (5,5)->(4,0) (3,3)->(0,4) (3,5)->(4,8) (5,3)->(8,4)
"""

import numpy as np
import pytest

from tf_metarl.envs import BatchedBusMap, Phase, build_tables, preset_layout
from tf_metarl.envs.layout import DOWN, END_EPISODE, LEFT, NOOP, RIDE_BUS, RIGHT, UP

LAYOUT = preset_layout("distracting_bus_map")
SMALL = preset_layout("small_map")


def start(layout, problem_id=0, goal_id=0, phase=Phase.EXPLORE, n=1):
    env = BatchedBusMap(layout, n)
    env.start_trials([problem_id] * n, [goal_id] * n)
    env.reset(phase)
    return env


def play(env, actions):
    """Steps one-trial ``env``; returns [(x, y), ...], rewards, dones after each action."""
    cells, rewards, dones = [], [], []
    for action in actions:
        obs, reward, done = env.step(np.array([action]))
        cells.append((int(obs[0, 0]), int(obs[0, 1])))
        rewards.append(float(reward[0]))
        dones.append(bool(done[0]))
    return cells, rewards, dones


# ---- moves ----------------------------------------------------------------------------------------
def test_moves_and_clipping_at_borders():
    env = start(LAYOUT)
    cells, _, dones = play(env, [LEFT] * 5)
    # (4,4) -> (3,4) (2,4) (1,4) (0,4), then the border holds x at 0.
    assert cells == [(3, 4), (2, 4), (1, 4), (0, 4), (0, 4)]
    cells, _, _ = play(env, [DOWN] * 5 + [LEFT, DOWN])
    assert cells == [(0, 3), (0, 2), (0, 1), (0, 0), (0, 0), (0, 0), (0, 0)]
    assert not any(dones)  # exploration does not end at a corner
    env = start(LAYOUT)
    cells, _, _ = play(env, [UP] * 5 + [NOOP])
    assert cells == [(4, 5), (4, 6), (4, 7), (4, 8), (4, 8), (4, 8)]
    env = start(LAYOUT)
    cells, _, _ = play(env, [RIGHT] * 5 + [UP] * 5)
    assert cells[3:] == [(8, 4), (8, 4), (8, 5), (8, 6), (8, 7), (8, 8), (8, 8)]


# ---- buses ----------------------------------------------------------------------------------------
COLORED_CASES = [
    # (problem, path from the start to the stop, stop, destination)
    (0, [UP], (4, 5), (0, 1)),
    (0, [RIGHT], (5, 4), (0, 7)),
    (0, [LEFT], (3, 4), (8, 1)),
    (0, [DOWN], (4, 3), (8, 7)),
    (5, [UP], (4, 5), (0, 1)),
    (5, [RIGHT], (5, 4), (8, 7)),
    (5, [LEFT], (3, 4), (8, 1)),
    (5, [DOWN], (4, 3), (0, 7)),
]
GRAY_CASES = [
    (0, [UP, RIGHT], (5, 5), (0, 4)),
    (0, [LEFT, DOWN], (3, 3), (4, 0)),
    (0, [UP, LEFT], (3, 5), (8, 4)),
    (0, [DOWN, RIGHT], (5, 3), (4, 8)),
    (173, [UP, RIGHT], (5, 5), (4, 0)),
    (173, [LEFT, DOWN], (3, 3), (0, 4)),
    (173, [UP, LEFT], (3, 5), (4, 8)),
    (173, [DOWN, RIGHT], (5, 3), (8, 4)),
]


@pytest.mark.parametrize("problem_id, path, stop, destination", COLORED_CASES + GRAY_CASES)
def test_bus_rides_both_ways(problem_id, path, stop, destination):
    env = start(LAYOUT, problem_id)
    cells, _, _ = play(env, path + [RIDE_BUS, RIDE_BUS, RIDE_BUS])
    assert cells[len(path) - 1] == stop
    assert cells[len(path):] == [destination, stop, destination]


def test_problem_173_colored_buses_match_problem_5():
    # Same colored permutation index (173 % 24 == 5); only the gray buses differ.
    for _, path, stop, destination in COLORED_CASES[4:]:
        cells, _, _ = play(start(LAYOUT, 173), path + [RIDE_BUS])
        assert cells[-1] == destination


@pytest.mark.parametrize("path", [[], [UP, UP, RIGHT, RIGHT], [RIGHT, RIGHT, RIGHT, DOWN]])
def test_riding_off_a_bus_cell_does_nothing(path):
    # The start, (6,6) and the map cell (7,3) are not bus cells.
    env = start(LAYOUT, 5)
    cells, _, _ = play(env, path + [NOOP])
    here = cells[-1]
    cells, _, _ = play(env, [RIDE_BUS, RIDE_BUS])
    assert cells == [here, here]


def test_status_is_one_exactly_on_bus_cells():
    bus_cells = {(4, 5), (5, 4), (3, 4), (4, 3), (0, 1), (0, 7), (8, 1), (8, 7),
                 (5, 5), (3, 3), (3, 5), (5, 3), (0, 4), (4, 0), (8, 4), (4, 8)}
    observation = build_tables(LAYOUT).observation  # [P, C, F]
    for problem_id in (0, 5, 173, 575):
        for index in range(LAYOUT.num_cells):
            x, y = LAYOUT.cell_of(index)
            assert observation[problem_id, index, 2] == ((x, y) in bus_cells)
    env = start(LAYOUT)
    assert env.observation[0, 2] == 0
    obs, _, _ = env.step(np.array([UP]))
    assert obs[0, 2] == 1


@pytest.mark.parametrize("problem_id, shown", [(0, 1), (5, 6), (173, 6), (23, 24), (575, 24)])
def test_map_reveals_colored_permutation_index_plus_one(problem_id, shown):
    env = start(LAYOUT, problem_id)
    cells, _, _ = play(env, [RIGHT, RIGHT, RIGHT, DOWN])
    assert cells[-1] == (7, 3)
    assert env.observation[0].tolist() == [7, 3, 0, shown]
    map_info = build_tables(LAYOUT).observation[problem_id, :, 3]
    assert map_info[LAYOUT.cell_index((7, 3))] == shown
    assert np.count_nonzero(map_info) == 1


def test_map_preset_reveals_problem_plus_one_and_no_map_preset_has_three_fields():
    assert build_tables(preset_layout("map")).observation[17, LAYOUT.cell_index((7, 3)), 3] == 18
    assert build_tables(preset_layout("distracting_bus")).observation.shape[-1] == 3


# ---- rewards and termination ---------------------------------------------------------------------
def test_execution_rewards_ride_to_goal():
    # Problem 0, goal 0 = (0,0): up to (4,5), ride to (0,1), down: -0.1, -0.1, +1.
    env = start(LAYOUT, 0, 0, Phase.EXECUTE)
    cells, rewards, dones = play(env, [UP, RIDE_BUS, DOWN])
    assert cells == [(4, 5), (0, 1), (0, 0)]
    assert rewards == pytest.approx([-0.1, -0.1, 1.0])
    assert dones == [False, False, True]
    assert sum(rewards) == pytest.approx(0.8)


def test_execution_does_not_end_on_a_wrong_corner_of_a_9x9_preset():
    # Problem 0: (5,4) leads to (0,7); up is the corner (0,8), goal 0 is (0,0).
    env = start(LAYOUT, 0, 0, Phase.EXECUTE)
    cells, rewards, dones = play(env, [RIGHT, RIDE_BUS, UP])
    assert cells[-1] == (0, 8)
    assert rewards[-1] == pytest.approx(-0.1) and not dones[-1]


@pytest.mark.parametrize("steps_before", [0, 3, 19])
def test_end_episode_pays_for_every_step_left(steps_before):
    env = start(LAYOUT, 0, 0, Phase.EXECUTE)
    _, rewards, dones = play(env, [NOOP] * steps_before + [END_EPISODE])
    # -0.1 * (horizon - steps taken before): this step and every step left.
    assert rewards[-1] == pytest.approx(-0.1 * (20 - steps_before))
    assert dones == [False] * steps_before + [True]
    assert sum(rewards) == pytest.approx(-2.0)


def test_exploration_pays_nothing_and_ends_only_by_end_episode_or_horizon():
    env = start(LAYOUT, 0, 0, Phase.EXPLORE)
    # Ride to (0,1) and step onto the goal corner (0,0): exploration goes on.
    cells, rewards, dones = play(env, [UP, RIDE_BUS, DOWN, NOOP, END_EPISODE])
    assert cells[2] == (0, 0)
    assert rewards == [0.0] * 5
    assert dones == [False] * 4 + [True]


@pytest.mark.parametrize("phase", [Phase.EXPLORE, Phase.EXECUTE])
def test_time_limit_at_horizon_20(phase):
    env = start(LAYOUT, 0, 0, phase)
    _, rewards, dones = play(env, [NOOP] * 20)
    assert dones == [False] * 19 + [True]
    expected = 0.0 if phase == Phase.EXPLORE else -2.0
    assert sum(rewards) == pytest.approx(expected)


def test_finished_trials_stay_frozen():
    env = start(LAYOUT, 0, 0, Phase.EXECUTE, n=2)
    obs, reward, done = env.step(np.array([END_EPISODE, UP]))
    assert done.tolist() == [True, False]
    frozen = obs[0].copy()
    for action in (LEFT, RIDE_BUS, END_EPISODE):
        obs, reward, done = env.step(np.array([action, NOOP]))
        assert reward[0] == 0.0 and done[0]
        assert obs[0].tolist() == frozen.tolist()
        assert reward[1] == pytest.approx(-0.1) and not done[1]
    assert env.steps.tolist() == [1, 4]


def test_small_map_any_corner_ends_execution():
    # Problem 0: (3,2) leads to the corner (0,4), (2,1) to (0,0); goal 0 is (0,0).
    env = start(SMALL, 0, 0, Phase.EXECUTE)
    cells, rewards, dones = play(env, [RIGHT, RIDE_BUS])
    assert cells == [(3, 2), (0, 4)]
    assert rewards == pytest.approx([-0.3, -0.3]) and dones == [False, True]
    env = start(SMALL, 0, 0, Phase.EXECUTE)
    cells, rewards, dones = play(env, [DOWN, RIDE_BUS])
    assert cells[-1] == (0, 0) and sum(rewards) == pytest.approx(0.7) and dones[-1]
    # Exploration does not end on a corner, and the small map's horizon is 10.
    env = start(SMALL, 0, 0, Phase.EXPLORE)
    _, rewards, dones = play(env, [RIGHT, RIDE_BUS] + [NOOP] * 8)
    assert dones == [False] * 9 + [True] and rewards == [0.0] * 10


def test_start_trials_rejects_bad_ids():
    env = BatchedBusMap(LAYOUT, 2)
    with pytest.raises(ValueError, match="576"):
        env.start_trials([0, 576], [0, 0])
    with pytest.raises(ValueError, match="goal ids"):
        env.start_trials([0, 1], [0, 4])


def test_step_rejects_actions_out_of_range_or_of_the_wrong_shape():
    env = BatchedBusMap(LAYOUT, 2)
    env.start_trials([0, 1], [0, 0])
    env.reset(Phase.EXPLORE)
    num_actions = LAYOUT.num_actions
    with pytest.raises(ValueError, match=f"action {num_actions} is out of range: expected 0 <= action < {num_actions}"):
        env.step(np.array([UP, num_actions]))
    for dtype in (np.int64, np.int32, np.int8):
        with pytest.raises(ValueError, match="action -1 is out of range"):
            env.step(np.array([-1, UP], dtype=dtype))
    with pytest.raises(ValueError, match=r"shape \(3,\).*expected 2 integer actions"):
        env.step(np.array([UP, UP, UP]))
    with pytest.raises(ValueError, match="dtype float"):
        env.step(np.array([1.0, 2.0]))
    assert env.steps.tolist() == [0, 0]  # refused steps moved nothing
