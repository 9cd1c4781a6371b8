"""Oracle planner: optimal execution returns by breadth-first search on the true dynamics.

Every step costs the same, so the best execution episode is the shortest action sequence
from the start to the goal: with L steps it earns ``1 - step_cost * (L - 1)``; if no path
fits in the horizon the best is to end at once (``-step_cost * horizon``).

Two reference lines follow from this, for any layout:
  * ``optimal_return``: the bus layout known (search uses every bus).
  * ``no_information_return``: no bus known, so no ride can be planned; the agent walks
    (search without bus edges). Riding an unknown bus is a gamble that loses on average
    on every preset, so this is the return of an agent that skipped exploration.
``known_buses_return`` interpolates: only the listed colored buses may be ridden.
"""

from __future__ import annotations

import collections
import functools
from typing import Iterable

import numpy as np

from tf_metarl.envs.core import build_tables
from tf_metarl.envs.layout import END_EPISODE, RIDE_BUS, BusMapLayout


def _search(layout: BusMapLayout, problem_id: int, allowed_rides: frozenset[int] | None):
    """BFS from the start over cells. ``allowed_rides``: cells from which riding is
    allowed (None: all). Returns (distance [C], parent [C], parent_action [C])."""
    tables = build_tables(layout)
    next_cell = tables.next_cell[problem_id]
    C = layout.num_cells
    dist = np.full(C, -1, dtype=np.int64)
    parent = np.full(C, -1, dtype=np.int64)
    parent_action = np.full(C, -1, dtype=np.int64)
    start = tables.start_cell
    dist[start] = 0
    queue = collections.deque([start])
    blocked = tables.is_goal_cell if layout.terminate_on_any_goal else None
    while queue:
        cell = queue.popleft()
        # Goal cells end the episode when any goal terminates it: do not search through.
        if blocked is not None and blocked[cell] and cell != start:
            continue
        for action in range(RIDE_BUS + 1):
            if action == RIDE_BUS and allowed_rides is not None and cell not in allowed_rides:
                continue
            nxt = int(next_cell[cell, action])
            if dist[nxt] < 0:
                dist[nxt] = dist[cell] + 1
                parent[nxt] = cell
                parent_action[nxt] = action
                queue.append(nxt)
    return dist, parent, parent_action


def _return_of_path_length(layout: BusMapLayout, length: int) -> float:
    give_up = -layout.step_cost * layout.horizon
    if length < 0 or length > layout.horizon:
        return give_up
    return max(1.0 - layout.step_cost * (length - 1), give_up)


def _goal_returns(layout: BusMapLayout, problem_id: int, allowed_rides) -> np.ndarray:
    dist, _, _ = _search(layout, problem_id, allowed_rides)
    goal_cells = build_tables(layout).goal_cells
    return np.array([_return_of_path_length(layout, int(dist[g])) for g in goal_cells])


@functools.lru_cache(maxsize=None)
def _optimal_table(layout: BusMapLayout) -> np.ndarray:
    """[P, G] optimal return of every (problem, goal)."""
    return np.stack([_goal_returns(layout, p, None) for p in range(layout.num_problems)])


def optimal_return(layout: BusMapLayout, problem_id: int, goal_id: int) -> float:
    """Best execution return with the bus layout of ``problem_id`` known."""
    return float(_optimal_table(layout)[problem_id, goal_id])


def optimal_returns(layout: BusMapLayout, problem_ids, goal_ids) -> np.ndarray:
    """Vectorised ``optimal_return``."""
    return _optimal_table(layout)[np.asarray(problem_ids), np.asarray(goal_ids)]


def mean_optimal_return(layout: BusMapLayout, problem_ids: Iterable[int] | None = None) -> float:
    """Optimal return averaged over ``problem_ids`` (default: all) and uniform goals."""
    table = _optimal_table(layout)
    ids = layout.all_problem_ids() if problem_ids is None else np.asarray(list(problem_ids))
    return float(table[ids].mean())


@functools.lru_cache(maxsize=None)
def _no_information_table(layout: BusMapLayout) -> np.ndarray:
    # Without rides the problem does not matter: search problem 0.
    return _goal_returns(layout, 0, frozenset())


def fraction_of_optimal(mean_return: float, optimal_mean: float) -> float:
    """``mean_return`` as a fraction of the oracle's mean optimum; NaN when that is 0."""
    return mean_return / optimal_mean if optimal_mean != 0 else float("nan")


def no_information_return(layout: BusMapLayout, goal_id: int | None = None) -> float:
    """Best return when no bus is known (walking); mean over goals if goal_id is None."""
    table = _no_information_table(layout)
    return float(table.mean() if goal_id is None else table[goal_id])


def known_buses_return(layout: BusMapLayout, problem_id: int, goal_id: int,
                       known_colored: Iterable[int]) -> float:
    """Best return when only the colored buses with the given indices are known."""
    allowed = set()
    buses = [b for b in layout.buses(problem_id) if b[2]]
    for i in known_colored:
        stop, dest, _ = buses[i]
        allowed.update((layout.cell_index(stop), layout.cell_index(dest)))
    return float(_goal_returns(layout, problem_id, frozenset(allowed))[goal_id])


def optimal_actions(layout: BusMapLayout, problem_id: int, goal_id: int) -> list[int]:
    """A shortest action sequence from the start to the goal (knowing the layout).

    If the goal cannot be reached within the horizon, the sequence is ``[end_episode]``.
    """
    dist, parent, parent_action = _search(layout, problem_id, None)
    goal = int(build_tables(layout).goal_cells[goal_id])
    if dist[goal] < 0 or dist[goal] > layout.horizon or (
            _return_of_path_length(layout, int(dist[goal])) <= -layout.step_cost * layout.horizon):
        return [END_EPISODE]
    actions = []
    cell = goal
    while parent[cell] >= 0:
        actions.append(int(parent_action[cell]))
        cell = int(parent[cell])
    return actions[::-1]
