"""What an exploration episode revealed, and the best execution return knowing only that
(``informed_return``), on hand-built exploration episodes.

Problem 0 of the 9x9 presets: colored buses (4,5)->(0,1), (5,4)->(0,7), (3,4)->(8,1),
(4,3)->(8,7) (indices 0-3), gray ones (5,5)->(0,4), ...; start (4,4), map (7,3), goals
(0,0), (0,8), (8,8), (8,0). small_map problem 0: (2,1)->(0,0), (3,2)->(0,4), (2,3)->(4,4),
(1,2)->(4,0); start (2,2), map (4,2).
"""

import time

import numpy as np
import pytest

from tf_metarl.envs import (
    BatchedBusMap, Phase, explored_knowledge, explored_knowledge_batch, informed_return,
    informed_returns, known_buses_return, no_information_return, optimal_return,
    optimal_returns, preset_layout)
from tf_metarl.envs.episodes import run_episode
from tf_metarl.envs.layout import END_EPISODE, NOOP, RIDE_BUS

LEFT, UP, RIGHT, DOWN = 0, 1, 2, 3


def explore(layout, problem_id, actions):
    """Plays ``actions`` as problem ``problem_id``'s exploration episode (then noops, or
    the episode's end): (obs [T+1, F], actions [T], length)."""
    env = BatchedBusMap(layout, 1)
    env.start_trials([problem_id], [0])
    plan = iter(actions)
    episode = run_episode(env, Phase.EXPLORE, lambda obs, prev: np.array([next(plan, NOOP)]))
    return episode.obs[0], episode.actions[0], int(episode.length[0])


def test_what_exploration_reveals_on_the_9x9_map_preset():
    layout = preset_layout("distracting_bus_map")

    def known(actions, problem_id=0):
        return explored_knowledge(layout, problem_id, *explore(layout, problem_id, actions))

    assert known([END_EPISODE]) == frozenset()
    assert known([RIGHT, RIGHT, RIGHT, DOWN, END_EPISODE]) == {0, 1, 2, 3}  # stood on the map
    assert known([RIGHT, RIGHT, RIGHT, END_EPISODE]) == frozenset()  # stopped next to it
    assert known([UP, RIDE_BUS, END_EPISODE]) == {0}  # (4,5) -> (0,1)
    assert known([UP, RIDE_BUS, RIDE_BUS, RIGHT, RIGHT, END_EPISODE]) == {0}  # there and back
    assert known([UP, RIDE_BUS, RIDE_BUS, DOWN, DOWN, RIDE_BUS, END_EPISODE]) == {0, 3}
    assert known([UP, RIGHT, RIDE_BUS, END_EPISODE]) == frozenset()  # gray (5,5) -> (0,4)
    assert known([RIDE_BUS, RIDE_BUS, END_EPISODE]) == frozenset()  # no bus at the start
    # Problem 1 sends (3,4) to (8,7) instead of (8,1): still colored bus 2 (the stop's).
    assert known([LEFT, RIDE_BUS, END_EPISODE], problem_id=1) == {2}
    # Riding from the far end back (from a destination) reveals the same bus.
    back = np.array([[0, 1, 1, 0], [4, 5, 1, 0]] + [[4, 5, 1, 0]] * 19, dtype=np.int32)
    assert explored_knowledge(layout, 0, back, [RIDE_BUS] + [NOOP] * 19, 1) == {0}


def test_steps_after_the_episode_ended_reveal_nothing():
    layout = preset_layout("map")
    obs, actions, length = explore(layout, 5, [RIGHT, RIGHT, RIGHT, DOWN, END_EPISODE])
    assert length == 5 and obs[4, 3] == layout.map_value(5) == 6
    assert explored_knowledge(layout, 5, obs, actions, 4) == {0, 1, 2, 3}  # read at step 4
    assert explored_knowledge(layout, 5, obs, actions, 3) == frozenset()  # cut before it
    obs, actions, length = explore(layout, 0, [UP, RIDE_BUS, END_EPISODE])
    assert explored_knowledge(layout, 0, obs, actions, 1) == frozenset()


def test_no_map_field_in_a_preset_without_a_map():
    layout = preset_layout("distracting_bus")
    assert explored_knowledge(layout, 0, *explore(layout, 0, [RIGHT, RIGHT, RIGHT, DOWN])) == set()
    assert explored_knowledge(layout, 0, *explore(layout, 0, [DOWN, RIDE_BUS])) == {3}


