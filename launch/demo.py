"""Plays bus-map trials on held-out problems (all problems on presets without a held-out
split) with the oracle and a random policy.

Both play through the batched core; the table compares their mean execution return with
the oracle's optimal return and the no-information (walking) return of the test split.

  python launch/demo.py --env_preset=small_map --num_trials=8 --seed=0 --render
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from absl import app, flags

from tf_metarl.envs import (
    DEFAULT_PRESET, PRESETS, BatchedBusMap, Phase, mean_optimal_return, no_information_return,
    optimal_actions, preset_layout, render_ansi, sample_trials)
from tf_metarl.envs.episodes import Episode, run_episode
from tf_metarl.envs.layout import END_EPISODE, NOOP

_PRESET = flags.DEFINE_enum("env_preset", DEFAULT_PRESET, sorted(PRESETS), "Bus-map preset.")
_NUM_TRIALS = flags.DEFINE_integer("num_trials", 8, "Trials per policy.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the trials and the random policy.", lower_bound=0)
_RENDER = flags.DEFINE_bool("render", False, "Print the oracle's execution of the first trial.")

Policy = Callable[[int], np.ndarray]  # step index -> actions [N]


def play_episode(env: BatchedBusMap, phase: Phase, policy: Policy) -> Episode:
    """Plays one episode of ``phase`` in every trial with a step-indexed policy."""
    step = iter(range(env.layout.horizon))
    return run_episode(env, phase, lambda obs, prev_action: policy(next(step)))


def oracle_returns(layout, problems, goals, cells=None) -> np.ndarray:
    """The oracle ends exploration at once, then follows a shortest plan to the goal."""
    env = BatchedBusMap(layout, len(problems))
    env.start_trials(problems, goals)
    plans = [optimal_actions(layout, int(p), int(g)) for p, g in zip(problems, goals)]
    play_episode(env, Phase.EXPLORE, lambda t: np.full(len(problems), END_EPISODE))
    episode = play_episode(env, Phase.EXECUTE,
                           lambda t: np.array([p[t] if t < len(p) else NOOP for p in plans]))
    if cells is not None:  # the first trial's cells, from the start to where it ended
        cells.extend(int(c) for c in episode.cells[0, : episode.length[0] + 1])
    return episode.rewards.sum(axis=1)


def random_returns(layout, problems, goals, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random policy in both episodes; returns the execution returns."""
    env = BatchedBusMap(layout, len(problems))
    env.start_trials(problems, goals)
    policy = lambda t: rng.integers(layout.num_actions, size=len(problems))  # noqa: E731
    play_episode(env, Phase.EXPLORE, policy)
    return play_episode(env, Phase.EXECUTE, policy).rewards.sum(axis=1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    layout = preset_layout(_PRESET.value)
    rng = np.random.default_rng(_SEED.value)
    test_ids = layout.split_problem_ids("test")
    problems, goals = sample_trials(rng, test_ids, len(layout.goals), _NUM_TRIALS.value)
    cells = [] if _RENDER.value else None
    rows = [("oracle", oracle_returns(layout, problems, goals, cells).mean()),
            ("random", random_returns(layout, problems, goals, rng).mean()),
            ("optimal (mean_optimal_return)", mean_optimal_return(layout, test_ids)),
            ("no information (walking)", no_information_return(layout))]
    print(f"{layout.name}: {_NUM_TRIALS.value} trials on {layout.describe_split('test')}, seed {_SEED.value}")
    print(f"{'policy':<32}{'execution return':>17}")
    for name, value in rows:
        print(f"{name:<32}{value:>17.3f}")
    for t, cell in enumerate(cells or []):
        print(f"\noracle, trial 0 (problem {problems[0]}), execution step {t}")
        print(render_ansi(layout, int(problems[0]), cell, int(goals[0])))


if __name__ == "__main__":
    app.run(main)
