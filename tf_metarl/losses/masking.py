"""The masked mean every sequence loss uses: padding steps count for nothing."""

import tensorflow as tf


def masked_mean(values, mask):
    """sum(values * mask) / max(sum(mask), 1): the mean over the mask's real entries of
    ``values``, summed over any axis the mask broadcasts along. An all-padding batch
    gives 0, not NaN."""
    mask = tf.cast(mask, values.dtype)
    return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
