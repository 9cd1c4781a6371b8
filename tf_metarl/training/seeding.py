"""The one place runs are seeded and TensorFlow's threads are configured."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Sets TensorFlow's thread pools (must run before TensorFlow executes any op).

    Small recurrent updates are dominated by per-op overhead, so one thread per op and
    two independent ops at a time is fastest on a 2-core machine.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        pass  # TensorFlow already initialised (e.g. several runs in one process)


def seed_everything(seed: int) -> np.random.Generator:
    """Seeds Keras initialisers (Python, NumPy and TensorFlow global seeds) and returns
    the run's own NumPy generator for trials, epsilon-greedy and replay sampling."""
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)
