"""The gymnasium env: API conformance, trial structure, and agreement with the batched core."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tf_metarl.envs import (
    ENV_ID, BatchedBusMap, BusMapEnv, LayoutError, Phase, preset_layout, sample_trials)
from tf_metarl.envs.layout import END_EPISODE, NOOP, RIDE_BUS, UP

LAYOUT = preset_layout("distracting_bus_map")


def test_registered_and_passes_check_env():
    for render_mode in (None, "ansi", "rgb_array"):
        env = gym.make(ENV_ID, render_mode=render_mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any checker warning fails the test
            check_env(env.unwrapped)
    for preset in ("small_map", "distracting_bus"):
        check_env(gym.make(ENV_ID, preset=preset, split="all").unwrapped)


def test_spaces_follow_the_layout():
    env = BusMapEnv(preset="small_map")
    assert env.action_space == gym.spaces.Discrete(7)
    assert env.observation_space["observation"] == gym.spaces.MultiDiscrete([5, 5, 2, 25])
    assert env.observation_space["goal"] == gym.spaces.MultiDiscrete([5, 5])
    assert env.observation_space["phase"] == gym.spaces.Discrete(2)
    env = BusMapEnv(layout=preset_layout("distracting_bus", num_actions=9))
    assert env.action_space.n == 9
    assert env.observation_space["observation"].nvec.tolist() == [9, 9, 2]


def test_one_gym_episode_is_exploration_then_execution():
    env = BusMapEnv()
    obs, info = env.reset(seed=3, options={"problem_id": 0, "goal_id": 0})
    assert info == {"problem_id": 0, "goal_id": 0, "phase": 0, "episode_step": 0,
                    "phase_ended": False}
    assert obs["observation"].tolist() == [4, 4, 0, 0] and obs["phase"] == 0
    assert obs["goal"].tolist() == [0, 0]  # exploration does not see the goal
    # Explore: up, ride to (0,1), down to the goal corner: no reward, no end.
    for action in (UP, RIDE_BUS):
        obs, reward, terminated, truncated, info = env.step(action)
        assert (reward, terminated, truncated, info["phase_ended"]) == (0.0, False, False, False)
    assert obs["observation"].tolist() == [0, 1, 1, 0] and info["episode_step"] == 2
    obs, reward, terminated, _, info = env.step(END_EPISODE)
    assert info["phase_ended"] and not terminated and reward == 0.0
    assert info["exploration_final_observation"].tolist() == [0, 1, 1, 0]
    assert info["exploration_steps"] == 3
    # Back on the start for execution, now seeing the goal (0,0).
    assert obs["observation"].tolist() == [4, 4, 0, 0]
    assert obs["goal"].tolist() == [0, 0] and obs["phase"] == 1
    assert (info["phase"], info["episode_step"]) == (1, 0)
    rewards = []
    for action in (UP, RIDE_BUS, 3):  # 3 = down
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
    assert rewards == pytest.approx([-0.1, -0.1, 1.0])
    assert terminated and not truncated and not info["phase_ended"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(NOOP)


def test_exploration_horizon_starts_execution_and_execution_horizon_terminates():
    env = BusMapEnv(preset="small_map")
    env.reset(seed=0, options={"goal_id": 1})
    for t in range(10):
        obs, reward, terminated, truncated, info = env.step(NOOP)
        assert reward == 0.0 and not terminated and not truncated
        assert info["phase_ended"] == (t == 9)
    assert obs["goal"].tolist() == [0, 4]
    total = 0.0
    for t in range(10):
        obs, reward, terminated, truncated, info = env.step(NOOP)
        total += reward
        assert terminated == (t == 9) and not truncated  # the horizon is termination
    assert total == pytest.approx(-3.0)


def test_end_episode_in_execution_costs_the_steps_left():
    env = BusMapEnv()
    env.reset(seed=0)
    env.step(END_EPISODE)
    env.step(NOOP)
    _, reward, terminated, _, _ = env.step(END_EPISODE)
    assert reward == pytest.approx(-0.1 * 19) and terminated


def test_small_map_wrong_corner_terminates():
    env = BusMapEnv(preset="small_map")
    env.reset(options={"problem_id": 0, "goal_id": 0})
    env.step(END_EPISODE)
    env.step(2)  # right, onto the stop (3,2) that leads to the corner (0,4)
    obs, reward, terminated, _, _ = env.step(RIDE_BUS)
    assert obs["observation"][:2].tolist() == [0, 4]
    assert reward == pytest.approx(-0.3) and terminated


def test_seeded_resets_draw_the_core_trials():
    ids = LAYOUT.split_problem_ids("train")
    for seed in range(4):
        env = BusMapEnv()
        rng = np.random.default_rng(seed)
        for k in range(5):
            _, info = env.reset(seed=seed if k == 0 else None)
            problems, goals = sample_trials(rng, ids, 4, 1)
            assert (info["problem_id"], info["goal_id"]) == (problems[0], goals[0])
            assert info["problem_id"] % 11 == 0  # a training problem


def _core_trajectories(layout, problems, goals, actions):
    """Per trial and phase, the core's (observation, reward) after each step until done."""
    n = len(problems)
    env = BatchedBusMap(layout, n)
    env.start_trials(problems, goals)
    trajectories = [{} for _ in range(n)]
    for phase in (Phase.EXPLORE, Phase.EXECUTE):
        first = env.reset(phase)
        for i in range(n):
            trajectories[i][phase] = [(first[i].tolist(), None)]
        for t in range(layout.horizon):
            active = ~env.done
            obs, reward, _ = env.step(actions[phase][t])
            for i in np.flatnonzero(active):
                trajectories[i][phase].append((obs[i].tolist(), float(reward[i])))
    return trajectories


