"""Temporal-difference losses on whole-episode sequences."""

from __future__ import annotations

import tensorflow as tf

from tf_metarl.losses.masking import masked_mean


def double_dqn_targets(q_online_tp1, q_target_tp1, r_t, terminal_t, discount: float):
    """One-step double-DQN targets.

    target_t = r_t + discount * (1 - terminal_t) * q_target_tp1[argmax_a q_online_tp1[a]]

    Args:
      q_online_tp1: [B, T, A] online Q-values at s_{t+1} (they pick the action).
      q_target_tp1: [B, T, A] target-network Q-values at s_{t+1} (they value it).
      r_t: [B, T] rewards.
      terminal_t: [B, T] 1.0 where the episode ended at step t (no bootstrap).
    Returns:
      [B, T] targets, with gradients stopped.
    """
    a_star = tf.argmax(q_online_tp1, axis=-1, output_type=tf.int32)
    v_tp1 = tf.gather(q_target_tp1, a_star, axis=-1, batch_dims=2)
    target = r_t + discount * (1.0 - tf.cast(terminal_t, r_t.dtype)) * v_tp1
    return tf.stop_gradient(target)


def sequence_td_loss(q_t, a_t, target_t, mask_t, huber_delta: float | None = 1.0):
    """Mean TD loss over the valid steps of a batch of sequences.

    Args:
      q_t: [B, T, A] Q-values at s_t.
      a_t: [B, T] actions taken.
      target_t: [B, T] TD targets (treated as constants).
      mask_t: [B, T] 1.0 on real steps, 0.0 on padding.
      huber_delta: Huber loss threshold (0.5 td^2 within it, linear beyond); None for the
        squared error td^2 of the reference code.
    Returns:
      (loss scalar, metrics dict).
    """
    q_taken = tf.gather(q_t, tf.cast(a_t, tf.int32), axis=-1, batch_dims=2)  # [B, T]
    td = tf.stop_gradient(target_t) - q_taken
    if huber_delta is None:
        per_step = tf.square(td)
    else:
        abs_td = tf.abs(td)
        quadratic = tf.minimum(abs_td, huber_delta)
        per_step = 0.5 * tf.square(quadratic) + huber_delta * (abs_td - quadratic)
    loss = masked_mean(per_step, mask_t)
    metrics = {
        "td_loss": loss,
        "q_mean": masked_mean(q_taken, mask_t),
        "td_abs_mean": masked_mean(tf.abs(td), mask_t),
    }
    return loss, metrics
