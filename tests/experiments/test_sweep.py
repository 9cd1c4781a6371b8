"""A tiny sweep (2 algorithms x 2 seeds) on a local Ray instance: runs, skips finished
runs and resumes an interrupted one from its checkpoint."""

import csv
import os
import pathlib
import subprocess
import sys

import pytest

from tf_metarl.experiments import sweep

SWEEP = pathlib.Path(__file__).resolve().parents[2] / "launch" / "sweep.py"
ALGORITHMS = ["dream", "shared_representation"]
COMMON = ["run.total_env_steps=240"]


def sweep_command(root, *extra):
    return [sys.executable, str(SWEEP), f"--algorithms={','.join(ALGORITHMS)}", "--seeds=0,1",
            "--env_presets=small_map", "--config_preset=tiny", f"--root_dir={root}",
            *[f"--override={o}" for o in COMMON], *extra]


def test_the_sweep_record_keeps_every_distinct_sweep_on_a_folder(tmp_path):
    import json
    first = sweep.expand(["dream"], ["map"], [0, 1], {})
    more_seeds = sweep.expand(["dream"], ["map"], [2], {})
    # A record of the earlier form (one definition) becomes the first entry.
    old = {"config_preset": "paper", "common_overrides": [],
           "runs": [{"algorithm": "dream", "env_preset": "map", "seed": 0, "variant_overrides": []}]}
    (tmp_path / "sweep.json").write_text(json.dumps(old))
    sweep.write_spec(first, str(tmp_path), "tiny", ["run.total_env_steps=240"])
    sweep.write_spec(first, str(tmp_path), "tiny", ["run.total_env_steps=240"])  # the same again
    sweep.write_spec(more_seeds, str(tmp_path), "tiny", ["run.total_env_steps=240"])
    sweeps = json.loads((tmp_path / "sweep.json").read_text())["sweeps"]
    assert sweeps[0] == old and len(sweeps) == 3
    assert [[r["seed"] for r in s["runs"]] for s in sweeps[1:]] == [[0, 1], [2]]
    assert sweeps[1]["config_preset"] == "tiny"
    assert sweeps[1]["common_overrides"] == ["run.total_env_steps=240"]
    assert [(s.algorithm, s.env_preset, s.seed) for s in sweep.recorded_specs(str(tmp_path))] == [
        ("dream", "map", 0), ("dream", "map", 1), ("dream", "map", 2)]  # each run once
    for bad in ("{not json", "[1, 2]", "3", '{"sweeps": 3}', '{"sweeps": [{"x": 1}]}',
                '{"sweeps": [{"runs": [{"seed": 0}]}]}'):
        (tmp_path / "sweep.json").write_text(bad)
        with pytest.raises(sweep.SweepError, match="sweep.json' (cannot be read as|is not) a sweep record"):
            sweep.write_spec(first, str(tmp_path), "tiny", [])
        assert (tmp_path / "sweep.json").read_text() == bad
    assert sorted(os.listdir(tmp_path)) == ["sweep.json"]


def test_grid_expansion_and_variant_names():
    specs = sweep.expand(["dream"], ["map"], [0, 1], sweep.parse_grid(["agent.learning_rate=1e-4,3e-4"]))
    assert len(specs) == 4
    assert {s.variant for s in specs} == {"agent.learning_rate=1e-4", "agent.learning_rate=3e-4"}
    assert specs[0].run_dir("r").endswith(os.path.join("dream", "map", "agent.learning_rate=1e-4", "seed0"))
    assert sweep.parse_grid(["agent.q_hidden=64,64;128,128"]) == {"agent.q_hidden": ["64,64", "128,128"]}
    assert sweep.parse_grid(["agent.q_hidden=64,32;"]) == {"agent.q_hidden": ["64,32"]}
    empty_or_not = sweep.parse_grid(["agent.explore_q_hidden=();256,64"])
    assert [s.variant for s in sweep.expand(["dream"], ["map"], [0], empty_or_not)] == [
        "agent.explore_q_hidden=__", "agent.explore_q_hidden=256,64"]
    with pytest.raises(sweep.SweepError, match="expected key.path=value1,value2"):
        sweep.parse_grid(["agent.learning_rate"])
    with pytest.raises(sweep.SweepError, match="'agent.learning_rate' is given twice"):
        sweep.parse_grid(["agent.learning_rate=1e-3", "agent.learning_rate=1e-4"])


def test_runs_that_would_share_a_folder_or_fail_in_a_worker_are_refused():
    with pytest.raises(sweep.SweepError, match="run dream/map/base/seed0 appears twice"):
        sweep.expand(["dream"], ["map"], [0, 0])
    with pytest.raises(sweep.SweepError, match="appears twice"):
        sweep.expand(["dream"], ["map"], [0], sweep.parse_grid(["agent.learning_rate=1e-4,1e-4"]))
    with pytest.raises(sweep.SweepError, match="appears twice"):  # both become folder _64,32_
        sweep.expand(["dream"], ["map"], [0], sweep.parse_grid(["agent.q_hidden=(64,32);[64,32]"]))
    with pytest.raises(sweep.SweepError, match="seed -1: expected integers >= 0"):
        sweep.expand(["dream"], ["map"], [0, -1])


