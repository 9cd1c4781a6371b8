"""Shared test settings and fixtures."""

import csv
import os
import pathlib
import signal
import subprocess
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _kill_after_first_checkpoint(command, run_dir, timeout=240):
    """Starts ``command`` (a training run writing to ``run_dir``) and kill -9s it as soon
    as its first checkpoint exists."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = pathlib.Path(run_dir) / "checkpoints" / "checkpoint"
    deadline = time.time() + timeout
    while not index.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture
def kill_after_first_checkpoint():
    return _kill_after_first_checkpoint


# Columns of a run's CSV logs that depend on the clock, not on the computation.
CLOCK_COLUMNS = frozenset({"wall_time", "env_steps_per_sec"})


def _read_log_rows(path):
    """A run's CSV log as a list of dicts, without the clock columns."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in CLOCK_COLUMNS} for row in csv.DictReader(f)]


@pytest.fixture
def read_rows():
    return _read_log_rows


def _read_scalar_events(run_dir):
    """Every TensorBoard scalar of a run as sorted (tag, step) pairs, clock scalars left out
    (a pair logged twice appears twice)."""
    import tensorflow as tf

    pairs = []
    for path in sorted(pathlib.Path(run_dir, "tensorboard").glob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.rsplit("/", 1)[-1] not in CLOCK_COLUMNS:
                    pairs.append((value.tag, event.step))
    return sorted(pairs)


@pytest.fixture
def read_scalar_events():
    return _read_scalar_events
