"""launch/evaluate.py on new bus-map configurations: the exported policy plays the same
trials as the in-memory agent, reports per layout and pooled, and never imports the
agents, networks or training code."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from export_helpers import NUM_EVAL_TRIALS, in_memory_trials


@pytest.fixture(scope="module")
def evaluation(jobs):
    job, files = jobs["evaluate"]
    result = job.result()
    assert result.returncode == 0, result.stderr[-3000:]
    return result, files["layouts_file"], files["out_dir"], files["gif"]


def test_evaluate_imports_no_agent_network_or_training_code(evaluation):
    result = evaluation[0]
    assert "FORBIDDEN_MODULES []" in result.stdout, result.stdout


def test_evaluate_prints_a_table_and_writes_json_csv_and_gif(evaluation):
    from PIL import Image

    result, _, out_dir, gif = evaluation
    table = result.stdout.split("\n\n")[1]
    rows = table.splitlines()
    assert rows[0].split()[:3] == ["layout", "trials", "return"] and "frac. optimal" in rows[0]
    assert rows[0].endswith("informed  explore gap  execute gap")
    assert [r.split()[0] for r in rows[2:5]] == ["moved_stops", "seven_by_seven", "overall"]
    assert rows[4].split()[1] == str(2 * NUM_EVAL_TRIALS)

    report = json.loads((out_dir / "evaluation.json").read_text())
    assert [s["layout"] for s in report["layouts"]] == ["moved_stops", "seven_by_seven"]
    assert report["overall"]["trials"] == 2 * NUM_EVAL_TRIALS
    for s in report["layouts"] + [report["overall"]]:
        assert s["ci95_low"] <= s["mean_return"] <= s["ci95_high"]
        assert 0 <= s["success_rate"] <= 1
        assert s["fraction_of_optimal"] == pytest.approx(s["mean_return"] / s["optimal_return"])
        assert s["explore_gap"] == pytest.approx(s["optimal_return"] - s["informed_return"], abs=1e-6)
        assert s["execute_gap"] == pytest.approx(s["informed_return"] - s["mean_return"], abs=1e-6)
    with open(out_dir / "evaluation.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["layout"] for r in csv_rows] == ["moved_stops", "seven_by_seven", "overall"]
    assert float(csv_rows[0]["mean_return"]) == pytest.approx(report["layouts"][0]["mean_return"])
    assert float(csv_rows[2]["informed_return"]) == pytest.approx(report["overall"]["informed_return"])

    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames > 2


def test_exported_policy_plays_the_same_trials_as_the_in_memory_agent(evaluation, agent_and_layout):
    from tf_metarl.envs import informed_returns, load_layouts, optimal_returns

    agent, _ = agent_and_layout
    _, layouts_file, out_dir, _ = evaluation
    report = json.loads((out_dir / "evaluation.json").read_text())
    for layout, summary in zip(load_layouts(layouts_file), report["layouts"]):
        trials = summary["trials_detail"]
        problems = np.array([t["problem_id"] for t in trials])
        goals = np.array([t["goal_id"] for t in trials])
        assert len(trials) == NUM_EVAL_TRIALS
        expected = in_memory_trials(agent, layout, problems, goals)
        np.testing.assert_allclose([t["return"] for t in trials], expected.returns, atol=1e-5)
        np.testing.assert_array_equal([t["success"] for t in trials], expected.success)
        np.testing.assert_array_equal([t["explore_length"] for t in trials], expected.x_length)
        np.testing.assert_array_equal([t["execute_length"] for t in trials], expected.length)
        np.testing.assert_allclose([t["optimal_return"] for t in trials],
                                   optimal_returns(layout, problems, goals), atol=1e-6)
        assert summary["mean_return"] == pytest.approx(expected.returns.mean(), abs=1e-5)
        # The informed return of each trial, from the in-memory agent's exploration.
        informed = informed_returns(layout, problems, goals, expected.x_obs, expected.x_actions,
                                    expected.x_length)
        np.testing.assert_allclose([t["informed_return"] for t in trials], informed, atol=1e-6)
        assert summary["informed_return"] == pytest.approx(informed.mean(), abs=1e-6)
