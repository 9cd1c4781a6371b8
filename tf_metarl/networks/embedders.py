"""Embedders for the integer-valued bus-map observations and actions."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf


class FieldEmbedder(keras.layers.Layer):
    """Embeds each integer field separately, concatenates, then an MLP.

    ``bounds[i]`` is the exclusive upper bound of field i. All fields share one table,
    with per-field offsets, so the lookup is a single gather.

    Input [..., F] int; output [..., output_dim].
    """

    def __init__(self, bounds: Sequence[int], field_dim: int, hidden_dim: int, output_dim: int,
                 **kwargs):
        super().__init__(**kwargs)
        self.bounds = tuple(int(b) for b in bounds)
        self.field_dim = field_dim
        self._offsets = np.concatenate([[0], np.cumsum(self.bounds)[:-1]]).astype(np.int32)
        self.table = keras.layers.Embedding(int(sum(self.bounds)), field_dim)
        self.hidden = keras.layers.Dense(hidden_dim, activation="relu")
        self.out = keras.layers.Dense(output_dim)

    def call(self, fields):
        fields = tf.cast(fields, tf.int32) + self._offsets  # [..., F]
        embedded = self.table(fields)  # [..., F, field_dim]
        flat_shape = tf.concat([tf.shape(fields)[:-1], [len(self.bounds) * self.field_dim]], 0)
        return self.out(self.hidden(tf.reshape(embedded, flat_shape)))


class DuelingHead(keras.layers.Layer):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a), from a hidden vector."""

    def __init__(self, num_actions: int, **kwargs):
        super().__init__(**kwargs)
        self.value = keras.layers.Dense(1)
        self.advantage = keras.layers.Dense(num_actions)

    def call(self, hidden):
        advantage = self.advantage(hidden)
        return self.value(hidden) + advantage - tf.reduce_mean(advantage, axis=-1, keepdims=True)


class MLP(keras.layers.Layer):
    """ReLU hidden layers, then an optional output layer; works on inputs of any rank."""

    def __init__(self, hidden_dims: Sequence[int], output_dim: int | None = None,
                 output_activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dense_layers = [keras.layers.Dense(d, activation="relu") for d in hidden_dims]
        if output_dim is not None:
            self.dense_layers.append(keras.layers.Dense(output_dim, activation=output_activation))

    def call(self, x):
        for layer in self.dense_layers:
            x = layer(x)
        return x


def mlp(hidden_dims: Sequence[int], output_dim: int | None = None,
        output_activation: str | None = None) -> MLP:
    """ReLU MLP; the last layer has ``output_activation`` (linear by default)."""
    return MLP(hidden_dims, output_dim, output_activation)
