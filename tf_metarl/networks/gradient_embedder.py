"""The gradient embedder h_phi: a task embedding from MAML inner-loop gradients."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_metarl.networks.embedders import mlp


def gradient_features(gradients: Sequence[Sequence[tf.Tensor]], eps: float = 1e-4) -> tf.Tensor:
    """One task's inner-loop gradients as a flat feature vector.

    For every inner step and weight tensor ("layer" here: each Dense kernel and bias
    separately), the flattened gradient g is divided by its norm and followed by its
    log-norm: [g / n, log n] with n = sqrt(||g||^2 + eps^2). The direction and the size
    are separated because raw gradient entries span orders of magnitude between tensors
    and over training, which an MLP digests badly; the smoothed norm keeps everything
    differentiable at g = 0 (so second-order gradients stay finite) and maps an
    all-zero gradient to (0, log eps).

    Args:
      gradients: [step][tensor] gradients of one task (no batch axis).
    Returns:
      [sum over steps and tensors of (size + 1)] features.
    """
    parts = []
    for step in gradients:
        for g in step:
            flat = tf.reshape(g, [-1])
            norm = tf.sqrt(tf.reduce_sum(tf.square(flat)) + eps ** 2)
            parts += [flat / norm, tf.math.log(norm)[None]]
    return tf.concat(parts, axis=0)


def gradient_feature_size(weight_shapes: Sequence[Sequence[int]], num_steps: int) -> int:
    """Length of ``gradient_features`` for weights of these shapes and k inner steps."""
    return num_steps * sum(int(np.prod(shape)) + 1 for shape in weight_shapes)


class GradientEmbedder(keras.Model):
    """h_phi: ReLU MLP from gradient features [B, D] to a task embedding [B, Z] (linear)."""

    def __init__(self, hidden_dims: Sequence[int], output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.net = mlp(hidden_dims, output_dim)

    def call(self, features):
        return self.net(features)
