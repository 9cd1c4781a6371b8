"""The masked mean: padding counts for nothing, and an all-padding batch gives 0."""

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.losses import masked_mean


def test_masked_mean_by_hand():
    values = tf.constant([[1.0, 2.0, 30.0], [4.0, 50.0, 60.0]])
    mask = tf.constant([[1, 1, 0], [1, 0, 0]])  # integer masks are cast
    assert float(masked_mean(values, mask)) == pytest.approx((1 + 2 + 4) / 3)
    # A [B, T, 1] mask on [B, T, 2] values: each real step counts the sum of its features.
    per_feature = tf.constant(np.ones((2, 3, 2), np.float32))
    assert float(masked_mean(per_feature, tf.cast(mask, tf.float32)[..., None])) == pytest.approx(2.0)


def test_all_padding_gives_zero_not_nan():
    assert float(masked_mean(tf.constant([3.0, 4.0]), tf.zeros(2))) == 0.0
