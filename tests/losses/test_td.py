"""Double-DQN targets and the sequence TD loss against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.losses import double_dqn_targets, sequence_td_loss


def test_double_dqn_target_uses_online_argmax_and_target_value():
    # One sequence, two steps, three actions.
    q_online_tp1 = tf.constant([[[1.0, 3.0, 2.0], [0.5, 0.0, 4.0]]])
    q_target_tp1 = tf.constant([[[10.0, 20.0, 30.0], [7.0, 8.0, 9.0]]])
    r_t = tf.constant([[1.0, -0.1]])
    terminal_t = tf.constant([[0.0, 1.0]])
    target = double_dqn_targets(q_online_tp1, q_target_tp1, r_t, terminal_t, discount=0.9)
    # Step 0: online argmax = action 1, target value 20 -> 1 + 0.9 * 20 = 19.
    # Step 1: terminal -> just the reward, -0.1 (argmax 2 and value 9 ignored).
    np.testing.assert_allclose(target.numpy(), [[19.0, -0.1]], rtol=1e-6)


def test_td_loss_huber_and_squared_with_mask():
    q_t = tf.constant([[[0.0, 1.0], [2.0, 0.0], [5.0, 5.0]]])
    a_t = tf.constant([[1, 0, 1]])
    target_t = tf.constant([[1.5, 0.0, 100.0]])
    mask_t = tf.constant([[1.0, 1.0, 0.0]])  # the third step is padding
    # td = target - q_taken: 1.5 - 1 = 0.5 and 0 - 2 = -2.
    # Huber(delta=1): 0.5 * 0.5^2 = 0.125 and 1 * (2 - 0.5) = 1.5 -> mean 0.8125.
    loss, metrics = sequence_td_loss(q_t, a_t, target_t, mask_t, huber_delta=1.0)
    assert float(loss) == pytest.approx(0.8125)
    assert float(metrics["q_mean"]) == pytest.approx((1.0 + 2.0) / 2)
    assert float(metrics["td_abs_mean"]) == pytest.approx((0.5 + 2.0) / 2)
    # Squared (the reference code's td^2, no factor 1/2): (0.25 + 4) / 2 = 2.125.
    loss, _ = sequence_td_loss(q_t, a_t, target_t, mask_t, huber_delta=None)
    assert float(loss) == pytest.approx(2.125)


def test_td_loss_gradient_flows_only_through_taken_q():
    q = tf.Variable([[[0.0, 1.0]]])
    with tf.GradientTape() as tape:
        loss, _ = sequence_td_loss(q, tf.constant([[1]]), tf.constant([[3.0]]), tf.constant([[1.0]]),
                                   huber_delta=None)
    grad = tape.gradient(loss, q).numpy()
    # d/dq1 of (3 - q1)^2 = -2 (3 - 1) = -4; the other action gets nothing.
    np.testing.assert_allclose(grad, [[[0.0, -4.0]]])
