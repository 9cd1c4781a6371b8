"""Text and image pictures of a problem."""

import numpy as np
import pytest

from tf_metarl.envs import LayoutError, preset_layout, render_ansi, render_rgb

LAYOUT = preset_layout("distracting_bus_map")
SMALL = preset_layout("small_map")


def grid_cell(text, layout, x, y):
    """The three characters drawn for cell (x, y): rows go from y = H-1 down to 0, each
    prefixed by 'yy |', three characters per cell."""
    line = text.splitlines()[layout.height - 1 - y]
    return line[4 + 3 * x: 7 + 3 * x]


def test_ansi_places_the_agent_buses_map_and_goal():
    # Problem 5: stop A (4,5) -> a (0,1), B (5,4) -> b (8,7), C (3,4) -> c (8,1),
    # D (4,3) -> d (0,7); gray E (5,5) -> e (0,4), F (3,3) -> f (4,0) (letters skip G, M).
    text = render_ansi(LAYOUT, 5, (2, 6), goal_id=2)
    grid = text.splitlines()[:LAYOUT.height]
    assert sum(line.count("@") for line in grid) == 1
    assert grid_cell(text, LAYOUT, 2, 6) == "@. "
    assert grid_cell(text, LAYOUT, 4, 5) == " A " and grid_cell(text, LAYOUT, 0, 1) == " a "
    assert grid_cell(text, LAYOUT, 5, 4) == " B " and grid_cell(text, LAYOUT, 8, 7) == " b "
    assert grid_cell(text, LAYOUT, 4, 3) == " D " and grid_cell(text, LAYOUT, 0, 7) == " d "
    assert grid_cell(text, LAYOUT, 5, 5) == " E~" and grid_cell(text, LAYOUT, 0, 4) == " e~"
    assert grid_cell(text, LAYOUT, 7, 3) == " M "
    assert grid_cell(text, LAYOUT, 8, 8) == " G*" and grid_cell(text, LAYOUT, 0, 0) == " G "
    assert "M map (7, 3) shows 6" in text
    assert "B(5, 4)<->b(8, 7)" in text


def test_ansi_accepts_a_cell_index_and_marks_the_agent_on_a_bus():
    # Small map, problem 0: the stop (2,1) leads to the corner (0,0).
    by_index = render_ansi(SMALL, 0, SMALL.cell_index((2, 1)))
    assert by_index == render_ansi(SMALL, 0, (2, 1))
    assert grid_cell(by_index, SMALL, 2, 1) == "@A "
    assert grid_cell(by_index, SMALL, 0, 0) == " a "
    assert "~" not in by_index  # no gray buses


def test_ansi_errors_name_the_bad_value():
    with pytest.raises(LayoutError, match=r"\(9, 0\) lies outside the 9x9 grid"):
        render_ansi(LAYOUT, 0, (9, 0))
    with pytest.raises(LayoutError, match="cell index 81"):
        render_ansi(LAYOUT, 0, 81)
    with pytest.raises(LayoutError, match="problem id 576"):
        render_ansi(LAYOUT, 576, 0)
    with pytest.raises(LayoutError, match="goal_id=4"):
        render_ansi(LAYOUT, 0, 0, goal_id=4)


def test_rgb_shape_dtype_and_orientation():
    px = 16
    image = render_rgb(LAYOUT, 0, (1, 0), goal_id=0, cell_pixels=px)
    assert image.shape == (9 * px, 9 * px, 3) and image.dtype == np.uint8

    def center(x, y):  # y = 0 is the bottom row of the image
        row = (LAYOUT.height - 1 - y) * px + px // 2
        return image[row, x * px + px // 2].tolist()

    assert center(1, 0) == [0, 0, 0]  # the agent
    assert center(0, 0) == [60, 190, 60]  # the instructed goal (0,0), bottom left
    assert center(8, 8) == [200, 240, 200]  # another goal, top right
    assert center(4, 4) == [255, 255, 255]  # the empty start cell
    # Problem 0: the stop (4,5) leads to (0,1), drawn as a hollow square of its color.
    stop_color = center(4, 5)
    assert stop_color not in ([255, 255, 255], center(5, 4))  # one color per colored bus
    ring_row = (LAYOUT.height - 1 - 1) * px + 3
    assert image[ring_row, 0 * px + 3].tolist() == stop_color
    assert center(0, 1) == [255, 255, 255]


def test_rgb_tiny_cells_and_bad_size():
    assert render_rgb(SMALL, 3, 12, cell_pixels=1).shape == (5, 5, 3)
    with pytest.raises(ValueError, match="cell_pixels=0"):
        render_rgb(SMALL, 3, 12, cell_pixels=0)