@pytest.mark.parametrize("preset, seed", [("distracting_bus_map", 0), ("distracting_bus_map", 1),
                                          ("small_map", 2), ("distracting_bus", 3)])
def test_gym_env_matches_the_batched_core(preset, seed):
    layout = preset_layout(preset)
    n = 12
    rng = np.random.default_rng(seed)
    problems, goals = sample_trials(rng, layout.split_problem_ids("test"), 4, n)
    # Half the trials never end an episode by choice, so they also meet the horizons.
    actions = {phase: rng.integers(layout.num_actions, size=(layout.horizon, n))
               for phase in Phase}
    for phase in Phase:
        actions[phase][:, n // 2:] %= END_EPISODE
    expected = _core_trajectories(layout, problems, goals, actions)
    env = BusMapEnv(layout=layout, split="test")
    for i in range(n):
        obs, info = env.reset(options={"problem_id": int(problems[i]), "goal_id": int(goals[i])})
        assert obs["observation"].tolist() == expected[i][Phase.EXPLORE][0][0]
        for phase in Phase:
            for t, (core_obs, core_reward) in enumerate(expected[i][phase][1:]):
                obs, reward, terminated, _, info = env.step(actions[phase][t, i])
                assert reward == core_reward
                last = t == len(expected[i][phase]) - 2
                if phase == Phase.EXPLORE and last:
                    assert info["phase_ended"]
                    assert info["exploration_final_observation"].tolist() == core_obs
                    assert obs["observation"].tolist() == expected[i][Phase.EXECUTE][0][0]
                else:
                    assert obs["observation"].tolist() == core_obs
                assert terminated == (phase == Phase.EXECUTE and last)
        assert info["problem_id"] == problems[i] and info["goal_id"] == goals[i]


def test_bad_arguments_are_named():
    with pytest.raises(LayoutError, match="'nine'"):
        BusMapEnv(preset="nine")
    with pytest.raises(LayoutError, match="'dev'"):
        BusMapEnv(split="dev")
    with pytest.raises(ValueError, match="'human'"):
        BusMapEnv(render_mode="human")
    with pytest.raises(TypeError, match="BusMapLayout"):
        BusMapEnv(layout={"width": 9})
    env = BusMapEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(NOOP)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7"):
        env.step(7)
    with pytest.raises(LayoutError, match="problem id 600"):
        env.reset(options={"problem_id": 600})
    with pytest.raises(ValueError, match="goal_id=4"):
        env.reset(options={"goal_id": 4})
    with pytest.raises(ValueError, match="'problem'"):
        env.reset(options={"problem": 3})


def test_render_modes():
    env = BusMapEnv(render_mode="ansi")
    env.reset(seed=0, options={"problem_id": 5, "goal_id": 0})
    text = env.render()
    assert text.startswith("problem 5, goal (0, 0), phase explore") and "@" in text
    env = BusMapEnv(render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (9 * 16, 9 * 16, 3) and image.dtype == np.uint8
