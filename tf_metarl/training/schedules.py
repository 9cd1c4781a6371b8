"""Exploration schedules."""

from __future__ import annotations


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Linear decay from ``start`` to ``end`` over ``decay_steps`` steps, then ``end``."""
    fraction = min(max(step, 0) / max(decay_steps, 1), 1.0)
    return start + fraction * (end - start)
