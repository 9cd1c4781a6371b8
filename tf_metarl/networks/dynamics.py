"""A dynamics model of the bus-map world: the next observation from (observation, action)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_metarl.networks.embedders import mlp


class DynamicsModel(keras.Model):
    """D_theta(s_t, a_t) -> logits of one categorical per field of s_{t+1}.

    The input is one-hot (each observation field over its bounds, plus the action), so
    the model has only Dense weights: plain tensors that MAML can substitute through
    ``stateless_call``, and whose inner-loop gradients are dense (no embedding-table
    IndexedSlices). Field i of the output covers ``bounds[i]`` classes; the logits of all
    fields are concatenated (split them with ``tf_metarl.losses.dynamics``).

    obs [..., F] int, actions [...] int -> logits [..., sum(bounds)].
    """

    def __init__(self, observation_bounds: Sequence[int], num_actions: int,
                 hidden_dims: Sequence[int] = (64, 64), **kwargs):
        super().__init__(**kwargs)
        self.observation_bounds = tuple(int(b) for b in observation_bounds)
        self.num_actions = int(num_actions)
        self.input_size = int(sum(self.observation_bounds)) + self.num_actions
        # Offsets put every field (and the action, last) in its own slice of one one-hot.
        self._offsets = np.cumsum((0,) + self.observation_bounds).astype(np.int32)
        self.net = mlp(hidden_dims, int(sum(self.observation_bounds)))

    def encode(self, obs, actions):
        """Multi-hot input [..., sum(bounds) + num_actions]."""
        indices = tf.concat([tf.cast(obs, tf.int32), tf.cast(actions, tf.int32)[..., None]], -1)
        indices = indices + self._offsets  # [..., F+1]
        return tf.reduce_sum(tf.one_hot(indices, self.input_size), axis=-2)

    def call(self, obs, actions):
        return self.net(self.encode(obs, actions))
