"""The real launch/train.py entry point on a tiny budget: files, resume after kill -9,
reproducibility, and clear errors for bad flags."""

import json
import pathlib
import subprocess
import sys

import pytest

TRAIN = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"
TINY = ["--config_preset=tiny", "--env_preset=small_map", "--seed=3",
        "--override=run.total_env_steps=400"]


def train_command(root_dir, *extra):
    return [sys.executable, str(TRAIN), *TINY, f"--root_dir={root_dir}", *extra]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    result = subprocess.run(train_command(root), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def test_run_writes_its_files(full_run, read_rows):
    root, result = full_run
    assert "return on all problems (small_map has no held-out split)" in result.stdout
    config = json.loads((root / "config.json").read_text())
    assert config["algorithm"] == "dream" and config["env"]["preset"] == "small_map"
    assert config["run"]["seed"] == 3
    assert (root / "checkpoints" / "checkpoint").exists()
    assert list((root / "tensorboard").glob("events.out.tfevents.*"))
    train_rows = read_rows(root / "train.csv")
    eval_rows = read_rows(root / "eval.csv")
    assert int(train_rows[-1]["env_steps"]) >= 400
    assert "execute/td_loss" in train_rows[-1] and train_rows[-1]["execute/td_loss"] != ""
    assert float(eval_rows[-1]["optimal_return"]) == pytest.approx(0.7)
    summary = json.loads((root / "summary.json").read_text())
    assert summary["env_steps"] == int(train_rows[-1]["env_steps"])
    # The code that trained it: this checkout's commit (tests may run on modified files).
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=TRAIN.parent, capture_output=True,
                            text=True).stdout.strip()
    if commit:
        [version] = summary["source_versions"]
        assert version.removesuffix("+modified") == f"git:{commit}"


def test_killed_run_resumes_exactly(full_run, tmp_path, kill_after_first_checkpoint, read_rows,
                                    read_scalar_events):
    """kill -9 after the first checkpoint, rerun: the finished run's logs equal those of
    the uninterrupted run (same seed), so counters, RNG, replay and weights resumed exactly,
    and TensorBoard holds each scalar once."""
    full_root, _ = full_run
    root = tmp_path / "killed"
    kill_after_first_checkpoint(train_command(root), root)
    killed_rows = read_rows(root / "train.csv")
    assert int(killed_rows[-1]["env_steps"]) < 400

    result = subprocess.run(train_command(root), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout
    assert read_rows(root / "train.csv") == read_rows(full_root / "train.csv")
    assert read_rows(root / "eval.csv") == read_rows(full_root / "eval.csv")
    assert read_scalar_events(root) == read_scalar_events(full_root)


@pytest.mark.parametrize("flags, message", [
    (["--algorithm=dreamer"], "should be one of"),
    (["--env_preset=huge"], "should be one of"),
    (["--seed=-1"], "--seed=-1: -1 is not a non-negative integer"),
    (["--override=agent.learning_rat=1"], "unknown config key 'agent.learning_rat'"),
    (["--override=run.num_envs=two"], "run.num_envs='two': expected an integer"),
    (["--override=agent.discount=2"], "agent.discount=2.0: expected 0 <= discount <= 1"),
])
def test_bad_flags_fail_with_clear_errors(flags, message, tmp_path):
    result = subprocess.run([sys.executable, str(TRAIN), "--config_preset=tiny",
                             f"--root_dir={tmp_path}", *flags],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    import re
    assert re.search(message, result.stderr), result.stderr[-2000:]


def test_rerunning_a_finished_run_logs_nothing_twice(full_run, read_rows, read_scalar_events, tmp_path):
    root, _ = full_run
    before = {name: read_rows(root / name) for name in ("train.csv", "eval.csv")}
    scalars = read_scalar_events(root)
    result = subprocess.run(train_command(root), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout and "return on all problems" in result.stdout
    assert {name: read_rows(root / name) for name in before} == before
    assert read_scalar_events(root) == scalars


def test_a_bad_layout_file_leaves_no_run_folder(tmp_path):
    root = tmp_path / "run"
    result = subprocess.run(train_command(root, f"--override=env.layout_file={tmp_path / 'missing.json'}"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "missing.json" in result.stderr
    assert not (root / "config.json").exists()


def test_a_folder_with_another_run_is_refused(full_run):
    root, _ = full_run
    result = subprocess.run([sys.executable, str(TRAIN), *TINY, "--seed=4", f"--root_dir={root}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "different config (run.seed: 3 -> 4)" in result.stderr
