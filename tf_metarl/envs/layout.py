"""Bus-map layouts: the static description of a family of problems.

A layout fixes the grid, the start cell, the bus stops and the set of cells their
destinations may be, the map cell and the goal cells. A *problem* (integer id ``mu``)
picks which destination each stop leads to: the colored permutation index is
``mu % num_colored_permutations`` and, when gray (distracting) buses exist, the gray
permutation index is ``mu // num_colored_permutations``. Permutations are indexed in the
lexicographic order of ``itertools.permutations``, so problem 0 pairs every stop with the
destination listed at the same position.

Layouts come from named presets (``preset_layout``) or JSON files (``load_layout``);
both go through ``BusMapLayout.__post_init__``, which validates everything and raises
``LayoutError`` naming the bad value.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
from typing import Any, Sequence

import numpy as np

Cell = tuple[int, int]

ACTION_NAMES: tuple[str, ...] = (
    "left", "up", "right", "down", "noop", "ride_bus", "end_episode")
LEFT, UP, RIGHT, DOWN, NOOP, RIDE_BUS, END_EPISODE = range(7)
# Displacement of each action; ride_bus and end_episode do not move.
_MOVES = {LEFT: (-1, 0), UP: (0, 1), RIGHT: (1, 0), DOWN: (0, -1)}

# Refuse layouts whose precomputed transition table would exceed this many entries.
_MAX_TABLE_ENTRIES = 50_000_000


class LayoutError(ValueError):
    """A layout (preset name, JSON file or field) is not valid."""


@dataclasses.dataclass(frozen=True)
class BusMapLayout:
    """Static description of a bus-map problem family.

    Attributes:
      name: Human-readable name (preset name or JSON file stem).
      width: Number of columns; x ranges over [0, width).
      height: Number of rows; y ranges over [0, height).
      start: Cell where every episode starts.
      colored_stops: Stops of the useful buses.
      colored_destinations: Cells the colored stops lead to, permuted by the problem.
      gray_stops: Stops of the distracting buses (may be empty).
      gray_destinations: Cells the gray stops lead to, permuted by the problem.
      map_cell: Cell that reveals the colored permutation (None: no map).
      goals: Cells an instruction can name; goal index g means ``goals[g]``.
      step_cost: Cost of every execution step that does not reach the goal.
      horizon: Maximum number of steps of each episode.
      terminate_on_any_goal: If True, stepping on any goal cell ends the execution
        episode (reward +1 only on the instructed one).
      num_actions: 7, or 9 to append two extra no-op actions as in DREAM.
      test_split_every: Problem ids divisible by this are training problems, the
        rest are held out; 1 means train and test are both all problems.
      problem_ids: Problems this layout is evaluated on; empty means all of them.
    """

    name: str
    width: int
    height: int
    start: Cell
    colored_stops: tuple[Cell, ...]
    colored_destinations: tuple[Cell, ...]
    gray_stops: tuple[Cell, ...] = ()
    gray_destinations: tuple[Cell, ...] = ()
    map_cell: Cell | None = None
    goals: tuple[Cell, ...] = ()
    step_cost: float = 0.1
    horizon: int = 20
    terminate_on_any_goal: bool = False
    num_actions: int = 7
    test_split_every: int = 1
    problem_ids: tuple[int, ...] = ()

    def __post_init__(self):
        _validate(self)

    # ---- derived, cheap properties ------------------------------------------------
    @property
    def num_cells(self) -> int:
        return self.width * self.height

    @property
    def num_colored_permutations(self) -> int:
        return math.factorial(len(self.colored_stops))

    @property
    def num_gray_permutations(self) -> int:
        return math.factorial(len(self.gray_stops)) if self.gray_stops else 1

    @property
    def num_problems(self) -> int:
        return self.num_colored_permutations * self.num_gray_permutations

    @property
    def has_map(self) -> bool:
        return self.map_cell is not None

    @property
    def observation_fields(self) -> tuple[str, ...]:
        return ("x", "y", "status", "map_info") if self.has_map else ("x", "y", "status")

    @property
    def observation_bounds(self) -> tuple[int, ...]:
        """Exclusive upper bound of each observation field (lower bounds are 0)."""
        bounds = (self.width, self.height, 2)
        return bounds + (self.num_colored_permutations + 1,) if self.has_map else bounds

    @property
    def goal_bounds(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def action_names(self) -> tuple[str, ...]:
        return ACTION_NAMES + ("noop",) * (self.num_actions - len(ACTION_NAMES))

    def cell_index(self, cell: Cell) -> int:
        return cell[1] * self.width + cell[0]

    def cell_of(self, index: int) -> Cell:
        return (index % self.width, index // self.width)

    # ---- problem splits -------------------------------------------------------------
    def all_problem_ids(self) -> np.ndarray:
        if self.problem_ids:
            return np.asarray(self.problem_ids, dtype=np.int64)
        return np.arange(self.num_problems, dtype=np.int64)

    @property
    def has_held_out_split(self) -> bool:
        """False when 'test' and 'train' are the same problems (``test_split_every=1``,
        e.g. ``map`` and ``small_map``: all 24 problems are trained on)."""
        return self.test_split_every != 1

    def describe_split(self, split: str) -> str:
        """How to name ``split``'s problems in a report: 'held-out' only when they are."""
        if split == "all":
            return "all problems"
        if not self.has_held_out_split:
            return f"all problems ({self.name} has no held-out split)"
        return "held-out problems" if split == "test" else "training problems"

    def split_problem_ids(self, split: str) -> np.ndarray:
        """Problem ids of ``split``: 'train', 'test' (held out) or 'all'; never empty.
        Without a held-out split (``has_held_out_split``) each is every problem."""
        if split not in ("all", "train", "test"):
            raise LayoutError(f"unknown split {split!r}; expected 'train', 'test' or 'all'")
        ids = self.all_problem_ids()
        if split != "all" and self.test_split_every != 1:
            in_train = ids % self.test_split_every == 0
            ids = ids[in_train] if split == "train" else ids[~in_train]
        if ids.size == 0:
            raise LayoutError(f"split {split!r} of layout {self.name!r} holds no problems")
        return ids

    def check_problem_ids(self, problem_ids) -> np.ndarray:
        ids = np.asarray(problem_ids, dtype=np.int64)
        bad = ids[(ids < 0) | (ids >= self.num_problems)]
        if bad.size:
            raise LayoutError(
                f"problem id {int(bad[0])} is out of range for layout {self.name!r}: "
                f"expected 0 <= id < {self.num_problems}")
        return ids

    # ---- bus layout of a problem -------------------------------------------------------
    def buses(self, problem_id: int) -> list[tuple[Cell, Cell, bool]]:
        """(stop, destination, is_colored) of every bus in problem ``problem_id``."""
        (pid,) = self.check_problem_ids([problem_id])
        colored = _permutation(len(self.colored_stops), pid % self.num_colored_permutations)
        result = [(s, self.colored_destinations[j], True)
                  for s, j in zip(self.colored_stops, colored)]
        if self.gray_stops:
            gray = _permutation(len(self.gray_stops), pid // self.num_colored_permutations)
            result += [(s, self.gray_destinations[j], False)
                       for s, j in zip(self.gray_stops, gray)]
        return result

    def map_value(self, problem_id: int) -> int:
        """What the map cell shows in ``problem_id``: colored permutation index + 1."""
        return int(problem_id) % self.num_colored_permutations + 1

    def to_dict(self) -> dict[str, Any]:
        out = {k: _plain(v) for k, v in dataclasses.asdict(self).items()}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def _plain(value):
    """``value`` with numpy scalars (which validation accepts) as Python ones, for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def _permutations(n: int) -> tuple[tuple[int, ...], ...]:
    return tuple(itertools.permutations(range(n)))


def _permutation(n: int, index: int) -> tuple[int, ...]:
    return _permutations(n)[index]


# ---- value checks: one predicate per kind of value ---------------------------------------------
# ``bool`` is a subclass of ``int``: ``True`` is not an integer, a number or a cell coordinate here.
def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite real number; integers are accepted, booleans are not."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        return False
    return _is_int(value) or math.isfinite(value)  # (math.isfinite overflows on huge ints)


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_name(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_cell(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(_is_int(v) for v in value)


def _require(ok: bool, name, key: str, value, expected: str) -> None:
    """Raises the standard ``layout NAME: KEY=VALUE, expected EXPECTED`` error unless ``ok``."""
    if not ok:
        raise LayoutError(f"layout {name!r}: {key}={value!r}, expected {expected}")


_CELL_FIELDS = ("colored_stops", "colored_destinations", "gray_stops", "gray_destinations", "goals")


def _validate(layout: BusMapLayout) -> None:
    name = layout.name
    _require(_is_name(name), name, "name", name, "a non-empty string")
    for field in ("width", "height"):
        value = getattr(layout, field)
        _require(_is_int(value) and value >= 2, name, field, value, "an integer >= 2")

    def check_cell(label, cell):
        _require(_is_cell(cell), name, label, cell, "an (x, y) pair of integers")
        x, y = cell
        if not (0 <= x < layout.width and 0 <= y < layout.height):
            raise LayoutError(
                f"layout {name!r}: {label}={cell!r} lies outside the "
                f"{layout.width}x{layout.height} grid")

    check_cell("start", layout.start)
    for label in _CELL_FIELDS:
        cells = getattr(layout, label)
        _require(isinstance(cells, tuple), name, label, cells, "a tuple of (x, y) cells")
        for i, cell in enumerate(cells):
            check_cell(f"{label}[{i}]", cell)
    if layout.map_cell is not None:
        check_cell("map_cell", layout.map_cell)

    if not layout.colored_stops:
        raise LayoutError(f"layout {name!r}: needs at least one colored bus")
    for kind in ("colored", "gray"):
        stops = getattr(layout, f"{kind}_stops")
        dests = getattr(layout, f"{kind}_destinations")
        if len(stops) != len(dests):
            raise LayoutError(
                f"layout {name!r}: {len(stops)} {kind} stops but {len(dests)} {kind} "
                "destinations; expected equal numbers")
        if len(stops) > 6:
            raise LayoutError(
                f"layout {name!r}: {len(stops)} {kind} buses, expected at most 6 "
                "(problems enumerate all permutations)")

    bus_cells = (list(layout.colored_stops) + list(layout.colored_destinations)
                 + list(layout.gray_stops) + list(layout.gray_destinations))
    seen: dict[Cell, int] = {}
    for cell in bus_cells:
        seen[cell] = seen.get(cell, 0) + 1
    overlapping = sorted(c for c, n in seen.items() if n > 1)
    if overlapping:
        raise LayoutError(
            f"layout {name!r}: buses overlap at cell {overlapping[0]}; every stop and "
            "destination must be a distinct cell")
    if layout.map_cell is not None and layout.map_cell in seen:
        raise LayoutError(f"layout {name!r}: map_cell {layout.map_cell} lies on a bus cell")
    if layout.start in seen:
        raise LayoutError(f"layout {name!r}: start {layout.start} lies on a bus cell")
    if not layout.goals:
        raise LayoutError(f"layout {name!r}: needs at least one goal cell")
    if len(set(layout.goals)) != len(layout.goals):
        raise LayoutError(f"layout {name!r}: goals {layout.goals} repeat a cell")
    if layout.start in layout.goals:
        raise LayoutError(f"layout {name!r}: start {layout.start} is a goal cell")
    if layout.map_cell is not None and layout.map_cell in layout.goals:
        raise LayoutError(f"layout {name!r}: map_cell {layout.map_cell} is a goal cell")

    _require(_is_number(layout.step_cost) and 0 <= layout.step_cost <= 1, name, "step_cost",
             layout.step_cost, "a number with 0 <= step_cost <= 1")
    _require(_is_int(layout.horizon) and layout.horizon >= 1, name, "horizon", layout.horizon,
             "an integer >= 1")
    _require(_is_bool(layout.terminate_on_any_goal), name, "terminate_on_any_goal",
             layout.terminate_on_any_goal, "true or false")
    _require(_is_int(layout.num_actions) and layout.num_actions in (7, 9), name, "num_actions",
             layout.num_actions, "7 or 9")
    _require(_is_int(layout.test_split_every) and layout.test_split_every >= 1, name,
             "test_split_every", layout.test_split_every, "an integer >= 1")
    num_problems = math.factorial(len(layout.colored_stops)) * (
        math.factorial(len(layout.gray_stops)) if layout.gray_stops else 1)
    _require(isinstance(layout.problem_ids, tuple), name, "problem_ids", layout.problem_ids,
             "a tuple of integer problem ids")
    for i, pid in enumerate(layout.problem_ids):
        _require(_is_int(pid), name, f"problem_ids[{i}]", pid, "an integer problem id")
        if not 0 <= pid < num_problems:
            raise LayoutError(
                f"layout {name!r}: problem id {pid!r} is out of range; expected 0 <= id < {num_problems}")
    entries = num_problems * layout.width * layout.height * layout.num_actions
    if entries > _MAX_TABLE_ENTRIES:
        raise LayoutError(
            f"layout {name!r}: {num_problems} problems on a {layout.width}x{layout.height} grid "
            f"need a {entries:,}-entry transition table; expected at most {_MAX_TABLE_ENTRIES:,}")


# ---- presets ------------------------------------------------------------------------------
_CORNERS_9 = ((0, 0), (0, 8), (8, 8), (8, 0))
_NINE_BY_NINE = dict(
    width=9, height=9, start=(4, 4),
    colored_stops=((4, 5), (5, 4), (3, 4), (4, 3)),
    colored_destinations=((0, 1), (0, 7), (8, 1), (8, 7)),
    goals=_CORNERS_9, step_cost=0.1, horizon=20)
_GRAY = dict(gray_stops=((5, 5), (3, 3), (3, 5), (5, 3)),
             gray_destinations=((0, 4), (4, 0), (8, 4), (4, 8)))

PRESETS: dict[str, dict[str, Any]] = {
    "distracting_bus_map": dict(_NINE_BY_NINE, **_GRAY, map_cell=(7, 3), test_split_every=11),
    "distracting_bus": dict(_NINE_BY_NINE, **_GRAY, test_split_every=11),
    "map": dict(_NINE_BY_NINE, map_cell=(7, 3)),
    "small_map": dict(
        width=5, height=5, start=(2, 2),
        colored_stops=((2, 1), (3, 2), (2, 3), (1, 2)),
        colored_destinations=((0, 0), (0, 4), (4, 4), (4, 0)),
        map_cell=(4, 2), goals=((0, 0), (0, 4), (4, 4), (4, 0)),
        step_cost=0.3, horizon=10, terminate_on_any_goal=True),
}
DEFAULT_PRESET = "distracting_bus_map"


def preset_layout(preset: str = DEFAULT_PRESET, **overrides) -> BusMapLayout:
    """The layout of a named preset, optionally with fields overridden."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise LayoutError(f"unknown env preset {preset!r}; expected one of {sorted(PRESETS)}")
    return BusMapLayout(name=preset, **{**PRESETS[preset], **overrides})


def layout_from_dict(data: dict[str, Any], name: str = "custom") -> BusMapLayout:
    """Builds a layout from a JSON-style dict.

    Either give the layout fields directly, or start from a preset with ``"preset": NAME``
    and override fields. Buses may also be given as pairs:
    ``"colored_buses": [[[sx, sy], [dx, dy]], ...]`` (and ``"gray_buses"``), where problem 0
    is exactly the listed pairing.
    """
    if not isinstance(data, dict):
        raise LayoutError(f"layout {name!r}: expected a JSON object, got {type(data).__name__}")
    data = dict(data)
    base: dict[str, Any] = {}
    if "preset" in data:
        preset = data.pop("preset")
        if not isinstance(preset, str) or preset not in PRESETS:
            raise LayoutError(f"layout {name!r}: unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        base = dict(PRESETS[preset])
    for kind in ("colored", "gray"):
        pairs = data.pop(f"{kind}_buses", None)
        if pairs is not None:
            if not (isinstance(pairs, (list, tuple))
                    and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs)):
                raise LayoutError(
                    f"layout {name!r}: {kind}_buses={pairs!r}, expected a list of [stop, destination] pairs")
            data[f"{kind}_stops"] = [p[0] for p in pairs]
            data[f"{kind}_destinations"] = [p[1] for p in pairs]
    fields = {f.name for f in dataclasses.fields(BusMapLayout)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise LayoutError(f"layout {name!r}: unknown field(s) {unknown}; expected some of {sorted(fields)}")
    if "name" in data:  # checked here so that the error names the entry, not the bad name
        _require(_is_name(data["name"]), name, "name", data["name"], "a non-empty string")
    merged = {**base, **data}
    merged.setdefault("name", name)

    def to_cell(value):
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(value)
        return value  # validation names the bad value

    for key in ("start", "map_cell"):
        if merged.get(key) is not None:
            merged[key] = to_cell(merged[key])
    for key in ("colored_stops", "colored_destinations", "gray_stops", "gray_destinations", "goals"):
        if key in merged:
            if not isinstance(merged[key], (list, tuple)):
                raise LayoutError(f"layout {name!r}: {key}={merged[key]!r}, expected a list of [x, y] cells")
            merged[key] = tuple(to_cell(c) for c in merged[key])
    if "problem_ids" in merged:
        if not isinstance(merged["problem_ids"], (list, tuple)):
            raise LayoutError(f"layout {name!r}: problem_ids={merged['problem_ids']!r}, "
                              "expected a list of integer problem ids")
        merged["problem_ids"] = tuple(merged["problem_ids"])
    missing = [f for f in ("width", "height", "start", "colored_stops", "colored_destinations", "goals")
               if f not in merged]
    if missing:
        raise LayoutError(f"layout {name!r}: missing field(s) {missing}")
    return BusMapLayout(**merged)


def load_layouts(path: str | os.PathLike) -> list[BusMapLayout]:
    """Loads one layout (a JSON object) or several (a JSON list, or {"layouts": [...]}).

    Errors name the file; the layouts of one file must have distinct names.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LayoutError(f"layout file {path!r} does not exist")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise LayoutError(f"layout file {path!r} is not valid JSON: {e}") from None
    stem = os.path.splitext(os.path.basename(path))[0]
    if isinstance(data, dict) and "layouts" in data:
        if len(data) != 1:
            raise LayoutError(f"layout file {path!r}: unknown key(s) {sorted(set(data) - {'layouts'})} "
                              "next to 'layouts'; expected only 'layouts'")
        data = data["layouts"]
        if not isinstance(data, list):
            raise LayoutError(f"layout file {path!r}: layouts={data!r}, expected a list of layouts")
    if isinstance(data, list):
        if not data:
            raise LayoutError(f"layout file {path!r} holds no layouts; expected at least one")
        entries = [(d, f"{stem}[{i}]") for i, d in enumerate(data)]
    else:
        entries = [(data, stem)]
    layouts = []
    for entry, label in entries:
        try:
            layouts.append(layout_from_dict(entry, name=label))
        except LayoutError as e:
            raise LayoutError(f"layout file {path!r}: {e}") from None
    first_entry: dict[str, int] = {}
    for i, layout in enumerate(layouts):
        if layout.name in first_entry:
            raise LayoutError(
                f"layout file {path!r}: layouts [{first_entry[layout.name]}] and [{i}] are both named "
                f"{layout.name!r}; expected unique names (they label the result rows)")
        first_entry[layout.name] = i
    return layouts


def check_observation_compatible(layout: BusMapLayout, fields: Sequence[str],
                                 bounds: Sequence[int], num_actions: int | None = None) -> None:
    """Raises LayoutError unless ``layout`` produces observations a policy trained on
    (fields, bounds) can read, with the same number of actions."""
    if tuple(fields) != layout.observation_fields:
        raise LayoutError(
            f"layout {layout.name!r} has observation fields {layout.observation_fields}, "
            f"but the policy expects {tuple(fields)}")
    too_big = [(f, lb, pb) for f, lb, pb in zip(fields, layout.observation_bounds, bounds) if lb > pb]
    if too_big:
        f, lb, pb = too_big[0]
        raise LayoutError(
            f"layout {layout.name!r}: observation field {f!r} takes values up to {lb - 1}, "
            f"but the policy was trained on values below {pb}")
    if num_actions is not None and num_actions != layout.num_actions:
        raise LayoutError(
            f"layout {layout.name!r} has {layout.num_actions} actions, the policy expects {num_actions}")
