"""Auxiliary losses of DREAM's baselines: IMPORT's history-to-id pull and VariBAD's
reconstruction of a whole trial from every belief."""

from __future__ import annotations

import tensorflow as tf


def import_auxiliary_loss(history, f, mask=None):
    """(1/B) sum_b sum_k mask[b, k] ||history[b, k] - sg(f[b])||^2.

    Args:
      history: [B, K, D] the history embeddings g_k.
      f: [B, D] the problem-id embedding f(mu); no gradient reaches it.
      mask: [B, K] 1.0 on the steps that count; None counts every step.
    """
    per_step = tf.reduce_sum(tf.square(history - tf.stop_gradient(f)[:, None]), axis=-1)
    if mask is not None:
        per_step = per_step * tf.cast(mask, per_step.dtype)
    return tf.reduce_sum(per_step) / tf.cast(tf.shape(history)[0], per_step.dtype)


def pairwise_reconstruction_loss(predictions, targets, mask):
    """VariBAD's decoder loss over every (belief t, transition j) pair of each trial.

    sum_b sum_{t, j} mask[b, t] mask[b, j] ||predictions[b, t, j] - targets[b, j]||^2 / B,
    the squared error summed over any trailing feature axis.

    Args:
      predictions: [B, K, K] or [B, K, K, F]: the prediction for transition j from belief t.
      targets: [B, K] or [B, K, F].
      mask: [B, K] 1.0 on real steps.
    Returns:
      (loss, mean squared error per valid pair).
    """
    error = tf.square(predictions - targets[:, None])
    if error.shape.rank == 4:
        error = tf.reduce_sum(error, axis=-1)
    mask = tf.cast(mask, error.dtype)
    pairs = mask[:, :, None] * mask[:, None, :]
    total = tf.reduce_sum(error * pairs)
    loss = total / tf.cast(tf.shape(error)[0], error.dtype)
    return loss, total / tf.maximum(tf.reduce_sum(pairs), 1.0)
