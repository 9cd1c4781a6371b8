"""benchmarks/dream_learning.py: report names come from the run's config.json under
--report_only, and bad flags or run folders fail with one-line errors. No training: the
run folders are written by hand."""

import importlib.util
import os

import pytest

from tf_metarl.config import apply_overrides, to_json
from tf_metarl.training.config import run_config

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "benchmarks", "dream_learning.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dream_learning_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(root, config):
    """A run folder as a report reads it: config.json, one train.csv and one eval.csv row."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(to_json(config))
    (root / "train.csv").write_text(
        "trials,env_steps,wall_time,env_steps_per_sec,execute_updates,explore_updates,train_return\n"
        "8,100,6.0,16.7,10,0,0.1\n")
    (root / "eval.csv").write_text(
        "trials,env_steps,wall_time,eval_return,eval_success,eval_explore_length,"
        "eval_fraction_optimal,optimal_return,no_information_return\n"
        "8,100,6.5,0.75,0.9,3.0,0.8,0.9,0.1\n")
    return root


def exit_message(bench, argv):
    with pytest.raises(SystemExit) as raised:
        bench.main(argv)
    return str(raised.value.code)


def test_report_name(bench):
    assert bench.report_name("dream", "small_map", "tiny", 2) == "dream_small_map_tiny_seed2"
    assert (bench.report_name("planning", "map", "paper", 0, "raw") ==
            "planning_map_paper_raw_seed0")


def test_report_only_names_the_report_from_the_run_config(bench, tmp_path):
    run = write_run(tmp_path / "run", run_config("gradient_embedder", "small_map", "tiny", 3))
    results = tmp_path / "results"
    bench.main(["--report_only", f"--root_dir={run}", f"--results_dir={results}"])  # default flags
    assert os.listdir(results) == ["learning_gradient_embedder_small_map_tiny_seed3.md"]
    text = (results / "learning_gradient_embedder_small_map_tiny_seed3.md").read_text()
    assert text.startswith("# Learning benchmark: gradient_embedder_small_map_tiny_seed3\n")
    assert "Algorithm `gradient_embedder`, env preset `small_map`, seed 3" in text
    # small_map has no held-out split: the report does not call its return held-out.
    assert "## Evaluation: evaluation return (" in text and "held-out" not in text.lower()


def test_report_names_the_return_held_out_only_on_a_held_out_split(bench, tmp_path):
    config = run_config("dream", "distracting_bus_map", "tiny", 0)
    run = write_run(tmp_path / "run", config)
    bench.main(["--report_only", f"--root_dir={run}", f"--results_dir={tmp_path / 'a'}"])
    text = (tmp_path / "a" / "learning_dream_distracting_bus_map_tiny_seed0.md").read_text()
    assert "## Evaluation: held-out return (" in text and "- Best held-out return 0.750" in text
    # Evaluating on the training problems is not held out, on the same layout.
    write_run(run, apply_overrides(config, ["env.eval_split=train"]))
    bench.main(["--report_only", f"--root_dir={run}", f"--results_dir={tmp_path / 'b'}",
                "--override=env.eval_split=train", "--variant=train_eval"])
    text = (tmp_path / "b" / "learning_dream_distracting_bus_map_tiny_train_eval_seed0.md").read_text()
    assert "## Evaluation: evaluation return (" in text and "held-out" not in text.lower()


def test_report_only_will_not_overwrite_another_runs_report(bench, tmp_path):
    """A run that differs from its preset gets the preset's report name without --variant:
    if that report came from another run folder, it is refused, not overwritten."""
    results = tmp_path / "results"
    base = write_run(tmp_path / "base", run_config("dream", "small_map", "quick", 0))
    bench.main(["--report_only", f"--root_dir={base}", f"--results_dir={results}"])
    report = results / "learning_dream_small_map_quick_seed0.md"
    original = report.read_text()
    changed = write_run(tmp_path / "changed", apply_overrides(
        run_config("dream", "small_map", "quick", 0), ["agent.z_dim=7"]))
    message = exit_message(bench, ["--report_only", f"--root_dir={changed}", f"--results_dir={results}"])
    assert message.startswith("error: ") and "\n" not in message
    for text in ("agent.z_dim: 64 -> 7", str(base), "--variant"):
        assert text in message, text
    assert report.read_text() == original
    # Named with --variant it gets its own report; the base run can still rewrite its own.
    bench.main(["--report_only", f"--root_dir={changed}", f"--results_dir={results}",
                "--override=agent.z_dim=7", "--variant=small_z"])
    assert (results / "learning_dream_small_map_quick_small_z_seed0.md").is_file()
    bench.main(["--report_only", f"--root_dir={base}", f"--results_dir={results}"])
    assert f"from `{base}`." in report.read_text()


def test_reports_name_their_run_folder_absolutely(bench, tmp_path, monkeypatch):
    """A relative --root_dir is written as an absolute path, so the check above holds
    whichever folder the next report is written from."""
    results = tmp_path / "results"
    write_run(tmp_path / "a" / "runs" / "r", apply_overrides(
        run_config("dream", "small_map", "quick", 0), ["agent.z_dim=7"]))
    write_run(tmp_path / "b" / "runs" / "r", apply_overrides(
        run_config("dream", "small_map", "quick", 0), ["agent.z_dim=9"]))
    monkeypatch.chdir(tmp_path / "a")
    bench.main(["--report_only", "--root_dir=runs/r", f"--results_dir={results}"])
    report = results / "learning_dream_small_map_quick_seed0.md"
    assert bench.written_from(str(report)) == str(tmp_path / "a" / "runs" / "r")
    monkeypatch.chdir(tmp_path / "b")  # the same relative path, another run
    message = exit_message(bench, ["--report_only", "--root_dir=runs/r", f"--results_dir={results}"])
    assert message.startswith("error: ") and str(tmp_path / "a" / "runs" / "r") in message
    monkeypatch.chdir(tmp_path)  # the run that wrote it, named from elsewhere
    bench.main(["--report_only", "--root_dir=a/runs/r", f"--results_dir={results}"])


def test_report_only_names_the_variant_and_checks_its_overrides(bench, tmp_path):
    config = run_config("dream", "small_map", "quick", 0, ["run.overlap_collection=true"])
    run = write_run(tmp_path / "run", config)
    results = tmp_path / "results"
    bench.main(["--report_only", f"--root_dir={run}", f"--results_dir={results}",
                "--override=run.overlap_collection=true", "--variant=overlap"])
    assert os.listdir(results) == ["learning_dream_small_map_quick_overlap_seed0.md"]
    message = exit_message(bench, ["--report_only", f"--root_dir={run}", f"--results_dir={results}",
                                   "--override=run.overlap_collection=false", "--variant=overlap"])
    assert message.startswith("error: ") and "run.overlap_collection=True" in message


@pytest.mark.parametrize("flag, named", [
    ("--algorithm=dream", ["--algorithm=dream", "algorithm='planning'"]),
    ("--env_preset=map", ["--env_preset=map", "env.preset='small_map'"]),
    ("--seed=0", ["--seed=0", "run.seed=1"]),
    ("--config_preset=paper", ["--config_preset=paper", "'tiny' preset"]),
])
def test_report_only_refuses_a_flag_that_contradicts_the_run(bench, tmp_path, flag, named):
    run = write_run(tmp_path / "run", run_config("planning", "small_map", "tiny", 1))
    results = tmp_path / "results"
    message = exit_message(bench, ["--report_only", f"--root_dir={run}", f"--results_dir={results}", flag])
    assert message.startswith("error: ") and "\n" not in message
    for text in named:
        assert text in message
    assert not results.exists()


def test_the_closest_preset_wins_over_changed_defaults(bench):
    # A run whose code had other defaults still matches its preset, and names the changes.
    config = apply_overrides(run_config("dream", "small_map", "quick", 0), ["agent.z_dim=7"])
    preset, diffs = bench.match_config_preset(config)
    assert preset == "quick" and diffs == ["agent.z_dim: 64 -> 7"]


def test_report_only_refuses_folders_without_a_run(bench, tmp_path):
    results = tmp_path / "results"
    message = exit_message(bench, ["--report_only", f"--root_dir={tmp_path / 'none'}",
                                   f"--results_dir={results}"])
    assert message.startswith("error: --root_dir=") and "no such folder" in message
    run = write_run(tmp_path / "run", run_config("dream", "small_map", "tiny", 0))
    os.remove(run / "eval.csv")
    message = exit_message(bench, ["--report_only", f"--root_dir={run}", f"--results_dir={results}"])
    assert message.startswith("error: --root_dir=") and "no eval.csv" in message
    assert not results.exists()


@pytest.mark.parametrize("argv, named", [
    (["--algorithm=bogus"], ["'bogus'", "gradient_embedder"]),
    (["--env_preset=bogus"], ["'bogus'", "distracting_bus_map"]),
    (["--config_preset=bogus"], ["'bogus'", "tiny"]),
    (["--override=agent.nope=1"], ["--variant"]),
])
def test_bad_flags_fail_on_one_line(bench, capsys, argv, named):
    with pytest.raises(SystemExit) as raised:
        bench.main(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    for text in named:
        assert text in err


def test_a_bad_override_fails_before_training(bench, tmp_path):
    message = exit_message(bench, ["--override=agent.nope=1", "--variant=x",
                                   f"--root_dir={tmp_path / 'run'}", f"--results_dir={tmp_path}"])
    assert message.startswith("error: unknown config key 'agent.nope'")
    assert not (tmp_path / "run").exists()


def test_explicit_flags_are_only_those_given(bench):
    assert bench.explicit_flags(["--report_only", "--seed=2"]) == {"report_only": True, "seed": 2}
