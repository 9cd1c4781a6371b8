"""The dynamics model's loss: per-field cross-entropy of the next observation.

Each field of the next observation (x, y, status, map_info) is a categorical over its
declared bounds, so the loss of a transition is sum_i -log p(s'_i | s, a), the negative
log-likelihood of the whole next observation under independent per-field heads. It is
exact for a deterministic world (zero only when the model is sure and right), is
bounded below, and needs no scaling between fields of different ranges.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tf_metarl.losses.masking import masked_mean


def transition_nll(logits, next_obs, bounds: Sequence[int]):
    """-log p(next_obs) summed over fields.

    logits [..., sum(bounds)], next_obs [..., F] int -> [...].
    """
    per_field = tf.split(logits, [int(b) for b in bounds], axis=-1)
    labels = tf.unstack(tf.cast(next_obs, tf.int32), axis=-1)
    return tf.add_n([tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)
                     for y, z in zip(labels, per_field)])


def dynamics_loss(logits, next_obs, mask, bounds: Sequence[int]):
    """Mean of ``transition_nll`` over the transitions where ``mask`` is 1 (0 if none).

    Args:
      logits: [..., T, sum(bounds)] predictions for transitions s_t -> s_{t+1}.
      next_obs: [..., T, F] the observed s_{t+1}.
      mask: [..., T] 1.0 on real transitions, 0.0 on padding.
    """
    return masked_mean(transition_nll(logits, next_obs, bounds), mask)


def transition_accuracy(logits, next_obs, mask, bounds: Sequence[int]):
    """Fraction of real transitions whose every field the model's argmax gets right."""
    per_field = tf.split(logits, [int(b) for b in bounds], axis=-1)
    labels = tf.unstack(tf.cast(next_obs, tf.int32), axis=-1)
    right = tf.reduce_all(tf.stack([tf.argmax(z, axis=-1, output_type=tf.int32) == y
                                    for y, z in zip(labels, per_field)], -1), axis=-1)
    return masked_mean(tf.cast(right, logits.dtype), mask)
