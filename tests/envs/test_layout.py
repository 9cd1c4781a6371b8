"""Layouts: splits, validation errors that name the bad value, JSON loading."""

import json

import numpy as np
import pytest

from tf_metarl.envs import (
    PRESETS, BatchedBusMap, LayoutError, Phase, check_observation_compatible, layout_from_dict,
    load_layouts, optimal_return, preset_layout)
from tf_metarl.envs.layout import RIDE_BUS, UP


# ---- splits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["distracting_bus_map", "distracting_bus"])
def test_train_test_split_sizes_and_disjointness(preset):
    layout = preset_layout(preset)
    train, test = layout.split_problem_ids("train"), layout.split_problem_ids("test")
    assert len(train) == 53 and len(test) == 523  # every 11th of 576 ids is a training id
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(576))
    assert train[:3].tolist() == [0, 11, 22]


@pytest.mark.parametrize("preset", ["map", "small_map"])
def test_map_presets_train_and_test_on_all_24_problems(preset):
    layout = preset_layout(preset)
    assert layout.split_problem_ids("train").tolist() == list(range(24))
    assert layout.split_problem_ids("test").tolist() == list(range(24))


def test_unknown_split_is_named():
    with pytest.raises(LayoutError, match="'validation'"):
        preset_layout().split_problem_ids("validation")


def test_an_empty_split_is_named():
    # Problems 0 and 11 are both training problems of the 11-way split.
    layout = layout_from_dict({"preset": "distracting_bus_map", "problem_ids": [0, 11]})
    assert layout.split_problem_ids("train").tolist() == [0, 11]
    with pytest.raises(LayoutError, match="split 'test' of layout .* holds no problems"):
        layout.split_problem_ids("test")


# ---- validation errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, named", [
    (dict(start=(9, 4)), r"start=\(9, 4\) lies outside the 9x9 grid"),
    (dict(colored_stops=((4, 5), (5, 4), (3, 4), (4, -1))), r"\(4, -1\)"),
    (dict(gray_stops=((4, 5), (3, 3), (3, 5), (5, 3))), r"overlap at cell \(4, 5\)"),
    (dict(map_cell=(5, 5)), r"map_cell \(5, 5\) lies on a bus cell"),
    (dict(start=(0, 0)), r"start \(0, 0\) is a goal cell"),
    (dict(horizon=0), r"horizon=0"),
    (dict(colored_destinations=((0, 1), (0, 7), (8, 1))), r"4 colored stops but 3"),
    (dict(horizon=True), r"horizon=True, expected an integer >= 1"),
    (dict(terminate_on_any_goal=np.int64(1)), r"terminate_on_any_goal=np.int64\(1\), expected true or false"),
    (dict(goals=[(0, 0)]), r"goals=\[\(0, 0\)\], expected a tuple of \(x, y\) cells"),
    (dict(problem_ids=[0, 1]), r"problem_ids=\[0, 1\], expected a tuple"),
])
def test_invalid_layouts_name_the_bad_value(overrides, named):
    with pytest.raises(LayoutError, match=named):
        preset_layout("distracting_bus_map", **overrides)


def test_unknown_preset_is_named():
    with pytest.raises(LayoutError, match="'big_map'"):
        preset_layout("big_map")


def test_problem_id_out_of_range_is_named():
    layout = preset_layout()
    with pytest.raises(LayoutError, match="problem id 576 .* 0 <= id < 576"):
        layout.check_problem_ids([3, 576])
    with pytest.raises(LayoutError, match="problem id -1"):
        layout.buses(-1)
    with pytest.raises(LayoutError, match="problem id 24"):
        preset_layout("small_map", problem_ids=(0, 24))


def test_unknown_json_field_is_named():
    with pytest.raises(LayoutError, match=r"unknown field\(s\) \['colour'\]"):
        layout_from_dict({"preset": "map", "colour": "red"}, name="mine")


def test_incompatible_observations_are_named():
    nine = preset_layout("distracting_bus_map")
    no_map = preset_layout("distracting_bus")
    with pytest.raises(LayoutError, match="map_info"):
        check_observation_compatible(nine, no_map.observation_fields, no_map.observation_bounds)
    small = preset_layout("small_map")
    # A 5x5 layout fits a policy trained on 9x9 observations, not the other way round.
    check_observation_compatible(small, nine.observation_fields, nine.observation_bounds)
    with pytest.raises(LayoutError, match="'x' takes values up to 8"):
        check_observation_compatible(nine, small.observation_fields, small.observation_bounds)
    with pytest.raises(LayoutError, match="7 actions, the policy expects 9"):
        check_observation_compatible(nine, nine.observation_fields, nine.observation_bounds, 9)


