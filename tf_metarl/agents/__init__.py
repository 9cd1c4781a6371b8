"""Meta-RL agents: DREAM and the model-based/model-free hybrids.

Each algorithm's package imports its config eagerly and its TensorFlow parts (the agent)
on first use, so reading configs (flag checks, ``--help``) does not start TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_attributes(package: str, modules: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package + modules[name]`` when ``name`` is
    first read (``modules`` maps attribute names to relative module names)."""
    def module_getattr(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(modules[name], package), name)
    return module_getattr
