"""DREAM's decoder loss and relabelled exploration reward."""

from __future__ import annotations

import tensorflow as tf

from tf_metarl.losses.masking import masked_mean


def squared_distances(predictions, target):
    """||g_t - f||^2 for every prefix. predictions [B, T+1, Z], target [B, Z] -> [B, T+1]."""
    return tf.reduce_sum(tf.square(predictions - target[:, None, :]), axis=-1)


def decoder_loss(predictions, problem_embedding, prefix_mask):
    """Mean over valid prefixes of ||g(tau_{:t}) - stop_gradient(f(mu))||^2.

    Stopping the gradient into f matters: otherwise f collapses towards what the
    decoder can already predict and DREAM stalls at the no-exploration return.

    Args:
      predictions: [B, T+1, Z] decoder outputs for prefixes 0..T.
      problem_embedding: [B, Z] f(mu).
      prefix_mask: [B, T+1] 1.0 for prefixes 0..length (the empty one included).
    """
    return masked_mean(squared_distances(predictions, tf.stop_gradient(problem_embedding)),
                       prefix_mask)


def exploration_rewards(predictions, problem_embedding, step_mask, step_penalty: float):
    """r_t = d_t - d_{t+1} - c with d_t = ||g(tau_{:t}) - f(mu)||^2; 0 on padding.

    The reward is how much transition t moved the decoder's guess towards f(mu), minus
    a per-step cost c. Computed with the current f and g at sampling time (relabelling).

    Args:
      predictions: [B, T+1, Z]; problem_embedding: [B, Z]; step_mask: [B, T].
    Returns:
      [B, T] rewards (no gradient).
    """
    d = squared_distances(tf.stop_gradient(predictions), tf.stop_gradient(problem_embedding))
    r = d[:, :-1] - d[:, 1:] - step_penalty
    return r * tf.cast(step_mask, r.dtype)
