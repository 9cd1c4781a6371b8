"""One training process per run folder.

Two processes training into one folder would interleave checkpoints and log rows, and
the run could no longer be trusted or resumed (e.g. a sweep started again while the first
one still runs). A training process therefore holds ``<run_dir>/training.lock``, a small
JSON file naming its host and process id, for as long as it trains:

* created with ``O_EXCL``, so of two processes starting together one wins;
* refreshed (its modification time) by the training loop every ``HEARTBEAT_SECONDS``;
* removed when training ends, the runner is closed or the process exits.

A lock left behind by a process that died (killed, machine lost) is stale and is taken
over: on the same host when its process no longer exists, from another host (a cluster
sharing the file system) when it has not been refreshed for ``STALE_AFTER_SECONDS``.
A process may take over its own lock (a runner of the same folder that was not closed).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time
import uuid

LOCK_NAME = "training.lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 600.0


class RunFolderBusyError(RuntimeError):
    """Another live process is training in the run folder."""


def lock_path(run_dir: str) -> str:
    return os.path.join(run_dir, LOCK_NAME)


def read_holder(run_dir: str) -> dict | None:
    """The lock's contents (host, pid, token, started), or None without a readable lock."""
    try:
        with open(lock_path(run_dir)) as f:
            holder = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def holder_is_alive(run_dir: str, holder: dict) -> bool:
    """Whether the process named by ``holder`` may still be training (see module doc)."""
    if holder.get("host") == socket.gethostname():
        pid = holder.get("pid")
        return isinstance(pid, int) and _process_exists(pid)
    try:
        age = time.time() - os.path.getmtime(lock_path(run_dir))
    except FileNotFoundError:
        return False
    return age < STALE_AFTER_SECONDS


def live_holder(run_dir: str) -> dict | None:
    """The holder of the folder's lock if it is alive and is not this process."""
    holder = read_holder(run_dir)
    if holder is None or _is_this_process(holder):
        return None
    return holder if holder_is_alive(run_dir, holder) else None


def _is_this_process(holder: dict) -> bool:
    return holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid()


def describe(holder: dict) -> str:
    return f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('started')})"


class RunLock:
    """The lock of one run folder, held by this process from ``acquire`` to ``release``."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.path = lock_path(run_dir)
        self.token = uuid.uuid4().hex
        self._last_refresh = 0.0
        self._held = False

    def acquire(self) -> None:
        """Takes the lock, or raises RunFolderBusyError naming the live holder."""
        payload = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                              "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        for _ in range(3):  # a stale lock is removed, then created again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = live_holder(self.run_dir)
                if holder is not None:
                    raise RunFolderBusyError(
                        f"run folder {self.run_dir!r} is being trained by {describe(holder)}; "
                        f"wait for it to end or stop it (if that process is gone, delete "
                        f"{self.path})") from None
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(payload)
            self._held, self._last_refresh = True, time.monotonic()
            atexit.register(self.release)
            return
        raise RunFolderBusyError(f"could not take {self.path}: other processes keep taking it")

    def refresh(self) -> None:
        """Marks the lock as alive; cheap to call often (touches at most every heartbeat)."""
        now = time.monotonic()
        if self._held and now - self._last_refresh >= HEARTBEAT_SECONDS:
            try:
                os.utime(self.path)
            except FileNotFoundError:  # removed by hand; training goes on unlocked
                pass
            self._last_refresh = now

    def release(self) -> None:
        """Removes the lock if it is still this lock (not one a later process took over)."""
        if not self._held:
            return
        self._held = False
        atexit.unregister(self.release)
        holder = read_holder(self.run_dir)
        if holder is not None and holder.get("token") == self.token:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
