"""Playing one episode of every trial of a ``BatchedBusMap`` with any action function.

The one episode loop of the project: meta-training collection and the evaluation of
exported policies both use it, so padding and recording conventions cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from tf_metarl.envs.core import BatchedBusMap, Phase
from tf_metarl.envs.layout import NOOP

# act(observations [N, F], previous actions [N]) -> actions [N]
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass
class Episode:
    """One episode of N trials, padded to the horizon T.

    obs [N, T+1, F] and cells [N, T+1]: finished trials repeat their last value;
    actions [N, T]: noop once finished; rewards [N, T]; length [N] steps taken.
    """
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    length: np.ndarray
    cells: np.ndarray


def run_episode(env: BatchedBusMap, phase: Phase, act: ActFn) -> Episode:
    """Resets ``env`` to ``phase`` and steps every trial until all are done or the horizon.

    ``act`` sees the previous actions, with ``num_actions`` ("no action yet") first.
    """
    n, horizon = env.num_envs, env.layout.horizon
    obs = env.reset(phase)
    all_obs = np.empty((n, horizon + 1) + obs.shape[1:], dtype=obs.dtype)
    cells = np.empty((n, horizon + 1), dtype=np.int64)
    actions = np.full((n, horizon), NOOP, dtype=np.int32)
    rewards = np.zeros((n, horizon), dtype=np.float32)
    all_obs[:, 0], cells[:, 0] = obs, env.cells
    prev_action = np.full(n, env.layout.num_actions, dtype=np.int32)
    last = 0
    for t in range(horizon):
        active = ~env.done
        action = np.asarray(act(obs, prev_action), dtype=np.int32)
        obs, reward, done = env.step(action)
        actions[:, t] = np.where(active, action, NOOP)
        rewards[:, t] = reward
        all_obs[:, t + 1], cells[:, t + 1] = obs, env.cells
        prev_action, last = action, t + 1
        if done.all():
            break
    # Every trial is finished (frozen) from here on: repeat its last observation.
    all_obs[:, last + 1:] = obs[:, None]
    cells[:, last + 1:] = env.cells[:, None]
    return Episode(all_obs, actions, rewards, env.steps.astype(np.int32).copy(), cells)
