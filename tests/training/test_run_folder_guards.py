"""What a run folder guards against: a second training process (refused while the first
holds the lock, even when both start at once; free again as soon as the first ends, however
it ends), a finished run extended to a larger budget counting as finished, and a folder
that holds something other than a run."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tf_metarl.config import apply_overrides
from tf_metarl.experiments import sweep
from tf_metarl.training import run_lock
from tf_metarl.training.config import make_config
from tf_metarl.training.run_lock import RunFolderBusyError, RunLock
from tf_metarl.training.runner import Runner, RunFolderError

HOLD = textwrap.dedent("""
    import sys, time
    from tf_metarl.training.run_lock import RunLock
    lock = RunLock(sys.argv[1])  # held while this object lives
    lock.acquire()
    print("held", flush=True)
    time.sleep(120)
""")

# Each of two processes tries, at the same agreed instants, to take the lock, and holds it
# a little when it gets it; it reports the (start, end) time of every hold.
RACE = textwrap.dedent("""
    import json, os, sys, time
    from tf_metarl.training.run_lock import RunFolderBusyError, RunLock
    run_dir, go_file, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.01)
    start = float(open(go_file).read())
    holds, losses = [], 0
    for i in range(rounds):
        time.sleep(max(0.0, start + 0.1 * i - time.time()))
        lock = RunLock(run_dir)
        try:
            lock.acquire()
        except RunFolderBusyError:
            losses += 1
            continue
        began = time.time()
        time.sleep(0.03)
        holds.append((began, time.time()))
        lock.release()
    print(json.dumps({"holds": holds, "losses": losses}), flush=True)
""")


@pytest.fixture
def other_process_holding(tmp_path):
    """A separate Python process holding the lock of ``tmp_path``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


def test_a_live_holder_refuses_a_second_process_and_the_sweep_sees_it_running(tmp_path, other_process_holding):
    with pytest.raises(RunFolderBusyError, match=f"is being trained by process {other_process_holding.pid} on "):
        RunLock(str(tmp_path)).acquire()
    assert sweep.run_status(str(tmp_path)) == sweep.RUNNING
    assert sweep.unfinished([], str(tmp_path)) == []


def test_the_lock_is_free_as_soon_as_its_holder_is_killed(tmp_path, other_process_holding):
    other_process_holding.kill()
    other_process_holding.wait()
    assert sweep.run_status(str(tmp_path)) == sweep.PENDING
    lock = RunLock(str(tmp_path))
    lock.acquire()
    assert json.loads(open(run_lock.lock_path(str(tmp_path))).read())["pid"] == os.getpid()
    lock.release()
    assert run_lock.live_holder(str(tmp_path)) is None


def test_one_runner_at_a_time_within_a_process_too(tmp_path):
    first = RunLock(str(tmp_path))
    first.acquire()
    with pytest.raises(RunFolderBusyError, match=f"process {os.getpid()}"):
        RunLock(str(tmp_path)).acquire()
    first.release()
    second = RunLock(str(tmp_path))
    second.acquire()
    second.release()


def test_two_processes_starting_together_never_both_hold_the_lock(tmp_path):
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(tmp_path), str(go), "20"],
                               stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for racer in racers:  # both have imported and wait for the start
        assert racer.stdout.readline().strip() == "ready"
    go.write_text(str(time.time() + 0.5))
    a, b = (json.loads(racer.communicate(timeout=60)[0]) for racer in racers)
    overlaps = [(x, y) for x in a["holds"] for y in b["holds"] if x[0] < y[1] and y[0] < x[1]]
    assert not overlaps  # never both at once
    assert a["losses"] + b["losses"] > 0  # they did contend


def test_a_finished_run_given_a_larger_budget_is_unfinished_until_it_reaches_it(tmp_path):
    config = apply_overrides(make_config("dream", "small_map", "tiny"), ["run.total_env_steps=100"])
    Runner(config, str(tmp_path)).run()
    assert sweep.run_status(str(tmp_path)) == sweep.FINISHED
    extended = Runner(apply_overrides(config, ["run.total_env_steps=400"]), str(tmp_path))
    extended.close()  # stopped before it trains further
    assert sweep.run_status(str(tmp_path)) == sweep.INTERRUPTED


def test_train_launch_refuses_a_folder_another_process_trains(tmp_path, other_process_holding):
    train = os.path.join(os.path.dirname(__file__), "..", "..", "launch", "train.py")
    result = subprocess.run([sys.executable, train, "--config_preset=tiny", "--env_preset=small_map",
                             f"--root_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"is being trained by process {other_process_holding.pid}" in result.stderr
    assert not os.path.exists(tmp_path / "config.json")  # refused before touching the folder


def test_a_folder_holding_other_files_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(RunFolderError, match=r"holds no run \(no config.json\) but other files \(notes.txt\)"):
        Runner(make_config("dream", "small_map", "tiny"), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
