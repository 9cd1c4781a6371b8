"""Oracle planner: optimal execution returns by breadth-first search on the true dynamics.

Every step costs the same, so the best execution episode is the shortest action sequence
from the start to the goal: with L steps it earns ``1 - step_cost * (L - 1)``; if no path
fits in the horizon the best is to end at once (``-step_cost * horizon``).

Two reference lines follow from this, for any layout:
  * ``optimal_return``: the bus layout known (search uses every bus).
  * ``no_information_return``: no bus known, so no ride can be planned; the agent walks
    (search without bus edges). Riding an unknown bus is a gamble that loses on average
    on every preset, so this is the return of an agent that skipped exploration.
``known_buses_return`` lies between them: some colored buses known, the rest tried at
random (expectimax over what the agent learns by riding).

``informed_returns`` applies it to played trials: ``explored_knowledge_batch`` reads off
which colored buses each exploration episode revealed (the map read, buses ridden), and
the informed return is the best execution return knowing only that. It splits a trial's
shortfall: optimal - informed is the explorer's, informed - return the executor's.
"""

from __future__ import annotations

import collections
import functools
import itertools
from typing import Iterable

import numpy as np

from tf_metarl.envs.core import build_tables
from tf_metarl.envs.layout import END_EPISODE, RIDE_BUS, BusMapLayout


def _ends_episode(layout: BusMapLayout) -> np.ndarray:
    """[C] bool: cells where the execution episode ends on arrival, whatever the goal."""
    tables = build_tables(layout)
    return tables.is_goal_cell if layout.terminate_on_any_goal else np.zeros_like(tables.is_goal_cell)


def _breadth_first(start: int, edges, ends_episode: np.ndarray):
    """Shortest paths from ``start``; ``edges(cell)`` yields (action, next cell). Cells that
    end the episode are reached but not passed through. Returns (distance [C], -1 where
    unreachable; parent [C]; parent_action [C])."""
    C = len(ends_episode)
    dist = np.full(C, -1, dtype=np.int64)
    parent = np.full(C, -1, dtype=np.int64)
    parent_action = np.full(C, -1, dtype=np.int64)
    dist[start] = 0
    queue = collections.deque([start])
    while queue:
        cell = queue.popleft()
        if ends_episode[cell] and cell != start:
            continue
        for action, nxt in edges(cell):
            if dist[nxt] < 0:
                dist[nxt] = dist[cell] + 1
                parent[nxt] = cell
                parent_action[nxt] = action
                queue.append(nxt)
    return dist, parent, parent_action


def _search(layout: BusMapLayout, problem_id: int, allowed_rides: frozenset[int] | None):
    """Shortest paths from the start in ``problem_id``. ``allowed_rides``: cells from which
    riding is allowed (None: all). Returns (distance [C], parent [C], parent_action [C])."""
    tables = build_tables(layout)
    next_cell = tables.next_cell[problem_id]

    def edges(cell):
        for action in range(RIDE_BUS + 1):
            if action != RIDE_BUS or allowed_rides is None or cell in allowed_rides:
                yield action, int(next_cell[cell, action])

    return _breadth_first(tables.start_cell, edges, _ends_episode(layout))


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
    """Best expected execution return when only some colored buses are known.

    The agent knows where the colored stops and destinations are, and which destination
    the colored buses of ``problem_id`` with the indices ``known_colored`` lead to; every
    pairing of the rest is equally likely. It may walk, ride known buses, try an unknown
    colored bus (learning where it goes: once all but one are known the last follows) or
    visit the map (which shows the whole pairing). Gray buses are not ridden. The value
    is the expectimax over these choices, e.g. 0.3/0.5/0.7/0.8/0.8 on average over goals
    when 0/1/2/3/4 buses of a 9x9 preset are known: with 2 known, trying one of the 2
    unknown buses earns 0.8 or, after riding back and trying the other, 0.4.
    """
    colored = [(layout.cell_index(s), layout.cell_index(d))
               for s, d, is_colored in layout.buses(problem_id) if is_colored]
    known = []
    for index in known_colored:
        if not 0 <= index < len(colored):
            raise ValueError(f"known colored bus {index!r}: expected an index in "
                             f"[0, {len(colored)}) for layout {layout.name!r}")
        known.append(colored[index])
    planner = _belief_planner(layout)
    return planner.value(planner.start, 0, planner.complete(frozenset(known)), int(goal_id))


