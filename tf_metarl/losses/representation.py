"""CRAR's losses on a shared abstract state representation e(s) (hybrids 2 and 3).

Francois-Lavet et al. 2019, "Combined Reinforcement Learning via Abstract
Representations", section 4: the encoder e is shaped jointly by the Q-learning loss and by

* the transition loss ||T(e(s_t), a_t) - e(s_{t+1})||^2, with gradient through BOTH sides
  (the model moves towards the encoder and the encoder towards the model);
* the disambiguation loss exp(-C ||e(s1) - e(s2)||_2), which pushes apart states the other
  losses would happily collapse onto one point (a constant e makes the transition loss 0);
* the volume loss max(||e(s)||_inf^2 - 1, 0), which keeps e inside the unit L_inf ball
  so the disambiguation loss cannot be won by blowing the whole space up.

The reward and discount heads of hybrid 3 use ``masked_squared_error``.

Every function takes a mask (1.0 on the entries that count) and returns a scalar masked
mean, 0 when nothing counts.
"""

from __future__ import annotations

import tensorflow as tf

from tf_metarl.losses.masking import masked_mean

# The disambiguation distance is sqrt(max(||d||^2, eps)): without the floor, the gradient
# of the norm at d = 0 (two identical embeddings) is 0 * inf = NaN. CRAR uses 1e-6 too.
DISTANCE_EPSILON = 1e-6


def transition_loss(predicted_next, next_embedding, mask):
    """Mean over real transitions of ||T(e(s_t), a_t) - e(s_{t+1})||^2 (sum over features).

    Neither side is stopped: as in CRAR, the encoder is trained through both the model's
    input and its target.

    Args:
      predicted_next: [..., D] T(e(s_t), a_t, z).
      next_embedding: [..., D] e(s_{t+1}).
      mask: [...] 1.0 on real transitions.
    """
    return masked_mean(tf.reduce_sum(tf.square(predicted_next - next_embedding), axis=-1), mask)


def embedding_distance(e1, e2):
    """sqrt(max(||e1 - e2||^2, eps)), [..., D] x2 -> [...]; finite gradient everywhere."""
    squared = tf.reduce_sum(tf.square(e1 - e2), axis=-1)
    return tf.sqrt(tf.maximum(squared, DISTANCE_EPSILON))


def disambiguation_loss(e1, e2, mask, scale: float = 5.0):
    """Mean over pairs of exp(-C ||e1 - e2||_2), C = ``scale`` (CRAR's C = 5).

    Args:
      e1, e2: [..., D] the embeddings of the two states of each pair.
      mask: [...] 1.0 on the pairs that count (e.g. both states real and different).
    """
    return masked_mean(tf.exp(-scale * embedding_distance(e1, e2)), mask)


def volume_loss(embedding, mask):
    """Mean over states of max(||e(s)||_inf^2 - 1, 0): zero inside the unit L_inf ball.

    Args:
      embedding: [..., D]; mask: [...] 1.0 on real states.
    """
    largest = tf.reduce_max(tf.abs(embedding), axis=-1)
    return masked_mean(tf.maximum(tf.square(largest) - 1.0, 0.0), mask)


def masked_squared_error(prediction, target, mask):
    """Mean over the masked entries of (prediction - target)^2; target carries no gradient.

    Args:
      prediction, target, mask: [...] (same shape).
    """
    return masked_mean(tf.square(prediction - tf.stop_gradient(target)), mask)
