"""A gymnasium view of the bus-map world: one gymnasium episode is one whole trial.

``BusMapEnv`` plays a trial as the batched core does (``core.BatchedBusMap``): an
exploration episode, then an execution episode on the same problem. The gymnasium
episode runs across both:

* ``reset`` draws the trial (problem, instructed goal) with ``core.sample_trials`` and
  starts the exploration episode on the start cell. Exploration pays reward 0 and the
  ``goal`` observation is all zeros (exploration does not see the instruction).
* When exploration ends (``end_episode`` or its horizon), the same ``step`` call puts the
  agent back on the start cell and returns the first execution observation
  (``phase`` 1, goal visible), with ``info["phase_ended"] = True``. The observation the
  exploration episode ended on is in ``info["exploration_final_observation"]``.
* Execution pays the task reward. The gymnasium episode *terminates* when execution ends:
  goal reached, ``end_episode``, any corner on layouts with ``terminate_on_any_goal``, or
  the execution horizon. The horizon is part of the task (ending early is priced by it),
  so it is reported as termination, never as truncation; register no TimeLimit on top.

Dynamics are read from the same precomputed tables as the batched core
(``core.build_tables``), converted to Python sequences so one step is a few index
lookups: the two implementations cannot disagree on the move, bus or observation logic.
Rewards are the core's float32 values (as Python floats), so both give equal rewards.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tf_metarl.envs.core import Phase, build_tables, sample_trials
from tf_metarl.envs.layout import DEFAULT_PRESET, END_EPISODE, BusMapLayout, preset_layout
from tf_metarl.envs.rendering import render_ansi, render_rgb

ENV_ID = "tf_metarl/BusMap-v0"
_EXPLORE, _EXECUTE = int(Phase.EXPLORE), int(Phase.EXECUTE)
_RESET_OPTIONS = frozenset({"problem_id", "goal_id"})


@dataclasses.dataclass(frozen=True)
class _ScalarTables:
    """``BusMapTables`` as Python sequences, for the one-trial-at-a-time step.

    Attributes:
      next_state: next_state[state * num_actions + action], as in the core.
      observation_rows: [P*C] read-only int64 arrays, the observation of each state
        (copied before being returned).
      goal_of_state: Whether each state lies on a goal cell.
      end_cost: Reward of end_episode after k execution steps.
      step_reward: Reward of an execution step that neither ends nor reaches the goal.
      goal_rows: [G] read-only int64 arrays, (x, y) of each goal.
      goal_cells: Cell index of each goal.
      start_cell: Cell index of the start.
    """
    next_state: tuple[int, ...]
    observation_rows: tuple[np.ndarray, ...]
    goal_of_state: tuple[bool, ...]
    end_cost: tuple[float, ...]
    step_reward: float
    goal_rows: tuple[np.ndarray, ...]
    goal_cells: tuple[int, ...]
    start_cell: int


@functools.lru_cache(maxsize=8)
def _scalar_tables(layout: BusMapLayout) -> _ScalarTables:
    """Converts (once per layout) the core's tables for scalar stepping."""
    tables = build_tables(layout)
    observations = tables.observation_of_state.astype(np.int64)
    observations.setflags(write=False)
    goals = tables.cell_xy[tables.goal_cells].astype(np.int64)
    goals.setflags(write=False)
    return _ScalarTables(
        next_state=tuple(tables.next_state.tolist()),
        observation_rows=tuple(observations),
        goal_of_state=tuple(tables.goal_of_state.tolist()),
        end_cost=tuple(tables.end_cost.tolist()),
        step_reward=float(np.float32(-layout.step_cost)),  # the core's float32 value
        goal_rows=tuple(goals),
        goal_cells=tuple(tables.goal_cells.tolist()),
        start_cell=int(tables.start_cell))


def _resolve_layout(preset: str, layout: BusMapLayout | None) -> BusMapLayout:
    if layout is None:
        return preset_layout(preset)
    if not isinstance(layout, BusMapLayout):
        raise TypeError(f"layout={layout!r}, expected a BusMapLayout or None")
    return layout


