"""launch/plot.py and the band arithmetic, on fixture run folders."""

import csv
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tf_metarl.experiments import plotting, results

PLOT = pathlib.Path(__file__).resolve().parents[2] / "launch" / "plot.py"


def write_run(folder, algorithm, seed, returns, losses=None, run=(), agent=(), finished=True,
              env="distracting_bus_map"):
    """A run folder; ``finished`` writes summary.json, as the runner does when training ends."""
    folder.mkdir(parents=True)
    config = {"algorithm": algorithm, "env": {"preset": env},
              "run": {"seed": seed, "total_env_steps": 300, **dict(run)}, "agent": dict(agent)}
    (folder / "config.json").write_text(json.dumps(config))
    with open(folder / "eval.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trials", "env_steps", "eval_return", "optimal_return", "no_information_return"])
        for i, r in enumerate(returns):
            writer.writerow([i * 10, i * 100, r, 0.8, 0.3])
    with open(folder / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trials", "env_steps", "train_return", "execute/disambiguation_loss"])
        for i, r in enumerate(returns):
            writer.writerow([i * 10, i * 100, r - 0.1, "" if losses is None else losses[i]])
    if finished:
        (folder / "summary.json").write_text(json.dumps({"env_steps": (len(returns) - 1) * 100,
                                                         "eval_return": returns[-1]}))


@pytest.fixture
def sweep_root(tmp_path):
    # Sweep layout: <root>/<algorithm>/<env>/<variant>/seed<k>
    write_run(tmp_path / "dream/distracting_bus_map/base/seed0", "dream", 0, [0.0, 0.2, 0.4, 0.6])
    write_run(tmp_path / "dream/distracting_bus_map/base/seed1", "dream", 1, [0.0, 0.4, 0.6, 0.8])
    write_run(tmp_path / "planning/distracting_bus_map/base/seed0", "planning", 0, [0.0, 0.1, 0.1, 0.2],
              losses=[0.9, 0.5, 0.4, 0.3])
    return tmp_path


def test_mean_and_band_by_hand():
    x = np.array([0.0, 100.0, 200.0])
    grid, mean, low, high = plotting.mean_and_band(
        [(x, np.array([0.0, 0.2, 0.4])), (x, np.array([0.0, 0.4, 0.8]))], band="std", num_points=3)
    np.testing.assert_allclose(grid, [0, 100, 200])
    np.testing.assert_allclose(mean, [0.0, 0.3, 0.6])
    # Sample std of (0.2, 0.4) is 0.1414...; of (0.4, 0.8) 0.2828...
    np.testing.assert_allclose(high - mean, [0.0, np.sqrt(0.02), np.sqrt(0.08)], rtol=1e-6)
    _, _, low95, _ = plotting.mean_and_band(
        [(x, np.array([0.0, 0.2, 0.4])), (x, np.array([0.0, 0.4, 0.8]))], band="ci95", num_points=3)
    # Two seeds: Student's t with 1 degree of freedom, 12.706, not the normal 1.96.
    np.testing.assert_allclose(mean - low95, 12.706 * np.array([0.0, np.sqrt(0.02), np.sqrt(0.08)]) / np.sqrt(2),
                               rtol=1e-6)


def test_curves_on_different_steps_are_interpolated():
    grid, mean, _, _ = plotting.mean_and_band(
        [(np.array([0.0, 10.0]), np.array([0.0, 1.0])), (np.array([0.0, 5.0, 20.0]), np.array([0.0, 1.0, 1.0]))],
        num_points=3)
    # Common range [0, 10]; at x=5: (0.5 + 1.0) / 2, at x=10: (1 + 1) / 2.
    np.testing.assert_allclose(grid, [0, 5, 10])
    np.testing.assert_allclose(mean, [0.0, 0.75, 1.0])


def test_runs_are_grouped_by_algorithm(sweep_root):
    runs = plotting.find_runs([str(sweep_root)])
    groups = plotting.group_runs(runs)
    assert sorted(len(v) for v in groups.values()) == [1, 2]
    assert {k[0] for k in groups} == {"dream", "planning"}


def test_runs_differing_only_in_bookkeeping_share_a_group(tmp_path):
    write_run(tmp_path / "a", "dream", 0, [0.0, 0.5], run={"progress_bar": True, "log_every_trials": 500})
    write_run(tmp_path / "b", "dream", 1, [0.0, 0.6], run={"progress_bar": False, "log_every_trials": 100})
    write_run(tmp_path / "c", "dream", 2, [0.0, 0.7], agent={"learning_rate": 3e-4})
    write_run(tmp_path / "d", "dream", 3, [0.0, 0.7], run={"num_envs": 32})
    # A field written out at its default, and a config from before it existed, agree.
    write_run(tmp_path / "e", "dream", 4, [0.0, 0.7], run={"overlap_collection": False})
    # A config from before the Q-torso fields means the earlier torsos, as the overrides do.
    write_run(tmp_path / "f", "dream", 5, [0.0, 0.7], agent={"q_hidden": [256, 64]})
    write_run(tmp_path / "g", "dream", 6, [0.0, 0.7],
              agent={"explore_q_hidden": [256, 64], "q_torso_relu_output": True})
    groups = plotting.group_runs(plotting.find_runs([str(tmp_path)]))
    assert sorted(sorted(run.seed for run in members) for members in groups.values()) == [
        [0, 1, 4], [2], [3], [5, 6]]


def test_plot_script_writes_png_and_svg(sweep_root, tmp_path):
    out = tmp_path / "figures"
    result = subprocess.run([sys.executable, str(PLOT), f"--runs={sweep_root}", f"--output_dir={out}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("meta_test_return", "meta_train_return", "disambiguation_loss"):
        assert (out / f"{name}.png").stat().st_size > 1000
        assert "<svg" in (out / f"{name}.svg").read_text()[:2000]
    assert not (out / "dynamics_loss.png").exists()  # no run logged it


def test_plot_script_errors(tmp_path):
    result = subprocess.run([sys.executable, str(PLOT), f"--runs={tmp_path / 'missing'}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "no run folder at" in result.stderr
    result = subprocess.run([sys.executable, str(PLOT), f"--runs={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "no run folders" in result.stderr


def test_results_table_by_hand(sweep_root):
    rows = results.results_table(plotting.find_runs([str(sweep_root)]), target=0.4)
    dream = next(r for r in rows if r["algorithm"] == "dream")
    planning = next(r for r in rows if r["algorithm"] == "planning")
    assert dream["seeds"] == [0, 1]
    # Final returns 0.6 and 0.8: mean 0.7, sample std sqrt(0.02); the IQM of two runs
    # trims none (int(0.25 * 2) = 0), so it is the mean too.
    np.testing.assert_allclose(dream["final_return"], (0.7, np.sqrt(0.02)))
    assert dream["final_iqm"].value == pytest.approx(0.7)
    assert dream["final_iqm"].low <= 0.7 <= dream["final_iqm"].high
    # Seed 0 reaches 0.4 at its third evaluation (200 steps), seed 1 at its second (100).
    assert dream["runs_reaching_target"] == 2
    np.testing.assert_allclose(dream["steps_to_target_runs"], [200, 100])
    assert dream["steps_to_target"].value == pytest.approx(150.0)
    # Planning never reaches 0.4: no steps statistic, its one run counted at its budget.
    assert planning["runs_reaching_target"] == 0
    np.testing.assert_allclose(planning["steps_to_target_runs"], [300])
    assert np.isnan(planning["steps_to_target"].value)
    table = results.format_markdown(rows)
    assert "| 0.700 ± 0.141 |" in table and "| — | 0/1 |" in table


def test_plot_script_writes_results_table(sweep_root, tmp_path):
    out = tmp_path / "figures"
    result = subprocess.run([sys.executable, str(PLOT), f"--runs={sweep_root}", f"--output_dir={out}",
                             "--figures=meta_test_return", "--target=0.4"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    text = (out / "results.md").read_text()
    assert "| dream | 2/2 | 0,1 |" in text
    assert text in result.stdout


def test_the_return_is_called_held_out_only_when_every_run_evaluates_held_out(sweep_root):
    runs = plotting.find_runs([str(sweep_root)])
    assert {r.eval_return_name for r in runs} == {"held-out return"}
    assert "| IQM final held-out return [95% CI] |" in results.results_markdown(runs, 0.4)
    assert plotting.figure_label(runs, "meta_test_return") == "held-out (meta-test) return"
    # small_map has no held-out split: its return is not held-out, nor is a table holding it.
    write_run(sweep_root / "dream/small_map/base/seed0", "dream", 0, [0.0, 0.5], env="small_map")
    write_run(sweep_root / "dream/small_map/base/seed1", "dream", 1, [0.0, 0.5], env="small_map",
              finished=False)
    runs = plotting.find_runs([str(sweep_root)])
    names = {r.env_preset: r.eval_return_name for r in runs}
    assert names == {"distracting_bus_map": "held-out return", "small_map": "evaluation return"}
    text = results.results_markdown(runs, 0.4)
    # Each env's table names its own return.
    bus_map, _, small_map = text.partition("### small_map")
    assert "| IQM final held-out return [95% CI] |" in bus_map
    assert "| IQM final evaluation return [95% CI] |" in small_map
    assert "| latest evaluation return (at env steps) |" in small_map
    assert plotting.shared_eval_return_name(runs) == "evaluation return"
    assert plotting.figure_label(runs, "meta_test_return") == "evaluation (meta-test) return"
    assert plotting.figure_label(runs, "meta_train_return") == "meta-training return"


def run_plot(*args):
    return subprocess.run([sys.executable, str(PLOT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_unfinished_runs_are_drawn_but_left_out_of_the_final_statistics(sweep_root, tmp_path):
    # Mid-sweep: dream seed 2 has reached 100 of its 300 env steps; planning's only run
    # (with another learning rate: a group of its own) 200.
    seed2 = sweep_root / "dream/distracting_bus_map/base/seed2"
    write_run(seed2, "dream", 2, [0.0, -0.9], finished=False)
    early = sweep_root / "planning/distracting_bus_map/lr/seed0"
    write_run(early, "planning", 0, [0.0, 0.1, 0.3], agent={"learning_rate": 1e-3}, finished=False)
    out = tmp_path / "figures"
    result = run_plot(f"--runs={sweep_root}", f"--output_dir={out}", "--target=0.4")
    assert result.returncode == 0, result.stderr[-2000:]
    # Warned about, by folder and progress.
    assert "2 of 5 runs unfinished" in result.stderr
    assert f"{seed2} (stopped, no checkpoint, 100 of 300 env steps)" in result.stderr
    assert f"{early} (stopped, no checkpoint, 200 of 300 env steps)" in result.stderr
    text = (out / "results.md").read_text()
    table, _, unfinished = text.partition("Unfinished runs")
    # dream's final return is seeds 0 and 1 only (0.6 and 0.8), not seed 2's -0.9, and
    # the row says 2 of its 3 runs finished.
    assert "| dream | 2/3 | 0,1 | 300 | 0.700 [" in table and "| 0.700 ± 0.141 |" in table
    # A group whose only run is unfinished has no final return at all.
    assert "[lr]" not in table and "| planning | 1/1 |" in table  # planning base: finished
    assert f"| dream | base | distracting_bus_map | 2 | stopped, no checkpoint | 100 of 300 | -0.900 (at 100) | {seed2} |" \
        in unfinished
    assert f"| planning | lr | distracting_bus_map | 0 | stopped, no checkpoint | 200 of 300 | 0.300 (at 200) | {early} |" \
        in unfinished
    assert (out / "meta_test_return.png").exists()  # still drawn
    runs = plotting.find_runs([str(sweep_root)])
    assert sorted((r.algorithm, r.seed) for r in runs if not r.finished) == [("dream", 2), ("planning", 0)]


def test_no_finished_run_gives_no_final_statistics(tmp_path):
    write_run(tmp_path / "runs/a", "dream", 0, [0.0, 0.5], finished=False)
    out = tmp_path / "figures"
    result = run_plot(f"--runs={tmp_path / 'runs'}", f"--output_dir={out}", "--figures=meta_test_return")
    assert result.returncode == 0, result.stderr[-2000:]
    text = (out / "results.md").read_text()
    assert "No run has finished" in text and "final held-out return" not in text
    assert f"| 0 | stopped, no checkpoint | 100 of 300 | 0.500 (at 100) | {tmp_path / 'runs/a'} |" in text


def test_a_run_folder_given_twice_is_refused_before_anything_is_read(sweep_root, tmp_path):
    run = sweep_root / "dream/distracting_bus_map/base/seed0"
    out = tmp_path / "figures"
    result = run_plot(f"--runs={run},{run}/", f"--output_dir={out}")
    assert result.returncode != 0 and f"run folder '{run}' is reached twice" in result.stderr
    # Also reached through the sweep folder holding it, or through a link.
    result = run_plot(f"--runs={sweep_root},{run}", f"--output_dir={out}")
    assert result.returncode != 0 and f"run folder '{run}' is reached twice" in result.stderr
    (tmp_path / "link").symlink_to(run)
    with pytest.raises(plotting.DuplicateRunError, match="reached twice.*link"):
        plotting.find_runs([str(run), str(tmp_path / "link")])
    # Refused before its files are read: an unreadable config is not what is reported.
    (run / "config.json").write_text("{not json")
    result = run_plot(f"--runs={run},{run}", f"--output_dir={out}")
    assert result.returncode != 0 and "reached twice" in result.stderr
    assert not out.exists()


def test_two_folders_with_the_same_config_and_seed_are_refused(tmp_path):
    write_run(tmp_path / "a", "dream", 0, [0.0, 0.5])
    write_run(tmp_path / "copy_of_a", "dream", 0, [0.0, 0.5])
    with pytest.raises(plotting.DuplicateRunError, match=r"'.*/a' and '.*/copy_of_a' .* same seed \(0\)"):
        plotting.find_runs([str(tmp_path)])
    # Same seed of another experiment is fine.
    write_run(tmp_path / "other/b", "dream", 0, [0.0, 0.5], agent={"learning_rate": 1e-3})
    assert len(plotting.find_runs([str(tmp_path / "a"), str(tmp_path / "other")])) == 2
    result = run_plot(f"--runs={tmp_path}", f"--output_dir={tmp_path / 'figures'}")
    assert result.returncode != 0 and "copy_of_a" in result.stderr and "pass only one of them" in result.stderr
