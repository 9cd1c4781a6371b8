"""Runs the real launch/demo.py entry point on a tiny budget."""

import pathlib
import subprocess
import sys

import pytest

DEMO = pathlib.Path(__file__).resolve().parents[2] / "launch" / "demo.py"


def run_demo(*flags):
    return subprocess.run([sys.executable, str(DEMO), *flags], capture_output=True, text=True,
                          timeout=60)


def test_demo_prints_the_table_and_renders():
    result = run_demo("--env_preset=small_map", "--num_trials=3", "--seed=1", "--render")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = {line[:32].strip(): float(line[32:]) for line in lines[2:6]}
    # The oracle plays optimally: its mean equals the small map's optimal 0.7.
    assert table["oracle"] == pytest.approx(0.7)
    assert table["optimal (mean_optimal_return)"] == pytest.approx(0.7)
    assert table["no information (walking)"] == pytest.approx(0.1)
    # A random policy's mean lies within the returns an episode can have (giving up costs
    # step_cost * horizon = 3.0) and, over 3 seeded trials, below the oracle's.
    assert -3.0 <= table["random"] < 0.7
    assert "oracle, trial 0" in result.stdout and "@" in result.stdout


@pytest.mark.parametrize("flag, message", [("--env_preset=big_map", "should be one of"),
                                           ("--num_trials=0", "--num_trials=0"),
                                           ("--seed=-1", "--seed=-1")])
def test_demo_bad_flags_give_a_message_not_a_traceback(flag, message):
    result = run_demo(flag)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