def test_a_run_folder_holding_another_config_is_refused_before_anything_runs(tmp_path):
    from tf_metarl.config import to_json
    spec = sweep.RunSpec("dream", "small_map", 0)
    run_dir = pathlib.Path(spec.run_dir(str(tmp_path)))
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(to_json(spec.config("tiny", ["agent.learning_rate=0.01"])))
    # The same flags (a longer budget is a resume) pass; another learning rate does not.
    sweep.check_run_configs([spec], str(tmp_path), "tiny", ["agent.learning_rate=0.01", "run.total_env_steps=900"])
    with pytest.raises(sweep.SweepError, match=r"different config \(agent.learning_rate: 0.01 -> 0.001\)"):
        sweep.check_run_configs([spec], str(tmp_path), "tiny", [])


def test_sweep_on_ray_skips_finished_and_resumes_interrupted(tmp_path, kill_after_first_checkpoint):
    root = tmp_path / "sweep"
    interrupted = sweep.RunSpec("dream", "small_map", 1)
    kill_after_first_checkpoint(interrupted.command(str(root), "tiny", COMMON),
                                interrupted.run_dir(str(root)))
    assert sweep.run_status(interrupted.run_dir(str(root))) == sweep.INTERRUPTED

    kept = tmp_path / "repo" / "docs" / "runs"
    result = subprocess.run(sweep_command(root, f"--keep_logs={kept}"), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "4 runs in" in result.stdout and "4 to run" in result.stdout
    # Every finished run's logs, and nothing else, are kept as <env>/<algorithm>/seed<k>.
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == sorted(
        f"small_map/{a}/seed{s}/{name}" for a in ALGORITHMS for s in (0, 1)
        for name in sweep.KEPT_LOG_FILES)
    run_dir = pathlib.Path(interrupted.run_dir(str(root)))
    assert (kept / "small_map" / "dream" / "seed1" / "eval.csv").read_text() == (
        run_dir / "eval.csv").read_text()
    ended = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in ended] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert all(": finished (exit code 0)" in line for line in ended), ended
    assert sum("dream small_map base seed 1:" in line for line in ended) == 1
    with open(root / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {r["algorithm"] for r in rows} == set(ALGORITHMS)
    assert all(r["status"] == "finished" and int(r["env_steps"]) >= 240 for r in rows), rows
    log = pathlib.Path(interrupted.run_dir(str(root))) / "sweep.log"
    assert "resuming from" in log.read_text()

    summaries = sorted(root.glob("*/*/*/seed*/summary.json"))
    assert len(summaries) == 4
    stamps = [p.stat().st_mtime_ns for p in summaries]
    again = subprocess.run(sweep_command(root, "--mode=sequential"), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p.stat().st_mtime_ns for p in summaries] == stamps  # nothing ran twice
    assert "0 to run" in again.stdout
    assert again.stdout.count("finished") == 4


def test_the_summary_lists_the_runs_of_earlier_sweeps_on_the_folder(tmp_path):
    from tf_metarl.config import to_json
    earlier, finished = sweep.RunSpec("dream", "small_map", 1), sweep.RunSpec("dream", "small_map", 0)
    sweep.write_spec([earlier], str(tmp_path), "tiny", COMMON)
    run_dir = pathlib.Path(finished.run_dir(str(tmp_path)))  # a finished run: nothing to train
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(to_json(finished.config("tiny", COMMON)))
    (run_dir / "eval.csv").write_text("trials,env_steps,wall_time,eval_return\n16,250,9.5,0.25\n")
    (run_dir / "summary.json").write_text("{}")
    result = subprocess.run([sys.executable, str(SWEEP), "--algorithms=dream", "--seeds=0",
                             "--env_presets=small_map", "--config_preset=tiny", "--mode=sequential",
                             f"--root_dir={tmp_path}", *[f"--override={o}" for o in COMMON]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 to run" in result.stdout and "pending" not in result.stdout  # prints this sweep's
    with open(tmp_path / "summary.csv", newline="") as f:
        rows = {int(r["seed"]): r for r in csv.DictReader(f)}
    assert sorted(rows) == [0, 1]
    assert (rows[0]["status"], rows[0]["env_steps"], rows[0]["eval_return"]) == ("finished", "250", "0.25")
    assert rows[1]["status"] == "pending"


def test_bad_sweep_flags(tmp_path):
    result = subprocess.run([sys.executable, str(SWEEP), "--algorithms=dreamer", f"--root_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "unknown algorithm(s) ['dreamer']" in result.stderr
    result = subprocess.run([sys.executable, str(SWEEP), "--seeds=a", f"--root_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--seeds=a: expected integers" in result.stderr
    result = subprocess.run([sys.executable, str(SWEEP), "--override=agent.lr=1", f"--root_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "unknown config key 'agent.lr'" in result.stderr
    # A sweep record that is not one stops the sweep before any run starts.
    (tmp_path / "sweep.json").write_text("{not json")
    result = subprocess.run(sweep_command(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: '{tmp_path / 'sweep.json'}'")
    assert sorted(os.listdir(tmp_path)) == ["sweep.json"]


def test_dry_run_lists_runs_and_writes_nothing(tmp_path):
    root = tmp_path / "sweep"
    result = subprocess.run(sweep_command(root, "--dry_run"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 runs in" in result.stdout and "4 to run" in result.stdout
    assert result.stdout.count("pending") == 4
    assert not root.exists()
