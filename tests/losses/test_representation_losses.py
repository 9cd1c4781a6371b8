"""CRAR's representation losses (hybrids 2 and 3) against hand-computed values."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.losses import representation


def test_transition_loss_is_a_masked_mean_of_squared_distances():
    predicted = tf.constant([[1.0, 2.0], [0.0, 0.0], [5.0, 5.0]])
    target = tf.constant([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    mask = tf.constant([1.0, 1.0, 0.0])
    # ||(0, 2)||^2 = 4, ||(-3, -4)||^2 = 25, third row masked -> (4 + 25) / 2 = 14.5
    assert float(representation.transition_loss(predicted, target, mask)) == pytest.approx(14.5)


def test_transition_loss_trains_both_the_model_and_the_target_side():
    predicted = tf.Variable([[1.0, 2.0], [0.0, 0.0]])
    target = tf.Variable([[1.0, 0.0], [3.0, 4.0]])
    with tf.GradientTape(persistent=True) as tape:
        loss = representation.transition_loss(predicted, target, tf.ones([2]))
    # d/dp mean_i ||p_i - t_i||^2 = 2 (p - t) / 2 = p - t; the target gets the opposite.
    np.testing.assert_allclose(tape.gradient(loss, predicted).numpy(), [[0.0, 2.0], [-3.0, -4.0]])
    np.testing.assert_allclose(tape.gradient(loss, target).numpy(), [[0.0, -2.0], [3.0, 4.0]])


def test_disambiguation_loss_hand_values():
    e1 = tf.constant([[0.0, 0.0], [0.0, 0.0]])
    e2 = tf.constant([[3.0, 4.0], [0.0, 0.2]])
    # distances 5 and 0.2; C = 5: exp(-25) = 1.389e-11 and exp(-1) = 0.367879
    both = representation.disambiguation_loss(e1, e2, tf.constant([1.0, 1.0]), scale=5.0)
    assert float(both) == pytest.approx((math.exp(-25.0) + math.exp(-1.0)) / 2, rel=1e-5)
    second = representation.disambiguation_loss(e1, e2, tf.constant([0.0, 1.0]), scale=5.0)
    assert float(second) == pytest.approx(math.exp(-1.0), rel=1e-5)
    # C = 1: exp(-5) and exp(-0.2) -> mean (0.0067379 + 0.8187308) / 2 = 0.4127343
    assert float(representation.disambiguation_loss(e1, e2, tf.ones([2]), scale=1.0)) == pytest.approx(
        0.4127343, rel=1e-5)


def test_disambiguation_gradient_pushes_states_apart():
    e1 = tf.Variable([[0.0, 0.0]])
    e2 = tf.constant([[0.0, 0.2]])
    with tf.GradientTape() as tape:
        loss = representation.disambiguation_loss(e1, e2, tf.ones([1]), scale=5.0)
    # d/de1 exp(-C d) = -C exp(-C d) (e1 - e2) / d = -5 e^-1 (0, -0.2) / 0.2 = (0, 5/e):
    # a descent step moves e1 to -y, away from e2.
    np.testing.assert_allclose(tape.gradient(loss, e1).numpy(), [[0.0, 5.0 / math.e]], rtol=1e-5)


def test_disambiguation_of_identical_embeddings_is_finite():
    e = tf.Variable([[1.0, -1.0]])
    with tf.GradientTape() as tape:
        loss = representation.disambiguation_loss(e, tf.identity(e), tf.ones([1]), scale=5.0)
    # distance floored at sqrt(1e-6) = 1e-3: exp(-0.005) = 0.995012; no NaN gradient
    assert float(loss) == pytest.approx(math.exp(-0.005), rel=1e-6)
    np.testing.assert_array_equal(tape.gradient(loss, e).numpy(), [[0.0, 0.0]])


def test_volume_loss_penalises_only_outside_the_unit_linf_ball():
    e = tf.Variable([[0.5, -2.0], [0.8, 0.3], [0.0, 1.5]])
    mask = tf.constant([1.0, 1.0, 0.0])
    with tf.GradientTape() as tape:
        loss = representation.volume_loss(e, mask)
    # ||e||_inf = 2, 0.8, (1.5 masked): max(4 - 1, 0) = 3, max(0.64 - 1, 0) = 0 -> mean 1.5
    assert float(loss) == pytest.approx(1.5)
    # only the largest coordinate of the first row is pushed in: d/dx (x^2 - 1) / 2 = x = -2
    np.testing.assert_allclose(tape.gradient(loss, e).numpy(), [[0.0, -2.0], [0.0, 0.0], [0.0, 0.0]])


def test_masked_squared_error_stops_the_target_gradient():
    prediction = tf.Variable([1.0, 2.0, 3.0])
    target = tf.Variable([0.0, 2.0, 5.0])
    with tf.GradientTape(persistent=True) as tape:
        loss = representation.masked_squared_error(prediction, target, tf.constant([1.0, 1.0, 0.0]))
    # ((1 - 0)^2 + 0^2) / 2 = 0.5; d/dp = 2 (p - t) / 2 = (1, 0, 0)
    assert float(loss) == pytest.approx(0.5)
    np.testing.assert_allclose(tape.gradient(loss, prediction).numpy(), [1.0, 0.0, 0.0])
    assert tape.gradient(loss, target) is None


def test_an_empty_mask_gives_zero():
    e = tf.ones([2, 3, 4])
    empty = tf.zeros([2, 3])
    assert float(representation.transition_loss(e, 2 * e, empty)) == 0.0
    assert float(representation.disambiguation_loss(e, e, empty)) == 0.0
    assert float(representation.volume_loss(5 * e, empty)) == 0.0