class _BeliefPlanner:
    """Expectimax over (cell, steps taken, known colored pairs) for ``known_buses_return``.

    Between rides of unknown buses nothing new is learned, so the agent moves by shortest
    paths over walking and known rides; the decisions are where to go next: the goal, an
    unknown colored stop or destination (then ride it), or the map.
    """

    def __init__(self, layout: BusMapLayout):
        tables = build_tables(layout)
        self.layout = layout
        # Moves and noop (the same in every problem), as Python ints: searched often.
        self.walk = tables.next_cell[0, :, :RIDE_BUS].tolist()
        self.stops = tuple(layout.cell_index(s) for s in layout.colored_stops)
        self.destinations = tuple(layout.cell_index(d) for d in layout.colored_destinations)
        self.goal_cells = tables.goal_cells
        self.ends_episode = _ends_episode(layout)
        self.map_cell = layout.cell_index(layout.map_cell) if layout.has_map else None
        self.start = tables.start_cell
        self.distances = functools.lru_cache(maxsize=None)(self._distances)
        self.value = functools.lru_cache(maxsize=None)(self._value)

    def unknown(self, known: frozenset) -> tuple[list[int], list[int]]:
        """(colored stops whose bus is unknown, destinations no known bus leads to)."""
        known_stops = {s for s, _ in known}
        known_destinations = {d for _, d in known}
        return ([s for s in self.stops if s not in known_stops],
                [d for d in self.destinations if d not in known_destinations])

    def complete(self, known: frozenset) -> frozenset:
        """Adds the last colored bus when all the others are known."""
        stops, destinations = self.unknown(known)
        return known | {(stops[0], destinations[0])} if len(stops) == 1 else known

    def completions(self, known: frozenset) -> list[frozenset]:
        """Every full pairing consistent with ``known``."""
        stops, destinations = self.unknown(known)
        return [known | set(zip(stops, order)) for order in itertools.permutations(destinations)]

    def _distances(self, cell: int, known: frozenset) -> np.ndarray:
        """Steps from ``cell`` to every cell by walking and known rides (-1: unreachable)."""
        rides = {}
        for stop, destination in known:
            rides[stop], rides[destination] = destination, stop

        def edges(current):
            yield from enumerate(self.walk[current])
            if current in rides:
                yield RIDE_BUS, rides[current]

        return _breadth_first(cell, edges, self.ends_episode)[0]

    def _arrive(self, cell: int, steps: int, known: frozenset, goal_id: int) -> float:
        """Value of landing on ``cell`` by a ride that was step ``steps``."""
        if cell == self.goal_cells[goal_id]:
            return _return_of_path_length(self.layout, steps)
        if self.ends_episode[cell]:
            return -self.layout.step_cost * steps  # a wrong goal ends the episode
        return self.value(cell, steps, known, goal_id)

    def _value(self, cell: int, steps: int, known: frozenset, goal_id: int) -> float:
        layout = self.layout
        dist = self.distances(cell, known)
        goal_distance = int(dist[self.goal_cells[goal_id]])
        best = -layout.step_cost * layout.horizon  # end the episode
        if goal_distance >= 0:
            best = max(best, _return_of_path_length(layout, steps + goal_distance))
        unknown_stops, free_destinations = self.unknown(known)
        # A ride from an unknown stop lands on each free destination with equal
        # probability, and one from a free destination on each unknown stop; each outcome
        # is (landing cell, the pair it reveals).
        rides = ([(stop, [(d, (stop, d)) for d in free_destinations]) for stop in unknown_stops]
                 + [(dest, [(s, (s, dest)) for s in unknown_stops]) for dest in free_destinations])
        for here, outcomes in rides:
            ride_step = steps + int(dist[here]) + 1
            # A bus cell that ends the episode cannot be ridden from: arriving there ends it.
            if dist[here] < 0 or ride_step > layout.horizon or self.ends_episode[here]:
                continue
            best = max(best, float(np.mean([
                self._arrive(land, ride_step, self.complete(known | {pair}), goal_id)
                for land, pair in outcomes])))
        if self.map_cell is not None and unknown_stops and dist[self.map_cell] >= 0:
            at_map = steps + int(dist[self.map_cell])
            if at_map <= layout.horizon:
                best = max(best, float(np.mean([self.value(self.map_cell, at_map, full, goal_id)
                                                for full in self.completions(known)])))
        return best


_belief_planner = functools.lru_cache(maxsize=None)(_BeliefPlanner)


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


# ---- what an exploration episode revealed ------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _colored_ends(layout: BusMapLayout) -> tuple[np.ndarray, np.ndarray]:
    """[P, C] int tables: the index (among the colored buses of ``layout.buses(p)``) of the
    colored bus with an end on cell c in problem p, and that bus's other end; -1 elsewhere."""
    P, C = layout.num_problems, layout.num_cells
    index = np.full((P, C), -1, dtype=np.int64)
    other_end = np.full((P, C), -1, dtype=np.int64)
    for p in range(P):
        colored = [(s, d) for s, d, is_colored in layout.buses(p) if is_colored]
        for i, (stop, destination) in enumerate(colored):
            s, d = layout.cell_index(stop), layout.cell_index(destination)
            index[p, [s, d]] = i
            other_end[p, s], other_end[p, d] = d, s
    for table in (index, other_end):
        table.setflags(write=False)
    return index, other_end


