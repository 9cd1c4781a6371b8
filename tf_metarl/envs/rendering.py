"""Pictures of one bus-map problem: a text grid (``render_ansi``) and an image (``render_rgb``).

Both draw the grid with y = 0 at the bottom, so 'up' (y + 1) is up. Buses are named by
letters in layout order (skipping G and M, used for goals and the map): colored bus k gets
the k-th letter, its stop drawn upper case and its destination (which depends on the
problem) lower case; gray buses continue the alphabet after the colored ones and are
marked ``~`` in text and drawn in gray in images.
"""

from __future__ import annotations

import dataclasses
import string

import numpy as np

from tf_metarl.envs.layout import BusMapLayout, Cell, LayoutError

# Image colors (RGB).
_BACKGROUND = (255, 255, 255)
_GRID_LINE = (215, 215, 215)
_GOAL = (200, 240, 200)
_INSTRUCTED_GOAL = (60, 190, 60)
_MAP = (230, 180, 40)
_AGENT = (0, 0, 0)
_PAIR_COLORS = ((220, 40, 40), (40, 90, 220), (240, 130, 0), (150, 50, 190),
                (0, 160, 160), (220, 60, 160))
_GRAY_LEVELS = (70, 110, 150, 190, 90, 130)
# Bus letters: the alphabet without G and M, which mark goals and the map.
_BUS_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "GM")


@dataclasses.dataclass(frozen=True)
class _Bus:
    """One bus of a problem, as drawn: its letter, cells and kind."""
    letter: str
    stop: Cell
    destination: Cell
    colored: bool
    index: int  # position among the buses of its kind


def _buses(layout: BusMapLayout, problem_id: int) -> list[_Bus]:
    """The problem's buses with their letters (colored first, then gray)."""
    buses, counts = [], {True: 0, False: 0}
    for k, (stop, destination, colored) in enumerate(layout.buses(problem_id)):
        buses.append(_Bus(_BUS_LETTERS[k], stop, destination, colored, counts[colored]))
        counts[colored] += 1
    return buses


def _cell_xy(layout: BusMapLayout, cell) -> Cell:
    """Accepts a cell index or an (x, y) pair; returns (x, y) or raises naming the value."""
    if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
        if not 0 <= cell < layout.num_cells:
            raise LayoutError(
                f"cell index {cell} is outside layout {layout.name!r}: expected 0 <= index < "
                f"{layout.num_cells}")
        return layout.cell_of(int(cell))
    if (isinstance(cell, (tuple, list, np.ndarray)) and len(cell) == 2
            and all(isinstance(v, (int, np.integer)) for v in cell)):
        x, y = int(cell[0]), int(cell[1])
        if 0 <= x < layout.width and 0 <= y < layout.height:
            return (x, y)
        raise LayoutError(
            f"cell {tuple(cell)} lies outside the {layout.width}x{layout.height} grid of "
            f"layout {layout.name!r}")
    raise LayoutError(f"cell={cell!r}, expected a cell index or an (x, y) pair of integers")


def _check_goal_id(layout: BusMapLayout, goal_id) -> None:
    if goal_id is not None and not 0 <= goal_id < len(layout.goals):
        raise LayoutError(f"goal_id={goal_id!r} out of range; expected 0 <= id < {len(layout.goals)}")


# ---- text ---------------------------------------------------------------------------------------
def render_ansi(layout: BusMapLayout, problem_id: int, cell, goal_id: int | None = None) -> str:
    """A text picture of ``problem_id`` with the agent on ``cell`` (index or (x, y)).

    Each cell is three characters: ``@`` left of the symbol marks the agent; the symbol is
    a bus letter (stop upper case, destination lower case), ``M`` the map, ``G`` a goal
    cell, ``.`` nothing; right of it ``*`` marks the instructed goal (``goal_id``) and
    ``~`` a gray (distracting) bus. A legend lists where every bus goes.
    """
    agent = _cell_xy(layout, cell)
    _check_goal_id(layout, goal_id)
    buses = _buses(layout, problem_id)
    goal = layout.goals[goal_id] if goal_id is not None else None
    symbols, gray_cells = _text_symbols(layout, buses)
    rows = []
    for y in reversed(range(layout.height)):
        cells = []
        for x in range(layout.width):
            left = "@" if (x, y) == agent else " "
            right = "*" if (x, y) == goal else ("~" if (x, y) in gray_cells else " ")
            cells.append(left + symbols.get((x, y), ".") + right)
        rows.append(f"{y:2d} |" + "".join(cells))
    rows.append("   +" + "---" * layout.width)
    rows.append("    " + "".join(f"{x:^3d}" for x in range(layout.width)))
    return "\n".join(rows + _legend(layout, problem_id, buses, agent, goal))


