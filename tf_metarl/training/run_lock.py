"""One training process per run folder.

Two processes training into one folder would interleave checkpoints and log rows, and
the run could no longer be trusted or resumed (e.g. a sweep started again while the first
one still runs). A runner therefore holds an exclusive ``flock`` on
``<run_dir>/training.lock`` for as long as it trains. The operating system gives the lock
to one process only, even when two start at the same instant, and frees it when the
holder closes it or dies in any way (``kill -9`` included); a paused holder keeps it. So
there is no stale lock to detect and no process id to trust. The file also names the
holder (host, pid, start time) for the refusal message, and is left in place when the
lock is freed (deleting it would let two processes lock two different files).

Across machines sharing a folder this relies on the file system's lock support (NFS with
its lock service, most cluster file systems). POSIX only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

LOCK_NAME = "training.lock"


class RunFolderBusyError(RuntimeError):
    """Another runner is training in the run folder."""


def lock_path(run_dir: str) -> str:
    return os.path.join(run_dir, LOCK_NAME)


def _read_holder(run_dir: str) -> dict:
    try:
        with open(lock_path(run_dir)) as f:
            holder = json.load(f)
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('started')})"


def live_holder(run_dir: str) -> dict | None:
    """Who trains in ``run_dir`` now ({} if the holder is not named yet), or None if no
    runner holds its lock."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(run_dir)
    finally:
        os.close(fd)  # also frees the probe's shared lock
    return None


class RunLock:
    """The lock of one run folder, held from ``acquire`` to ``release`` (or process exit)."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.path = lock_path(run_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Takes the lock, or raises RunFolderBusyError naming the runner that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusyError(
                f"run folder {self.run_dir!r} is being trained by {_describe(_read_holder(self.run_dir))}; "
                "wait for it to end or stop it") from None
        holder = {"host": socket.gethostname(), "pid": os.getpid(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Frees the lock (closing the file frees it); the file stays."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self):
        self.release()