def explored_knowledge_batch(layout: BusMapLayout, problem_ids, x_obs, x_actions,
                             x_length) -> np.ndarray:
    """[N, K] bool: which of the K colored buses each exploration episode revealed.

    ``x_obs`` [N, T+1, F] (the observation after reset and after each step), ``x_actions``
    [N, T] and ``x_length`` [N] as ``run_episode`` records them (T may be shorter than
    the horizon; steps from ``x_length`` on are ignored). An episode reveals
      * every colored bus if one of its observations 0..x_length shows a map reading
        (``map_info`` > 0: the agent stood on the map cell, which shows the pairing);
      * a colored bus it rode: a ``ride_bus`` step that moved the agent from one end of
        that bus to its other end (positions from the observed x, y). Riding a gray bus
        says nothing about which corner a colored bus leads to, and ``ride_bus`` off a bus
        cell moves nothing, so neither reveals anything.
    Bus k is the k-th colored bus of ``layout.buses(problem_id)``.
    """
    problem_ids = layout.check_problem_ids(problem_ids)
    x_obs, x_actions = np.asarray(x_obs), np.asarray(x_actions)
    x_length = np.asarray(x_length, dtype=np.int64)
    n = len(problem_ids)
    if (x_obs.ndim != 3 or x_obs.shape[0] != n or x_actions.shape != (n, x_obs.shape[1] - 1)
            or x_length.shape != (n,) or x_obs.shape[2] != len(layout.observation_fields)):
        raise ValueError(
            f"exploration arrays of shapes obs {x_obs.shape}, actions {x_actions.shape}, length "
            f"{x_length.shape} for {n} problem ids: expected [N, T+1, "
            f"{len(layout.observation_fields)}], [N, T] and [N]")
    steps = x_actions.shape[1]
    cells = x_obs[..., 1].astype(np.int64) * layout.width + x_obs[..., 0]
    before, after = cells[:, :-1], cells[:, 1:]
    taken = np.arange(steps)[None] < x_length[:, None]
    index, other_end = _colored_ends(layout)
    bus = index[problem_ids[:, None], before]
    rode = taken & (x_actions == RIDE_BUS) & (bus >= 0) & (other_end[problem_ids[:, None], before] == after)
    num_colored = len(layout.colored_stops)
    known = (rode[..., None] & (bus[..., None] == np.arange(num_colored))).any(axis=1)
    if layout.has_map:
        field = layout.observation_fields.index("map_info")
        seen = np.arange(steps + 1)[None] <= x_length[:, None]
        known |= ((x_obs[..., field] > 0) & seen).any(axis=1)[:, None]
    return known


def explored_knowledge(layout: BusMapLayout, problem_id: int, x_obs, x_actions,
                       x_length: int) -> frozenset[int]:
    """Indices of the colored buses one exploration episode revealed (``x_obs`` [T+1, F],
    ``x_actions`` [T]); see ``explored_knowledge_batch``."""
    known = explored_knowledge_batch(layout, [problem_id], np.asarray(x_obs)[None],
                                     np.asarray(x_actions)[None], [x_length])[0]
    return frozenset(int(i) for i in np.flatnonzero(known))


def informed_return(layout: BusMapLayout, problem_id: int, goal_id: int,
                    knowledge: Iterable[int]) -> float:
    """Best expected execution return knowing only the colored buses ``knowledge``
    (e.g. what ``explored_knowledge`` found): ``known_buses_return``. Between the walking
    value (nothing known) and ``optimal_return`` (the map read)."""
    return _informed_value(layout, int(problem_id) % layout.num_colored_permutations, int(goal_id),
                           tuple(sorted(set(int(k) for k in knowledge))))


@functools.lru_cache(maxsize=None)
def _informed_value(layout: BusMapLayout, colored_problem: int, goal_id: int,
                    known: tuple[int, ...]) -> float:
    # The value depends on the colored permutation only (gray buses are never planned on).
    return known_buses_return(layout, colored_problem, goal_id, known)


def informed_returns(layout: BusMapLayout, problem_ids, goal_ids, x_obs, x_actions,
                     x_length) -> np.ndarray:
    """[N] float64: ``informed_return`` of each trial's exploration episode (arrays as in
    ``explored_knowledge_batch``). The best execution return achievable knowing only what
    exploration observed: below ``optimal_returns`` the explorer missed something; a
    return below it is the executor's shortfall. Values are memoised per (colored
    permutation, goal, buses known), so a batch costs little more than its distinct cases.
    """
    problem_ids = layout.check_problem_ids(problem_ids)
    goal_ids = np.asarray(goal_ids, dtype=np.int64)
    if goal_ids.shape != problem_ids.shape:
        raise ValueError(f"goal ids of shape {goal_ids.shape} for problem ids of shape "
                         f"{problem_ids.shape}: expected one goal per problem")
    known = explored_knowledge_batch(layout, problem_ids, x_obs, x_actions, x_length)
    mask = known.astype(np.int64) @ (1 << np.arange(known.shape[1], dtype=np.int64))
    colored_problem = problem_ids % layout.num_colored_permutations
    keys = np.stack([colored_problem, goal_ids, mask], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    bits = np.arange(known.shape[1])
    values = np.array([_informed_value(layout, int(p), int(g), tuple(bits[(m >> bits) & 1 == 1].tolist()))
                       for p, g, m in unique], dtype=np.float64)
    return values[inverse.reshape(-1)]