def _text_symbols(layout: BusMapLayout, buses: list[_Bus]) -> tuple[dict[Cell, str], set[Cell]]:
    """Center symbol of every non-empty cell, and the set of gray bus cells."""
    symbols: dict[Cell, str] = {g: "G" for g in layout.goals}
    if layout.map_cell is not None:
        symbols[layout.map_cell] = "M"
    gray_cells = set()
    for bus in buses:
        symbols[bus.stop] = bus.letter
        symbols[bus.destination] = bus.letter.lower()
        if not bus.colored:
            gray_cells.update((bus.stop, bus.destination))
    return symbols, gray_cells


def _legend(layout: BusMapLayout, problem_id: int, buses: list[_Bus], agent: Cell,
            goal: Cell | None) -> list[str]:
    def pairs(colored):
        return "  ".join(f"{b.letter}{b.stop}<->{b.letter.lower()}{b.destination}"
                         for b in buses if b.colored == colored)

    lines = [f"@ agent {agent}", f"colored buses: {pairs(True)}"]
    if layout.gray_stops:
        lines.append(f"gray buses (~, distracting): {pairs(False)}")
    if layout.map_cell is not None:
        lines.append(f"M map {layout.map_cell} shows {layout.map_value(problem_id)}")
    goal_text = f"; * instructed goal {goal}" if goal is not None else ""
    lines.append(f"G goals {' '.join(map(str, layout.goals))}{goal_text}")
    return lines


# ---- image --------------------------------------------------------------------------------------
def render_rgb(layout: BusMapLayout, problem_id: int, cell, goal_id: int | None = None,
               cell_pixels: int = 16) -> np.ndarray:
    """An image of ``problem_id`` with the agent on ``cell``: uint8 [H*px, W*px, 3].

    Image row 0 is the top of the grid (y = H - 1), so 'up' is up. Goal cells are light
    green (the instructed one bright green), the map gold; a bus stop is a filled square
    and its destination a hollow square of the same color (one color per colored bus,
    gray levels for gray buses); the agent is a black disc.
    """
    if isinstance(cell_pixels, bool) or not isinstance(cell_pixels, (int, np.integer)) or cell_pixels < 1:
        raise ValueError(f"cell_pixels={cell_pixels!r}, expected a positive integer")
    px = int(cell_pixels)
    agent = _cell_xy(layout, cell)
    _check_goal_id(layout, goal_id)
    image = np.empty((layout.height * px, layout.width * px, 3), dtype=np.uint8)
    image[:] = _BACKGROUND
    masks = _masks(px)
    if px >= 4:  # grid lines on the top and left edge of every cell
        image[::px, :] = _GRID_LINE
        image[:, ::px] = _GRID_LINE
    for g, goal_cell in enumerate(layout.goals):
        _paint(image, layout, goal_cell, masks["inner"], _INSTRUCTED_GOAL if g == goal_id else _GOAL)
    if layout.map_cell is not None:
        _paint(image, layout, layout.map_cell, masks["square"], _MAP)
    for bus in _buses(layout, problem_id):
        color = _PAIR_COLORS[bus.index] if bus.colored else (_GRAY_LEVELS[bus.index],) * 3
        _paint(image, layout, bus.stop, masks["square"], color)
        _paint(image, layout, bus.destination, masks["ring"], color)
    _paint(image, layout, agent, masks["disc"], _AGENT)
    return image


def _masks(px: int) -> dict[str, np.ndarray]:
    """Boolean [px, px] shapes drawn inside a cell."""
    i, j = np.mgrid[0:px, 0:px]
    edge = 1 if px >= 4 else 0  # row and column 0 hold the grid line

    def box(margin: int) -> np.ndarray:
        """The cell minus ``margin`` pixels on every side (inside the grid line)."""
        low, high = edge + margin, px - margin
        return (i >= low) & (i < high) & (j >= low) & (j < high)

    pad, thickness = px // 8, max(px // 8, 1)
    square = box(pad)
    center = (edge + px - 1) / 2
    return {
        "inner": box(0),
        "square": square,
        "ring": square & ~box(pad + thickness),
        "disc": (i - center) ** 2 + (j - center) ** 2 <= (0.3 * px) ** 2,
    }


def _paint(image: np.ndarray, layout: BusMapLayout, cell: Cell, mask: np.ndarray, color) -> None:
    x, y = cell
    px = mask.shape[0]
    row = (layout.height - 1 - y) * px
    image[row:row + px, x * px:(x + 1) * px][mask] = color
