"""The batched bus-map core: N independent trials stepped with one numpy call.

All dynamics live in two precomputed tables (``BusMapTables``): the next cell for every
(problem, cell, action) and the observation for every (problem, cell). A step is then a
handful of vectorised gathers, with no Python loop over trials. The gymnasium env
(``gym_env.py``) and the oracle use the same tables, so there is one definition of the
dynamics.

A trial is one exploration episode followed by one execution episode on the same
problem. ``BatchedBusMap.reset(phase)`` starts an episode of the given phase for all N
trials; trials that finish early stay frozen (reward 0, unchanged observation) until
every trial is done or the horizon is reached.
"""

from __future__ import annotations

import dataclasses
import enum
import functools

import numpy as np

from tf_metarl.envs.layout import (
    END_EPISODE, NOOP, RIDE_BUS, BusMapLayout, LayoutError, _MOVES)


class Phase(enum.IntEnum):
    """Which episode of a trial is running."""
    EXPLORE = 0
    EXECUTE = 1


@dataclasses.dataclass(frozen=True)
class BusMapTables:
    """Precomputed dynamics of a layout.

    Attributes:
      next_cell: [P, C, A] int32, the cell reached from cell c by action a in problem p.
      observation: [P, C, F] int32, what the agent observes on cell c in problem p.
      cell_xy: [C, 2] int32, (x, y) of each cell index.
      goal_cells: [G] int32, cell index of each goal.
      is_goal_cell: [C] bool.
      start_cell: Cell index of the start.
      next_state: [P*C*A] int64, flat form used for stepping: a trial's state is
        ``p*C + cell`` and ``next_state[state*A + a]`` is its next state.
      observation_of_state: [P*C, F] int32, observation of each flat state.
      goal_of_state: [P*C] bool, whether a flat state lies on a goal cell.
      end_cost: [horizon+1] float32, reward of end_episode after k steps:
        ``-step_cost * (horizon - k)`` (this step and every step left).
    """
    next_cell: np.ndarray
    observation: np.ndarray
    cell_xy: np.ndarray
    goal_cells: np.ndarray
    is_goal_cell: np.ndarray
    start_cell: int
    next_state: np.ndarray
    observation_of_state: np.ndarray
    goal_of_state: np.ndarray
    end_cost: np.ndarray


@functools.lru_cache(maxsize=32)
def build_tables(layout: BusMapLayout) -> BusMapTables:
    """Builds (once per layout) the transition and observation tables."""
    W, H, C = layout.width, layout.height, layout.num_cells
    P, A = layout.num_problems, layout.num_actions
    cell_xy = np.array([layout.cell_of(c) for c in range(C)], dtype=np.int32)

    # Moves do not depend on the problem: clip at the border.
    moves = np.tile(np.arange(C, dtype=np.int32)[:, None], (1, A))  # [C, A], default: stay
    for action, (dx, dy) in _MOVES.items():
        x = np.clip(cell_xy[:, 0] + dx, 0, W - 1)
        y = np.clip(cell_xy[:, 1] + dy, 0, H - 1)
        moves[:, action] = y * W + x
    next_cell = np.tile(moves[None], (P, 1, 1))  # [P, C, A]

    status = np.zeros(C, dtype=np.int32)
    for problem in range(P):
        for stop, dest, _ in layout.buses(problem):
            s, d = layout.cell_index(stop), layout.cell_index(dest)
            next_cell[problem, s, RIDE_BUS] = d  # buses run both ways
            next_cell[problem, d, RIDE_BUS] = s
            status[s] = status[d] = 1

    fields = [np.broadcast_to(cell_xy[None, :, 0], (P, C)),
              np.broadcast_to(cell_xy[None, :, 1], (P, C)),
              np.broadcast_to(status[None, :], (P, C))]
    if layout.has_map:
        map_info = np.zeros((P, C), dtype=np.int32)
        map_info[:, layout.cell_index(layout.map_cell)] = [layout.map_value(p) for p in range(P)]
        fields.append(map_info)
    observation = np.stack(fields, axis=-1).astype(np.int32)

    goal_cells = np.array([layout.cell_index(g) for g in layout.goals], dtype=np.int32)
    is_goal_cell = np.zeros(C, dtype=bool)
    is_goal_cell[goal_cells] = True
    problem_base = (np.arange(P, dtype=np.int64) * C)[:, None, None]
    next_state = (next_cell + problem_base).reshape(-1)
    observation_of_state = observation.reshape(P * C, -1)
    goal_of_state = np.tile(is_goal_cell, P)
    end_cost = (-layout.step_cost * (layout.horizon - np.arange(layout.horizon + 1))).astype(np.float32)
    arrays = (next_cell, observation, cell_xy, goal_cells, is_goal_cell, next_state,
              observation_of_state, goal_of_state, end_cost)
    for array in arrays:
        array.setflags(write=False)
    return BusMapTables(next_cell=next_cell, observation=observation, cell_xy=cell_xy,
                        goal_cells=goal_cells, is_goal_cell=is_goal_cell,
                        start_cell=layout.cell_index(layout.start), next_state=next_state,
                        observation_of_state=observation_of_state, goal_of_state=goal_of_state,
                        end_cost=end_cost)