def test_missing_and_invalid_json_files_are_named(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(LayoutError, match="missing.json.*does not exist"):
        load_layouts(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LayoutError, match="broken.json.*not valid JSON"):
        load_layouts(broken)


# ---- JSON layouts -----------------------------------------------------------------------------------
def test_load_layout_with_explicit_bus_pairs(tmp_path):
    path = tmp_path / "plus.json"
    path.write_text(json.dumps({
        "width": 7, "height": 7, "start": [3, 3],
        "colored_buses": [[[3, 4], [0, 6]], [[3, 2], [6, 0]]],
        "goals": [[0, 6], [6, 0], [0, 0], [6, 6]],
        "map_cell": [5, 3], "horizon": 12,
    }))
    (layout,) = load_layouts(path)
    assert layout.name == "plus"
    assert layout.num_problems == 2  # 2! colored permutations, no gray buses
    assert layout.observation_bounds == (7, 7, 2, 3)
    # Problem 0 is the listed pairing; problem 1 swaps the destinations.
    assert layout.buses(0) == [((3, 4), (0, 6), True), ((3, 2), (6, 0), True)]
    assert layout.buses(1) == [((3, 4), (6, 0), True), ((3, 2), (0, 6), True)]
    env = BatchedBusMap(layout, 2)
    env.start_trials([0, 1], [0, 0])
    env.reset(Phase.EXECUTE)
    env.step(np.array([UP, UP]))
    obs, reward, done = env.step(np.array([RIDE_BUS, RIDE_BUS]))
    assert obs[:, :2].tolist() == [[0, 6], [6, 0]]
    assert reward.tolist() == pytest.approx([1.0, -0.1]) and done.tolist() == [True, False]
    assert optimal_return(layout, 0, 0) == pytest.approx(0.9)  # up, ride: 2 steps


def test_load_several_layouts_from_presets_with_overrides(tmp_path):
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"layouts": [
        {"preset": "distracting_bus_map", "horizon": 30},
        {"preset": "small_map", "step_cost": 0.2, "map_cell": None},
    ]}))
    long_horizon, small = load_layouts(path)
    assert long_horizon.name == "variants[0]" and long_horizon.horizon == 30
    assert long_horizon.gray_stops == preset_layout().gray_stops
    assert small.step_cost == 0.2 and not small.has_map
    assert small.observation_fields == ("x", "y", "status")
    assert small.terminate_on_any_goal


def test_json_layout_errors_name_the_file_entry(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"preset": "map"}, {"preset": "map", "start": [4, 5]}]))
    with pytest.raises(LayoutError, match=r"bad\[1\].*start \(4, 5\) lies on a bus cell"):
        load_layouts(path)


def test_json_layout_lists_must_hold_layouts_and_problem_id_lists(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"layouts": []}))
    with pytest.raises(LayoutError, match="empty.json.*holds no layouts"):
        load_layouts(empty)
    scalar_ids = tmp_path / "ids.json"
    scalar_ids.write_text(json.dumps({"preset": "small_map", "problem_ids": 5}))
    with pytest.raises(LayoutError, match="problem_ids=5, expected a list of integer problem ids"):
        load_layouts(scalar_ids)


# Each value is wrong only in type; bool is a subclass of int, so True must not pass as 1.
@pytest.mark.parametrize("field, value, named", [
    ("horizon", True, r"horizon=True, expected an integer >= 1"),
    ("horizon", 20.0, r"horizon=20.0, expected an integer >= 1"),
    ("step_cost", True, r"step_cost=True, expected a number with 0 <= step_cost <= 1"),
    ("step_cost", "0.1", r"step_cost='0.1', expected a number"),
    ("step_cost", float("nan"), r"step_cost=nan, expected a number"),
    ("terminate_on_any_goal", "no", r"terminate_on_any_goal='no', expected true or false"),
    ("terminate_on_any_goal", 1, r"terminate_on_any_goal=1, expected true or false"),
    ("name", 5, r"name=5, expected a non-empty string"),
    ("name", "", r"name='', expected a non-empty string"),
    ("name", None, r"name=None, expected a non-empty string"),
    ("problem_ids", [True], r"problem_ids\[0\]=True, expected an integer problem id"),
    ("problem_ids", [0, 1.0], r"problem_ids\[1\]=1.0, expected an integer problem id"),
    ("num_actions", 7.0, r"num_actions=7.0, expected 7 or 9"),
    ("test_split_every", True, r"test_split_every=True, expected an integer >= 1"),
    ("width", 5.0, r"width=5.0, expected an integer >= 2"),
    ("start", [True, 2], r"start=\(True, 2\), expected an \(x, y\) pair of integers"),
    ("preset", ["map"], r"unknown preset \['map'\]"),
    ("colored_buses", [[[2, 1], [0, 0], [4, 4]]],
     r"colored_buses=\[\[\[2, 1\], \[0, 0\], \[4, 4\]\]\], expected a list of \[stop, destination\] pairs"),
])
def test_json_values_of_the_wrong_type_are_named(tmp_path, field, value, named):
    path = tmp_path / "typed.json"
    path.write_text(json.dumps({"preset": "small_map", field: value}))
    with pytest.raises(LayoutError, match=rf"layout file '.*typed\.json': layout 'typed': {named}"):
        load_layouts(path)


def test_layouts_of_one_file_need_distinct_names(tmp_path):
    path = tmp_path / "twins.json"
    path.write_text(json.dumps({"layouts": [
        {"preset": "small_map", "name": "twin"},
        {"preset": "map"},
        {"preset": "small_map", "name": "twin", "horizon": 12},
    ]}))
    with pytest.raises(LayoutError, match=r"twins\.json.*layouts \[0\] and \[2\] are both named 'twin'"):
        load_layouts(path)
    # A name may also collide with the default name of another entry.
    path.write_text(json.dumps([{"preset": "map"}, {"preset": "map", "name": "twins[0]"}]))
    with pytest.raises(LayoutError, match=r"layouts \[0\] and \[1\] are both named 'twins\[0\]'"):
        load_layouts(path)
    path.write_text(json.dumps([{"preset": "map", "name": "a"}, {"preset": "map", "name": "b"}]))
    assert [layout.name for layout in load_layouts(path)] == ["a", "b"]


def test_every_preset_builds_and_serializes():
    for preset in PRESETS:
        layout = preset_layout(preset)
        assert layout_from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    # numpy integers are integers too, and serialize as plain ones.
    layout = preset_layout("map", horizon=np.int64(30), problem_ids=(np.int64(3),))
    assert json.loads(json.dumps(layout.to_dict()))["horizon"] == 30
