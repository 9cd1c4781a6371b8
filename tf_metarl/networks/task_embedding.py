"""DREAM's task-embedding networks: the problem-ID encoder f(mu) and the decoder g(tau)."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tf_metarl.networks.embedders import FieldEmbedder, mlp
from tf_metarl.networks.recurrent import StepLSTM


class ProblemEncoder(keras.Model):
    """f(mu): Embedding(num_problems, id_dim) -> Dense(z_dim), linear. ids [B] -> [B, Z]."""

    def __init__(self, num_problems: int, id_dim: int = 32, z_dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(num_problems, id_dim)
        self.out = keras.layers.Dense(z_dim)

    def call(self, problem_ids):
        return self.out(self.embedding(tf.cast(problem_ids, tf.int32)))


class TrajectoryDecoder(keras.Model):
    """g(tau_{:t}): predicts the task embedding after every prefix of an exploration episode.

    Each transition (s_t, a_t, s_{t+1}) -> [e(s_t), e(s_{t+1}), embed(a_t)] -> MLP; an LSTM
    runs over the transitions; a zero hidden state stands for the empty prefix. Every
    hidden state -> MLP -> z.

    obs [B, T+1, F], actions [B, T] -> predictions [B, T+1, Z] (index t: first t transitions).
    """

    def __init__(self, observation_bounds: Sequence[int], num_actions: int, field_dim: int = 32,
                 embed_hidden: int = 256, embed_dim: int = 64, action_dim: int = 32,
                 transition_dims: Sequence[int] = (128, 64), lstm_units: int = 128,
                 output_hidden: Sequence[int] = (128,), z_dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.state_embedder = FieldEmbedder(observation_bounds, field_dim, embed_hidden, embed_dim)
        self.action_embedder = keras.layers.Embedding(num_actions, action_dim)
        self.transition = mlp(transition_dims[:-1], transition_dims[-1])
        self.lstm = StepLSTM(lstm_units)
        self.output_mlp = mlp(output_hidden, z_dim)

    def call(self, obs, actions):
        states = self.state_embedder(obs)  # [B, T+1, D]
        transitions = tf.concat(
            [states[:, :-1], states[:, 1:], self.action_embedder(tf.cast(actions, tf.int32))], -1)
        h, _ = self.lstm(self.transition(transitions))  # [B, T, U]
        h = tf.concat([tf.zeros_like(h[:, :1]), h], axis=1)  # empty prefix first: [B, T+1, U]
        return self.output_mlp(h)