def sample_trials(rng: np.random.Generator, problem_ids: np.ndarray, num_goals: int,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws n trials: problems uniformly from ``problem_ids``, goals uniformly.

    This is the only place trials are drawn, so the batched core and the gymnasium env
    see the same trials from the same seed.
    """
    if len(problem_ids) == 0:
        raise ValueError("no problems to draw trials from: the split holds no problem ids")
    problems = np.asarray(problem_ids)[rng.integers(len(problem_ids), size=n)]
    goals = rng.integers(num_goals, size=n)
    return problems.astype(np.int64), goals.astype(np.int64)


class BatchedBusMap:
    """N bus-map trials stepped together.

    Usage::

        env = BatchedBusMap(layout, num_envs=16)
        env.start_trials(problem_ids, goal_ids)
        obs = env.reset(Phase.EXPLORE)
        while not env.all_done:
            obs, reward, done = env.step(actions)
        obs = env.reset(Phase.EXECUTE)
        ...

    Internally each trial's state is one flat index ``problem * C + cell`` into the tables,
    so a step is a few ``np.take`` gathers (per-call overhead, not arithmetic, dominates at
    small N).
    """

    def __init__(self, layout: BusMapLayout, num_envs: int):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}, expected a positive integer")
        self.layout = layout
        self.num_envs = n = int(num_envs)
        self.tables = tables = build_tables(layout)
        self._next_state = tables.next_state
        self._obs_of_state = tables.observation_of_state
        self._goal_of_state = tables.goal_of_state
        self._end_cost = tables.end_cost
        self.problem_ids = np.zeros(n, dtype=np.int64)
        self.goal_ids = np.zeros(n, dtype=np.int64)
        self._problem_base = np.zeros(n, dtype=np.int64)
        self._goal_state = np.full(n, tables.goal_cells[0], dtype=np.int64)
        self._state = np.full(n, tables.start_cell, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)
        self.phase = Phase.EXPLORE

    # ---- trials and episodes ------------------------------------------------------------
    def start_trials(self, problem_ids, goal_ids) -> None:
        """Sets the problem and instructed goal of every trial."""
        problem_ids = self.layout.check_problem_ids(problem_ids)
        goal_ids = np.asarray(goal_ids, dtype=np.int64)
        if problem_ids.shape != (self.num_envs,) or goal_ids.shape != (self.num_envs,):
            raise ValueError(
                f"expected {self.num_envs} problem ids and goal ids, got shapes "
                f"{problem_ids.shape} and {goal_ids.shape}")
        num_goals = len(self.layout.goals)
        if ((goal_ids < 0) | (goal_ids >= num_goals)).any():
            raise LayoutError(f"goal ids {goal_ids.tolist()} out of range; expected 0 <= id < {num_goals}")
        self.problem_ids = problem_ids
        self.goal_ids = goal_ids
        self._problem_base = problem_ids * self.layout.num_cells
        self._goal_state = self._problem_base + self.tables.goal_cells[goal_ids]
        self.done[:] = True

    def reset(self, phase: Phase) -> np.ndarray:
        """Starts an episode of ``phase`` in every trial; returns observations [N, F]."""
        self.phase = Phase(phase)
        self._state = self._problem_base + self.tables.start_cell
        self.steps[:] = 0
        self.done[:] = False
        return self.observation

    @property
    def cells(self) -> np.ndarray:
        """Current cell index of every trial, [N]."""
        return self._state - self._problem_base

    @property
    def observation(self) -> np.ndarray:
        """Current observations, [N, F] int32."""
        return self._obs_of_state.take(self._state, axis=0)

    @property
    def goal_xy(self) -> np.ndarray:
        """Instructed goal cells as (x, y), [N, 2] int32."""
        return self.tables.cell_xy[self.tables.goal_cells[self.goal_ids]]

    @property
    def all_done(self) -> bool:
        return bool(self.done.all())

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps every unfinished trial; returns (observation [N, F], reward [N], done [N]).

        Finished trials do not move and get reward 0. In the execution phase reaching the
        goal pays +1, ``end_episode`` pays ``tables.end_cost[steps]`` and any other step
        -step_cost; exploration pays 0.
        """
        actions = np.asarray(actions)
        num_actions = self.layout.num_actions
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(f"actions of shape {actions.shape} and dtype {actions.dtype}: "
                             f"expected {self.num_envs} integer actions")
        # An out-of-range action would index another state's row of the flat table. Viewed
        # as unsigned, a negative action is huge, so one reduction checks both bounds.
        if actions.view(f"u{actions.itemsize}").max() >= num_actions:
            bad = actions[(actions < 0) | (actions >= num_actions)]
            raise ValueError(f"action {int(bad[0])} is out of range: expected 0 <= action < {num_actions}")
        was_done = self.done
        actions = np.where(was_done, NOOP, actions)  # finished trials stand still
        state = self._next_state.take(self._state * num_actions + actions)
        ended = actions == END_EPISODE
        if self.phase == Phase.EXECUTE:
            reached = state == self._goal_state
            terminal = self._goal_of_state.take(state) if self.layout.terminate_on_any_goal else reached
            reward = np.where(ended, self._end_cost.take(self.steps),
                              np.where(reached, np.float32(1.0), np.float32(-self.layout.step_cost)))
            reward[was_done] = 0.0
            done = was_done | terminal | ended
        else:
            reward = np.zeros(self.num_envs, dtype=np.float32)
            done = was_done | ended
        self.steps += ~was_done
        self._state = state
        self.done = done = done | (self.steps >= self.layout.horizon)
        return self._obs_of_state.take(state, axis=0), reward, done
