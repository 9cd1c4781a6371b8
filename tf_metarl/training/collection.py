"""Batched meta-episode collection: N trials, one policy call per step for all of them.

A trial is an exploration episode followed by an execution episode on the same problem.
``play_trials`` drives a ``BatchedBusMap`` with any agent that offers the acting
interface of ``DreamAgent`` (``explore_initial_state``, ``explore_q_values``,
``task_embedding``, ``execute_initial_state``, ``execute_q_values``) and returns the
episodes as padded arrays ready for replay. Two optional agent hooks: ``start_trials
(problem_ids, use_decoder)`` before exploration (IMPORT fixes each trial's mode there),
and ``record_execute_action(state, actions)`` after each execution step (agents whose
execution state holds the previous action, the baselines).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tf_metarl.envs.core import BatchedBusMap, Phase
from tf_metarl.envs.episodes import run_episode


@dataclasses.dataclass
class TrialBatch:
    """N finished trials as padded arrays (T = horizon).

    Exploration: x_obs [N, T+1, F], x_actions [N, T], x_length [N].
    Execution: obs [N, T+1, F], goal [N, 2], actions [N, T], rewards [N, T], length [N].
    Per trial: problem_id [N], goal_id [N], returns [N] (execution return), success [N].
    """
    x_obs: np.ndarray
    x_actions: np.ndarray
    x_length: np.ndarray
    obs: np.ndarray
    goal: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    length: np.ndarray
    problem_id: np.ndarray
    goal_id: np.ndarray
    returns: np.ndarray
    success: np.ndarray

    @property
    def env_steps(self) -> int:
        return int(self.x_length.sum() + self.length.sum())

    def explore_episodes(self) -> dict[str, np.ndarray]:
        return dict(x_obs=self.x_obs, x_actions=self.x_actions, x_length=self.x_length,
                    x_problem_id=self.problem_id)

    def execute_episodes(self) -> dict[str, np.ndarray]:
        return dict(obs=self.obs, goal=self.goal, actions=self.actions, rewards=self.rewards,
                    length=self.length, problem_id=self.problem_id)


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Greedy actions, each replaced by a uniform one with probability ``epsilon``."""
    actions = q_values.argmax(axis=-1)
    if epsilon > 0:
        explore = rng.random(len(actions)) < epsilon
        actions = np.where(explore, rng.integers(q_values.shape[-1], size=len(actions)), actions)
    return actions


def play_trials(agent, env: BatchedBusMap, problem_ids: np.ndarray, goal_ids: np.ndarray,
                rng: np.random.Generator, explore_epsilon: float, execute_epsilon: float,
                use_decoder: np.ndarray) -> TrialBatch:
    """Plays one trial per env slot: exploration, task embedding, execution."""
    n = env.num_envs
    env.start_trials(problem_ids, goal_ids)
    if hasattr(agent, "start_trials"):  # agents that act differently per trial (IMPORT)
        agent.start_trials(problem_ids, use_decoder)

    state = agent.explore_initial_state(n)

    def explore_act(obs, prev_action):
        nonlocal state
        q, state = agent.explore_q_values(obs, prev_action, state)
        return epsilon_greedy(q, explore_epsilon, rng)

    explore = run_episode(env, Phase.EXPLORE, explore_act)
    x_obs, x_actions, x_length = explore.obs, explore.actions, explore.length
    z = agent.task_embedding(x_obs, x_actions, x_length, problem_ids, use_decoder)

    goal = env.goal_xy.astype(np.int32)
    state = agent.execute_initial_state(n)

    def execute_act(obs, prev_action):
        nonlocal state
        q, state = agent.execute_q_values(obs, goal, z, state)
        actions = epsilon_greedy(q, execute_epsilon, rng)
        if hasattr(agent, "record_execute_action"):  # the state holds the previous action
            state = agent.record_execute_action(state, actions)
        return actions

    execute = run_episode(env, Phase.EXECUTE, execute_act)
    rewards = execute.rewards
    return TrialBatch(x_obs=x_obs, x_actions=x_actions, x_length=x_length, obs=execute.obs,
                      goal=goal, actions=execute.actions, rewards=rewards, length=execute.length,
                      problem_id=np.asarray(problem_ids, dtype=np.int32),
                      goal_id=np.asarray(goal_ids, dtype=np.int32),
                      returns=rewards.sum(axis=1), success=(rewards >= 1.0).any(axis=1))
