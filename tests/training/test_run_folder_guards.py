"""What a run folder guards against: a second training process (the lock is taken,
refused to a live holder, taken over from a dead one, and released) and a folder that
holds something other than a run."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tf_metarl.experiments import sweep
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import Runner, RunFolderError
from tf_metarl.training import run_lock
from tf_metarl.training.run_lock import RunFolderBusyError, RunLock

HOLD = textwrap.dedent("""
    import sys, time
    from tf_metarl.training.run_lock import RunLock
    RunLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(120)
""")


@pytest.fixture
def other_process_holding(tmp_path):
    """A separate Python process holding the lock of ``tmp_path``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


def write_lock(run_dir, **holder):
    with open(run_lock.lock_path(run_dir), "w") as f:
        json.dump({"token": "theirs", "started": "earlier", **holder}, f)


def finished_pid():
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)
    return int(process.stdout)


def test_a_live_holder_refuses_a_second_process_and_the_sweep_sees_it_running(tmp_path, other_process_holding):
    with pytest.raises(RunFolderBusyError, match=f"process {other_process_holding.pid} on "):
        RunLock(str(tmp_path)).acquire()
    assert sweep.run_status(str(tmp_path)) == sweep.RUNNING


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path, other_process_holding):
    other_process_holding.kill()
    other_process_holding.wait()
    assert sweep.run_status(str(tmp_path)) == sweep.PENDING
    lock = RunLock(str(tmp_path))
    lock.acquire()
    assert run_lock.read_holder(str(tmp_path))["token"] == lock.token
    lock.release()
    assert not os.path.exists(run_lock.lock_path(str(tmp_path)))


def test_lock_from_another_host_is_live_until_it_goes_unrefreshed(tmp_path):
    write_lock(tmp_path, host=socket.gethostname() + "-elsewhere", pid=finished_pid())
    with pytest.raises(RunFolderBusyError, match="-elsewhere"):
        RunLock(str(tmp_path)).acquire()
    stale = time.time() - run_lock.STALE_AFTER_SECONDS - 1
    os.utime(run_lock.lock_path(str(tmp_path)), (stale, stale))
    RunLock(str(tmp_path)).acquire()
    assert run_lock.read_holder(str(tmp_path))["pid"] == os.getpid()


def test_release_leaves_a_lock_another_process_took_over(tmp_path):
    lock = RunLock(str(tmp_path))
    lock.acquire()
    write_lock(tmp_path, host=socket.gethostname(), pid=finished_pid())  # taken over meanwhile
    lock.release()
    assert run_lock.read_holder(str(tmp_path))["token"] == "theirs"


def test_refresh_touches_the_lock_once_a_heartbeat_has_passed(tmp_path, monkeypatch):
    lock = RunLock(str(tmp_path))
    lock.acquire()
    old = time.time() - 1000
    os.utime(lock.path, (old, old))
    lock.refresh()  # within the heartbeat: untouched
    assert os.path.getmtime(lock.path) == pytest.approx(old)
    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.0)
    lock.refresh()
    assert os.path.getmtime(lock.path) > old + 900
    lock.release()


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
