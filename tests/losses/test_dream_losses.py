"""DREAM's bottleneck, decoder loss and exploration reward against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.losses import (bottleneck_kl, bottleneck_penalty, decoder_loss,
                              exploration_rewards, sample_bottleneck)


def test_bottleneck_penalty_floors_small_norms():
    f = tf.constant([[3.0, 4.0], [1.0, 0.0]])  # squared norms 25 and 1
    # max(25, 10) = 25, max(1, 10) = 10 -> mean 17.5
    assert float(bottleneck_penalty(f, 10.0)) == pytest.approx(17.5)


def test_bottleneck_penalty_has_no_gradient_below_the_floor():
    f = tf.Variable([[1.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        penalty = bottleneck_penalty(f, 10.0)
    grad = tape.gradient(penalty, f).numpy()
    # Only the second row (norm^2 25 > 10) is pushed down: d/df (||f||^2 / 2) = f.
    np.testing.assert_allclose(grad, [[0.0, 0.0], [3.0, 4.0]])


def test_bottleneck_kl_matches_closed_form():
    f = tf.constant([[0.3, -0.4]])  # ||f||^2 = 0.25
    # KL(N(f, rho^2) || N(0, rho^2)) = ||f||^2 / (2 rho^2) = 0.25 / 0.02 = 12.5
    assert float(bottleneck_kl(f, 0.1)) == pytest.approx(12.5, rel=1e-5)


def test_bottleneck_sample_is_reparameterised_and_seeded():
    f = tf.Variable(tf.zeros([1000, 2]))
    seed = tf.constant([1, 2], tf.int32)
    with tf.GradientTape() as tape:
        z = sample_bottleneck(f, 0.1, seed)
        total = tf.reduce_sum(z)
    assert float(tf.math.reduce_std(z)) == pytest.approx(0.1, rel=0.1)
    np.testing.assert_allclose(tape.gradient(total, f).numpy(), np.ones([1000, 2]))
    np.testing.assert_array_equal(z.numpy(), sample_bottleneck(f, 0.1, seed).numpy())


def test_decoder_loss_masks_prefixes_and_stops_gradient_into_f():
    predictions = tf.Variable([[[0.0, 0.0], [1.0, 1.0], [9.0, 9.0]]])  # prefixes 0, 1, 2
    f = tf.Variable([[1.0, 0.0]])
    prefix_mask = tf.constant([[1.0, 1.0, 0.0]])  # episode of length 1: prefixes 0 and 1
    with tf.GradientTape(persistent=True) as tape:
        loss = decoder_loss(predictions, f, prefix_mask)
    # ||(0,0)-(1,0)||^2 = 1, ||(1,1)-(1,0)||^2 = 1 -> mean 1; prefix 2 is masked.
    assert float(loss) == pytest.approx(1.0)
    assert tape.gradient(loss, f) is None
    grad = tape.gradient(loss, predictions).numpy()
    # d/dg of mean over 2 prefixes of ||g - f||^2 = (g - f) for each valid prefix.
    np.testing.assert_allclose(grad, [[[-1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])


def test_exploration_reward_is_decoder_gain_minus_penalty():
    f = tf.constant([[2.0, 0.0]])
    # d_t = ||g_t - f||^2: prefix 0 -> 4, prefix 1 -> 1, prefix 2 -> 0, prefix 3 -> 0.
    predictions = tf.constant([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 0.0]]])
    step_mask = tf.constant([[1.0, 1.0, 0.0]])  # two real transitions
    rewards = exploration_rewards(predictions, f, step_mask, step_penalty=0.1)
    # r_0 = 4 - 1 - 0.1 = 2.9, r_1 = 1 - 0 - 0.1 = 0.9, r_2 padding -> 0.
    np.testing.assert_allclose(rewards.numpy(), [[2.9, 0.9, 0.0]], rtol=1e-6)
