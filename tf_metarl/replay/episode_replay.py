"""A ring buffer of whole episodes, each a fixed-length padded sequence.

Fields are declared once (name -> per-episode shape and dtype); ``add`` takes a batch of
episodes with a leading batch axis, ``sample`` returns a batch of whole episodes drawn
uniformly. Its full state (contents, write position, size) round-trips through
``get_state`` / ``set_state`` so checkpoints restore replay exactly.
"""

from __future__ import annotations

import io
from typing import Mapping

import numpy as np


class EpisodeReplay:
    """Uniform replay of padded episodes.

    Args:
      capacity: Maximum number of episodes kept; the oldest are overwritten.
      spec: field name -> (per-episode shape, numpy dtype).
    """

    def __init__(self, capacity: int, spec: Mapping[str, tuple[tuple[int, ...], np.dtype]]):
        if capacity < 1:
            raise ValueError(f"replay capacity={capacity!r}, expected a positive integer")
        self.capacity = int(capacity)
        self.spec = dict(spec)
        self._data = {name: np.zeros((self.capacity,) + tuple(shape), dtype=dtype)
                      for name, (shape, dtype) in self.spec.items()}
        self._next = 0
        self._size = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self._size

    def add(self, episodes: Mapping[str, np.ndarray]) -> None:
        """Adds a batch of episodes; every declared field must be present, shaped [N, ...]."""
        missing = set(self.spec) - set(episodes)
        if missing:
            raise KeyError(f"episodes lack field(s) {sorted(missing)}")
        n = len(next(iter(episodes.values())))
        index = (self._next + np.arange(n)) % self.capacity
        for name, array in self._data.items():
            array[index] = episodes[name]
        self._next = int((self._next + n) % self.capacity)
        self._size = int(min(self._size + n, self.capacity))
        self.total_added += n

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """A batch of ``batch_size`` whole episodes drawn uniformly with replacement."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = rng.integers(self._size, size=batch_size)
        return {name: array[index] for name, array in self._data.items()}

    # ---- checkpointing ----------------------------------------------------------------
    def get_state(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {f"data/{k}": v[: self._size] for k, v in self._data.items()}
        np.savez(buffer, **arrays, meta=np.array([self._next, self._size, self.total_added]))
        return buffer.getvalue()

    def set_state(self, state: bytes) -> None:
        with np.load(io.BytesIO(state)) as loaded:
            self._next, self._size, self.total_added = (int(v) for v in loaded["meta"])
            for name, array in self._data.items():
                array[:] = 0
                array[: self._size] = loaded[f"data/{name}"]
