"""Which source code trained a run: recorded in its summary so a result names its commit."""

from __future__ import annotations

import functools
import os
import subprocess

from importlib import metadata

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", _PACKAGE_DIR, *args], capture_output=True, text=True,
                             timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.cache
def source_version() -> str:
    """``git:<commit>`` of the checkout ``tf_metarl`` is imported from, with ``+modified``
    when its tracked files differ from that commit; ``tf_metarl <version>`` for an installed
    package outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    if commit:
        modified = _git("status", "--porcelain", "--untracked-files=no")
        return f"git:{commit}" + ("+modified" if modified else "")
    try:
        return f"tf_metarl {metadata.version('tf_metarl')}"
    except metadata.PackageNotFoundError:
        return "tf_metarl (unknown version)"