def test_informed_return_on_the_9x9_map_preset():
    layout = preset_layout("distracting_bus_map")
    cases = {  # exploration -> informed return for goals (0,0), (0,8), (8,8), (8,0)
        # Nothing learned: walk 8 steps.
        (END_EPISODE,): [0.3] * 4,
        # The map read: everything known, the optimum.
        (RIGHT, RIGHT, RIGHT, DOWN): [0.8] * 4,
        # Bus 0 -> (0,1) known: 3 steps to (0,0); for another goal try one of the 3 unknown
        # buses: right (1/3) 0.8 at once, else ride back (the pair learned) and take the
        # right one (steps 7..): the expectimax gives 0.4.
        (UP, RIDE_BUS): [0.8, 0.4, 0.4, 0.4],
        # Buses 0 and 3 -> (0,1), (8,7) known: their corners' neighbours; unknown (0,7),
        # (8,1): 1/2 right at once (0.8), else back and the other (0.4): 0.6.
        (UP, RIDE_BUS, RIDE_BUS, DOWN, DOWN, RIDE_BUS): [0.8, 0.6, 0.8, 0.6],
        # A gray bus teaches nothing.
        (UP, RIGHT, RIDE_BUS): [0.3] * 4,
    }
    for actions, expected in cases.items():
        obs, acts, length = explore(layout, 0, list(actions) + [END_EPISODE])
        knowledge = explored_knowledge(layout, 0, obs, acts, length)
        got = [informed_return(layout, 0, g, knowledge) for g in range(4)]
        np.testing.assert_allclose(got, expected, atol=1e-9, err_msg=str(actions))
        got = informed_returns(layout, [0] * 4, range(4), [obs] * 4, [acts] * 4, [length] * 4)
        np.testing.assert_allclose(got, expected, atol=1e-9, err_msg=str(actions))
    assert informed_return(layout, 0, 1, []) == pytest.approx(no_information_return(layout, 1))
    assert informed_return(layout, 0, 1, range(4)) == pytest.approx(optimal_return(layout, 0, 1))


def test_informed_return_on_small_map():
    layout = preset_layout("small_map")
    # Hand-written episodes of problem 0 (no env): fields x, y, bus status, map reading.
    rode = np.array([[2, 2, 0, 0], [2, 1, 1, 0], [0, 0, 1, 0]] + [[0, 0, 1, 0]] * 8)
    rode_actions = [DOWN, RIDE_BUS] + [NOOP] * 8
    read = np.array([[2, 2, 0, 0], [3, 2, 1, 0], [4, 2, 0, 1]] + [[4, 2, 0, 1]] * 8)
    read_actions = [RIGHT, RIGHT] + [NOOP] * 8
    nothing = np.array([[2, 2, 0, 0]] * 11)
    assert explored_knowledge(layout, 0, rode, rode_actions, 2) == {0}
    assert explored_knowledge(layout, 0, read, read_actions, 2) == {0, 1, 2, 3}
    assert explored_knowledge(layout, 0, nothing, [END_EPISODE] + [NOOP] * 9, 1) == set()
    obs = np.stack([rode] * 4 + [read] * 4 + [nothing] * 4)
    actions = np.array([rode_actions] * 4 + [read_actions] * 4 + [[END_EPISODE] + [NOOP] * 9] * 4)
    goals = np.tile(np.arange(4), 3)
    got = informed_returns(layout, np.zeros(12, dtype=int), goals, obs, actions, [2] * 8 + [1] * 4)
    # Bus 0 known: its corner (0,0) in 2 steps (0.7); elsewhere walk 4 steps (0.1): a wrong
    # unknown bus lands on a corner and ends the episode, so no ride is worth trying.
    # The map read: 0.7 everywhere. Nothing: walk, 0.1.
    np.testing.assert_allclose(got, [0.7, 0.1, 0.1, 0.1] + [0.7] * 4 + [0.1] * 4, atol=1e-9)
    assert got[8] == pytest.approx(no_information_return(layout, 0))
    np.testing.assert_allclose(got[4:8], optimal_returns(layout, [0] * 4, range(4)), atol=1e-9)


@pytest.mark.parametrize("preset", ["distracting_bus_map", "small_map"])
def test_random_exploration_is_bounded_and_fast(preset):
    """Uniformly random exploration: per trial the informed return lies between walking
    and the optimum, equals known_buses_return of what was found, and 1000 trials cost
    well under a second."""
    layout = preset_layout(preset)
    n = 1000
    rng = np.random.default_rng(0)
    problems = layout.all_problem_ids()[rng.integers(layout.num_problems, size=n)]
    goals = rng.integers(4, size=n)
    env = BatchedBusMap(layout, n)
    env.start_trials(problems, goals)
    # Mostly rides and moves, rarely the end, so every kind of knowledge shows up.
    weights = np.array([3, 3, 3, 3, 1, 4, 0.3])[:layout.num_actions]
    episode = run_episode(env, Phase.EXPLORE,
                          lambda obs, prev: rng.choice(layout.num_actions, size=n, p=weights / weights.sum()))
    args = (problems, goals, episode.obs, episode.actions, episode.length)
    informed_returns(layout, *args)  # the planner's first values are computed once per layout
    start = time.perf_counter()
    informed = informed_returns(layout, *args)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"{elapsed:.3f} s for {n} trials"
    known = explored_knowledge_batch(layout, *[a for i, a in enumerate(args) if i != 1])
    assert len({tuple(k) for k in known}) > 4  # varied knowledge, not only none / all
    no_info = np.array([no_information_return(layout, g) for g in goals])
    assert (informed >= no_info - 1e-9).all()
    assert (informed <= optimal_returns(layout, problems, goals) + 1e-9).all()
    for i in range(0, n, 97):
        assert informed[i] == pytest.approx(known_buses_return(
            layout, int(problems[i]), int(goals[i]), np.flatnonzero(known[i])))


def test_mismatched_arrays_are_refused():
    layout = preset_layout("small_map")
    with pytest.raises(ValueError, match="exploration arrays of shapes"):
        explored_knowledge_batch(layout, [0, 1], np.zeros((2, 11, 3)), np.zeros((2, 10)), [1, 1])
    with pytest.raises(ValueError, match="one goal per problem"):
        informed_returns(layout, [0, 1], [0], np.zeros((2, 11, 4)), np.zeros((2, 10)), [1, 1])
