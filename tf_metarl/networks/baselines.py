"""Networks of DREAM's meta-RL baselines (E-RL², IMPORT, VariBAD).

One recurrent network acts through a whole trial: an experience encoder (observation,
goal, previous action, previous reward, episode-boundary flag -> LSTM) whose state is
carried from the exploration episode into the execution episode, then a Q head.

Inputs work on any leading shape: [B, F] per step or [B, K, F] per sequence.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tf_metarl.networks.embedders import DuelingHead, FieldEmbedder
from tf_metarl.networks.recurrent import StepLSTM


class ExperienceEncoder(keras.layers.Layer):
    """x_k = Dense(ReLU([e_s(o); e_g(g); E_a[a_prev]; W_r r_prev + b_r; E_d[d]])), then an LSTM.

    ``goal_bounds`` include the NONE goal row (one more than the layout's per field);
    ``prev_action == num_actions`` is the NONE action. Returns h (and the LSTM state).
    """

    def __init__(self, observation_bounds: Sequence[int], goal_bounds: Sequence[int],
                 num_actions: int, field_dim: int, embed_hidden: int, embed_dim: int,
                 action_dim: int, reward_dim: int, done_dim: int, lstm_units: int, **kwargs):
        super().__init__(**kwargs)
        self.state_embedder = FieldEmbedder(observation_bounds, field_dim, embed_hidden, embed_dim)
        self.goal_embedder = FieldEmbedder(goal_bounds, field_dim, embed_hidden, embed_dim)
        self.action_embedder = keras.layers.Embedding(num_actions + 1, action_dim)
        self.reward_embedder = keras.layers.Dense(reward_dim)
        self.done_embedder = keras.layers.Embedding(2, done_dim)
        self.project = keras.layers.Dense(lstm_units)
        self.lstm = StepLSTM(lstm_units)

    def inputs(self, obs, goal, prev_action, prev_reward, done):
        """The LSTM input x for one step or a sequence of steps."""
        parts = [self.state_embedder(obs), self.goal_embedder(goal),
                 self.action_embedder(tf.cast(prev_action, tf.int32)),
                 self.reward_embedder(tf.cast(prev_reward, tf.float32)[..., None]),
                 self.done_embedder(tf.cast(done, tf.int32))]
        return self.project(tf.nn.relu(tf.concat(parts, axis=-1)))

    def call(self, obs, goal, prev_action, prev_reward, done, length=None):
        """Sequences [B, K, ...] from the zero state -> (h [B, K, U], final state); with
        ``length`` the final state is the one after input ``length - 1``."""
        return self.lstm(self.inputs(obs, goal, prev_action, prev_reward, done), length=length)

    def step(self, obs, goal, prev_action, prev_reward, done, state):
        """One step [B, ...] -> (h [B, U], new state (h, c))."""
        return self.lstm.step(self.inputs(obs, goal, prev_action, prev_reward, done), state)


class StateGoalEmbedder(keras.layers.Layer):
    """e'(o, g) = Dense(ReLU([e_s(o); e_g(g)])): the head's own view of the current state."""

    def __init__(self, observation_bounds: Sequence[int], goal_bounds: Sequence[int],
                 field_dim: int, embed_hidden: int, embed_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.state_embedder = FieldEmbedder(observation_bounds, field_dim, embed_hidden, embed_dim)
        self.goal_embedder = FieldEmbedder(goal_bounds, field_dim, embed_hidden, embed_dim)
        self.out = keras.layers.Dense(embed_dim)

    def call(self, obs, goal):
        return self.out(tf.nn.relu(tf.concat([self.state_embedder(obs), self.goal_embedder(goal)], -1)))


class TrialQNetwork(keras.Model):
    """The baselines' Q-network: the experience encoder and a dueling head.

    ``conditioned=False`` (E-RL²): Q = dueling(h). ``conditioned=True`` (IMPORT, VariBAD):
    Q = dueling(Dense(ReLU([z; e'(o, g)]))), where z is h or what replaces it (IMPORT's
    f(mu), VariBAD's sampled belief), given to ``q_values``.
    """

    def __init__(self, observation_bounds: Sequence[int], goal_bounds: Sequence[int],
                 num_actions: int, field_dim: int, embed_hidden: int, embed_dim: int,
                 action_dim: int, reward_dim: int, done_dim: int, lstm_units: int,
                 conditioned: bool, head_hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.conditioned = conditioned
        self.encoder = ExperienceEncoder(observation_bounds, goal_bounds, num_actions, field_dim,
                                         embed_hidden, embed_dim, action_dim, reward_dim,
                                         done_dim, lstm_units)
        if conditioned:
            self.state_goal = StateGoalEmbedder(observation_bounds, goal_bounds, field_dim,
                                                embed_hidden, embed_dim)
            self.mix = keras.layers.Dense(head_hidden)
        self.head = DuelingHead(num_actions)

    def q_values(self, z, obs, goal):
        """Q [..., A] from z [..., U] (h for E-RL²) and the current obs and goal."""
        if not self.conditioned:
            return self.head(z)
        return self.head(self.mix(tf.nn.relu(tf.concat([z, self.state_goal(obs, goal)], -1))))

    def call(self, obs, goal, prev_action, prev_reward, done):
        """Whole trials from the zero state -> (Q [B, K, A], h [B, K, U])."""
        h, _ = self.encoder(obs, goal, prev_action, prev_reward, done)
        return self.q_values(h, obs, goal), h


class BeliefDecoder(keras.layers.Layer):
    """VariBAD's decoder: D = Dense(ReLU(Dense([z; e'(o, g); E[a]]))), then reward and
    next-state heads on ReLU(D). ``e'`` is passed in (it is the policy's)."""

    def __init__(self, num_actions: int, num_fields: int, action_dim: int,
                 hidden: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.action_embedder = keras.layers.Embedding(num_actions, action_dim)
        self.layers_ = [keras.layers.Dense(d) for d in hidden]
        self.reward = keras.layers.Dense(1)
        self.state = keras.layers.Dense(num_fields)

    def call(self, z, state_goal, actions):
        """z [..., U], e'(o, g) [..., E], actions [...] -> (reward [...], next obs [..., F])."""
        x = tf.concat([z, state_goal, self.action_embedder(tf.cast(actions, tf.int32))], -1)
        for i, layer in enumerate(self.layers_):
            x = layer(x if i == 0 else tf.nn.relu(x))
        x = tf.nn.relu(x)
        return self.reward(x)[..., 0], self.state(x)
