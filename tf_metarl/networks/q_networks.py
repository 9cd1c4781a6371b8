"""Recurrent dueling Q-networks of the exploration and execution agents."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tf_metarl.networks.embedders import MLP, DuelingHead, FieldEmbedder, mlp
from tf_metarl.networks.recurrent import StepLSTM


def q_torso(hidden_dims: Sequence[int], relu_output: bool) -> MLP:
    """Dense layers between a Q-network's recurrent features and its dueling head.

    ReLU between layers; the last is linear (as DREAM's "Dense 256 relu -> Dense 64")
    unless ``relu_output``. No layers: the features go straight to the head."""
    hidden_dims = tuple(hidden_dims)
    if relu_output or not hidden_dims:
        return mlp(hidden_dims)
    return mlp(hidden_dims[:-1], hidden_dims[-1])


class ExecuteQNetwork(keras.Model):
    """Q(s_t, a | history, goal, z): LSTM over [e(s_t), e(goal)], then [h_t, z] -> torso -> dueling.

    Sequence mode (learning): obs [B, T, F], goal [B, 2], z [B, Z] -> Q [B, T, A].
    Step mode (acting): obs [B, F], goal [B, 2], z [B, Z], state -> (Q [B, A], state).
    """

    def __init__(self, observation_bounds: Sequence[int], goal_bounds: Sequence[int],
                 num_actions: int, field_dim: int = 32, embed_hidden: int = 256,
                 embed_dim: int = 64, lstm_units: int = 64, hidden_dims: Sequence[int] = (256, 64),
                 relu_output: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_actions = num_actions
        self.state_embedder = FieldEmbedder(observation_bounds, field_dim, embed_hidden, embed_dim)
        self.goal_embedder = FieldEmbedder(goal_bounds, field_dim, embed_hidden, embed_dim)
        self.lstm = StepLSTM(lstm_units)
        self.torso = q_torso(hidden_dims, relu_output)
        self.head = DuelingHead(num_actions)

    def initial_state(self, batch_size):
        return self.lstm.initial_state(batch_size)

    def _inputs(self, obs, goal):
        goal_embedding = self.goal_embedder(goal)
        state_embedding = self.state_embedder(obs)
        if len(obs.shape) == 3:  # sequence: broadcast the goal over time
            goal_embedding = tf.repeat(goal_embedding[:, None], tf.shape(obs)[1], axis=1)
        return tf.concat([state_embedding, goal_embedding], axis=-1)

    def _q(self, h, z):
        if len(h.shape) == 3:
            z = tf.repeat(z[:, None], tf.shape(h)[1], axis=1)
        return self.head(self.torso(tf.concat([h, z], axis=-1)))

    def call(self, obs, goal, z):
        """Whole sequences: obs [B, T, F] -> Q [B, T, A]."""
        h, _ = self.lstm(self._inputs(obs, goal))
        return self._q(h, z)

    def step(self, obs, goal, z, state):
        h, state = self.lstm.step(self._inputs(obs, goal), state)
        return self._q(h, z), state


class ExploreQNetwork(keras.Model):
    """Q(s_t, a | history): LSTM over [e(s_t), embed(a_{t-1})] -> torso -> dueling
    (no torso layers by default: the LSTM feeds the head, as in DREAM).

    Sees no goal, reward or problem id. ``prev_action == num_actions`` is the
    "no action yet" token of the first step.
    """

    def __init__(self, observation_bounds: Sequence[int], num_actions: int, field_dim: int = 32,
                 embed_hidden: int = 256, embed_dim: int = 64, action_dim: int = 32,
                 lstm_units: int = 64, hidden_dims: Sequence[int] = (), relu_output: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_actions = num_actions
        self.state_embedder = FieldEmbedder(observation_bounds, field_dim, embed_hidden, embed_dim)
        self.action_embedder = keras.layers.Embedding(num_actions + 1, action_dim)
        self.lstm = StepLSTM(lstm_units)
        self.torso = q_torso(hidden_dims, relu_output)
        self.head = DuelingHead(num_actions)

    def initial_state(self, batch_size):
        return self.lstm.initial_state(batch_size)

    def _inputs(self, obs, prev_action):
        return tf.concat([self.state_embedder(obs),
                          self.action_embedder(tf.cast(prev_action, tf.int32))], axis=-1)

    def call(self, obs, prev_action):
        """Whole sequences: obs [B, T, F], prev_action [B, T] -> Q [B, T, A]."""
        h, _ = self.lstm(self._inputs(obs, prev_action))
        return self.head(self.torso(h))

    def step(self, obs, prev_action, state):
        h, state = self.lstm.step(self._inputs(obs, prev_action), state)
        return self.head(self.torso(h)), state
