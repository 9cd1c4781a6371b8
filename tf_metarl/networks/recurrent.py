"""Recurrent building block: an LSTM that runs either one step or a whole sequence."""

from __future__ import annotations

import keras
import tensorflow as tf


class StepLSTM(keras.layers.Layer):
    """An LSTM usable step by step (acting) and over whole sequences (learning).

    Written out rather than wrapping ``keras.layers.LSTM`` for speed on CPU, where small
    recurrent updates are bound by the number of ops, not by arithmetic: the input
    projection of all time steps is one matmul, and the unrolled recurrence needs only
    ``h @ U`` and the gate non-linearities per step. Gates are ordered (i, f, g, o);
    the forget-gate bias starts at 1.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(
            shape=(4 * u,), name="bias",
            initializer=keras.initializers.Constant([0.0] * u + [1.0] * u + [0.0] * (2 * u)))

    def initial_state(self, batch_size):
        zeros = tf.zeros([batch_size, self.units])
        return (zeros, zeros)

    def _recur(self, x_projected_t, state):
        h, c = state
        gates = x_projected_t + tf.matmul(h, self.recurrent_kernel)
        i, f, g, o = tf.split(gates, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, (h, c)

    def step(self, x_t, state):
        """x_t [B, D], state (h, c) -> (h_t [B, U], new state)."""
        if not self.built:
            self.build(x_t.shape)
        return self._recur(tf.matmul(x_t, self.kernel) + self.bias, state)

    def call(self, inputs, initial_state=None, length=None):
        """inputs [B, T, D] with static T -> (outputs [B, T, U], final state).

        ``length`` [B] (optional): the state stops changing after that many steps, so the
        final state is the one after step ``length - 1`` (the initial state at 0)."""
        if initial_state is None:
            initial_state = self.initial_state(tf.shape(inputs)[0])
        # One matmul over all steps; a plain MatMul is several times faster than Einsum here.
        flat = tf.matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]), self.kernel) + self.bias
        projected = tf.reshape(flat, tf.concat([tf.shape(inputs)[:2], [4 * self.units]], 0))
        # unstack, not projected[:, t]: the gradient of T slices is T full-size
        # StridedSliceGrad tensors, that of one unstack is a single stack.
        state = initial_state
        outputs = []
        for t, x_projected_t in enumerate(tf.unstack(projected, num=inputs.shape[1], axis=1)):
            h, new_state = self._recur(x_projected_t, state)
            if length is not None:
                keep = (t < tf.cast(length, tf.int32))[:, None]
                new_state = tuple(tf.where(keep, n, o) for n, o in zip(new_state, state))
            state = new_state
            outputs.append(h)
        return tf.stack(outputs, axis=1), state