class BusMapEnv(gym.Env):
    """One bus-map trial (exploration then execution) per gymnasium episode.

    Observation: ``{"observation": [x, y, status(, map_info)], "goal": [gx, gy] (zeros
    during exploration), "phase": 0 explore / 1 execute}``. Actions: ``layout.action_names``.
    info: ``problem_id``, ``goal_id``, ``phase`` and ``episode_step`` (of the returned
    observation), ``phase_ended`` (True on the step that ends exploration, which then also
    carries ``exploration_final_observation`` and ``exploration_steps``).

    Args:
      preset: Name of a preset layout (``layout.PRESETS``).
      split: Problems to draw trials from: 'train', 'test' (held out) or 'all'.
      layout: A layout to use instead of the preset.
      render_mode: 'ansi' (text grid), 'rgb_array' or None.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, preset: str = DEFAULT_PRESET, split: str = "train",
                 layout: BusMapLayout | None = None, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r}, expected one of {self.metadata['render_modes']} or None")
        self.layout = layout = _resolve_layout(preset, layout)
        self.split = split
        self.render_mode = render_mode
        self._split_ids = layout.split_problem_ids(split)
        self._tables = _scalar_tables(layout)
        self._num_actions = layout.num_actions
        self._horizon = layout.horizon
        self._any_goal_ends = layout.terminate_on_any_goal
        self._no_goal = np.zeros(2, dtype=np.int64)
        self._no_goal.setflags(write=False)
        self.action_space = spaces.Discrete(layout.num_actions)
        self.observation_space = spaces.Dict({
            "observation": spaces.MultiDiscrete(layout.observation_bounds),
            "goal": spaces.MultiDiscrete(layout.goal_bounds),
            "phase": spaces.Discrete(2),
        })
        # Trial state; a trial must be started with reset().
        self._problem_id = self._goal_id = 0
        self._base = self._state = self._goal_state = 0
        self._phase = _EXPLORE
        self._steps = 0
        self._trial_over = True

    # ---- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Starts a trial; ``options`` may fix ``problem_id`` and/or ``goal_id``.

        A trial is always drawn (so the k-th reset after seeding consumes the random
        stream the same way whatever the options); options then override its fields.
        Fixed problem ids may lie outside ``split`` but must exist in the layout.
        """
        super().reset(seed=seed)
        problems, goals = sample_trials(
            self.np_random, self._split_ids, len(self.layout.goals), 1)
        problem_id, goal_id = _apply_options(self.layout, options, int(problems[0]), int(goals[0]))
        self._problem_id, self._goal_id = problem_id, goal_id
        self._base = problem_id * self.layout.num_cells
        self._goal_state = self._base + self._tables.goal_cells[goal_id]
        self._start_episode(_EXPLORE)
        self._trial_over = False
        return self._observation(), self._info(False)

    def step(self, action):
        """Steps the running episode; ending exploration starts execution (see module doc)."""
        if self._trial_over:
            raise RuntimeError("step() called on a finished trial (or before reset()); call reset()")
        a = int(action)
        if not 0 <= a < self._num_actions:
            raise ValueError(f"action={action!r}, expected an integer in [0, {self._num_actions})")
        tables = self._tables
        state = tables.next_state[self._state * self._num_actions + a]
        steps_before = self._steps
        self._state = state
        self._steps = steps_before + 1
        if self._phase == _EXPLORE:
            if a == END_EPISODE or self._steps >= self._horizon:
                return self._end_exploration()
            return self._observation(), 0.0, False, False, self._info(False)

        if a == END_EPISODE:
            reward, terminated = tables.end_cost[steps_before], True
        elif state == self._goal_state:
            reward, terminated = 1.0, True
        else:
            reward = tables.step_reward
            terminated = self._any_goal_ends and tables.goal_of_state[state]
        terminated = terminated or self._steps >= self._horizon
        self._trial_over = terminated
        return self._observation(), reward, terminated, False, self._info(False)

    def render(self):
        """The current frame: a text grid ('ansi') or an RGB image ('rgb_array')."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='ansi' "
                            "or 'rgb_array' to the constructor")
            return None
        cell = self._state - self._base
        if self.render_mode == "rgb_array":
            return render_rgb(self.layout, self._problem_id, cell, self._goal_id)
        phase = "explore (goal hidden from the agent)" if self._phase == _EXPLORE else "execute"
        header = (f"problem {self._problem_id}, goal {self.layout.goals[self._goal_id]}, "
                  f"phase {phase}, step {self._steps}/{self._horizon}")
        return header + "\n" + render_ansi(self.layout, self._problem_id, cell, self._goal_id)

    # ---- read-only views of the trial ---------------------------------------------------------
    @property
    def problem_id(self) -> int:
        return self._problem_id

    @property
    def goal_id(self) -> int:
        return self._goal_id

    @property
    def phase(self) -> Phase:
        return Phase(self._phase)

    @property
    def cell(self) -> int:
        """Cell index of the agent."""
        return self._state - self._base

    # ---- helpers ------------------------------------------------------------------------------
    def _start_episode(self, phase: int) -> None:
        self._phase = phase
        self._state = self._base + self._tables.start_cell
        self._steps = 0

    def _end_exploration(self):
        """Ends exploration and returns the step result showing the execution start."""
        final_observation = self._tables.observation_rows[self._state].copy()
        exploration_steps = self._steps
        self._start_episode(_EXECUTE)
        info = self._info(True)
        info["exploration_final_observation"] = final_observation
        info["exploration_steps"] = exploration_steps
        return self._observation(), 0.0, False, False, info

    def _observation(self) -> dict[str, Any]:
        tables = self._tables
        goal = tables.goal_rows[self._goal_id] if self._phase == _EXECUTE else self._no_goal
        return {"observation": tables.observation_rows[self._state].copy(),
                "goal": goal.copy(), "phase": self._phase}

    def _info(self, phase_ended: bool) -> dict[str, Any]:
        return {"problem_id": self._problem_id, "goal_id": self._goal_id, "phase": self._phase,
                "episode_step": self._steps, "phase_ended": phase_ended}


def _apply_options(layout: BusMapLayout, options: dict[str, Any] | None,
                   problem_id: int, goal_id: int) -> tuple[int, int]:
    """Returns (problem_id, goal_id) with the values fixed by reset ``options``."""
    if not options:
        return problem_id, goal_id
    unknown = sorted(set(options) - _RESET_OPTIONS)
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; expected some of {sorted(_RESET_OPTIONS)}")
    if options.get("problem_id") is not None:
        value = _as_int("problem_id", options["problem_id"])
        (problem_id,) = layout.check_problem_ids([value]).tolist()
    if options.get("goal_id") is not None:
        goal_id = _as_int("goal_id", options["goal_id"])
        num_goals = len(layout.goals)
        if not 0 <= goal_id < num_goals:
            raise ValueError(f"goal_id={goal_id!r} out of range; expected an integer in [0, {num_goals})")
    return problem_id, goal_id


def _as_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r}, expected an integer")
    return int(value)


def register_envs() -> None:
    """Registers ``tf_metarl/BusMap-v0`` with gymnasium (once; later calls do nothing)."""
    if ENV_ID in gym.registry:
        return
    gym.register(id=ENV_ID, entry_point="tf_metarl.envs.gym_env:BusMapEnv")
