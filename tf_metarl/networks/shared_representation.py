"""Networks of hybrids 2 and 3: an execution Q-network whose state encoder e(s) is shared
with a dynamics model, the dynamics models themselves, and the reward/discount heads.

* ``SharedEncoderExecuteQNetwork``: DREAM's execution Q-network, opened up so that e(s)
  is computed once and consumed by both the recurrent Q-network and the model, and so a
  planner can run its pieces separately (encode, one LSTM step, Q-head).
* ``LatentTransition``: T(e, a, z) = e + MLP([e, onehot(a), z]), CRAR's residual model in
  the shared abstract space, conditioned on the task embedding z.
* ``RawTransition``: the raw-state alternative of hybrid 3: per-field logits of the next
  observation from (one-hot observation, action, z).
* ``ScalarHead``: r(x, a, c) or g(x, a, c), an MLP on [x, onehot(a), c] -> [...].
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_metarl.networks.embedders import mlp
from tf_metarl.networks.q_networks import ExecuteQNetwork


def broadcast_over_time(context, like):
    """context [B, C] -> [B, T, C] when ``like`` is [B, T, D]; unchanged when ``like`` is [B, D]."""
    if len(like.shape) == 3 and len(context.shape) == 2:
        return tf.repeat(context[:, None], tf.shape(like)[1], axis=1)
    return context


class SharedEncoderExecuteQNetwork(ExecuteQNetwork):
    """DREAM's execution Q-network (same layers, same outputs) with its parts exposed.

    Q(s_t, a | history, goal, z) = head(torso([h_t, z])), h_t = LSTM([e(s_t), e(goal)]).
    Its ``state_embedder`` IS the shared encoder e(s): hybrids encode the batch once
    (``encode``) and feed the result both to ``q_from_embeddings`` and to the dynamics
    model, so the encoder is trained by the TD loss and the model losses together. The
    target copy has its own encoder, used only for the bootstrap values.
    """

    def encode(self, obs):
        """e(s): obs [..., F] int -> [..., D]."""
        return self.state_embedder(obs)

    def embed_goal(self, goal):
        """goal [B, 2] int -> [B, Dg]."""
        return self.goal_embedder(goal)

    def q_from_embeddings(self, state_embedding, goal, z):
        """Whole sequences from e(s): state_embedding [B, T, D], goal [B, 2], z [B, Z] -> Q [B, T, A]."""
        goal_embedding = broadcast_over_time(self.embed_goal(goal), state_embedding)
        h, _ = self.lstm(tf.concat([state_embedding, goal_embedding], axis=-1))
        return self._q(h, z)

    def recur(self, state_embedding, goal_embedding, state):
        """One LSTM step from e(s_t) [N, D] and e(goal) [N, Dg] -> (h_t [N, U], new state)."""
        return self.lstm.step(tf.concat([state_embedding, goal_embedding], axis=-1), state)

    def q_head(self, h, z):
        """Q [N, A] from an LSTM output h [N, U] and z [N, Z]."""
        return self._q(h, z)

    def call(self, obs, goal, z):
        return self.q_from_embeddings(self.encode(obs), goal, z)

    def step(self, obs, goal, z, state):
        h, state = self.recur(self.encode(obs), self.embed_goal(goal), state)
        return self.q_head(h, z), state


def _model_input(x, actions, num_actions: int, context):
    """[x, onehot(a), context...] with the contexts broadcast over a time axis if any."""
    parts = [x, tf.one_hot(tf.cast(actions, tf.int32), num_actions, dtype=x.dtype)]
    parts += [tf.cast(broadcast_over_time(c, x), x.dtype) for c in context]
    return tf.concat(parts, axis=-1)


class LatentTransition(keras.Model):
    """T(e, a, z) = e + MLP([e, onehot(a), z]): CRAR's residual transition in the shared space.

    e [..., D], actions [...] int, z [B, Z] or [..., Z] -> next e [..., D]. The last layer
    is linear, so the model predicts the change of the abstract state.
    """

    def __init__(self, num_actions: int, state_dim: int, hidden_dims: Sequence[int] = (128, 128),
                 **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.net = mlp(hidden_dims, state_dim)

    def call(self, e, actions, z):
        return e + self.net(_model_input(e, actions, self.num_actions, [z]))


def one_hot_fields(obs, bounds: Sequence[int]):
    """Concatenated one-hot of each integer field: obs [..., F] -> [..., sum(bounds)]."""
    fields = tf.unstack(tf.cast(obs, tf.int32), axis=-1)
    return tf.concat([tf.one_hot(f, int(b)) for f, b in zip(fields, bounds)], axis=-1)


def argmax_fields(logits, bounds: Sequence[int]):
    """The most likely observation: per-field argmax of logits [..., sum(bounds)] -> [..., F] int."""
    parts = tf.split(logits, [int(b) for b in bounds], axis=-1)
    return tf.stack([tf.argmax(p, axis=-1, output_type=tf.int32) for p in parts], axis=-1)


class RawTransition(keras.Model):
    """The next raw observation: per-field logits from [onehot(s), onehot(a), z].

    obs [..., F] int, actions [...] int, z -> logits [..., sum(bounds)]; field i of the
    output covers ``bounds[i]`` classes (split with ``tf.split``, decode with
    ``argmax_fields``). It never sees the shared encoder.
    """

    def __init__(self, observation_bounds: Sequence[int], num_actions: int,
                 hidden_dims: Sequence[int] = (128, 128), **kwargs):
        super().__init__(**kwargs)
        self.observation_bounds = tuple(int(b) for b in observation_bounds)
        self.num_actions = int(num_actions)
        self.net = mlp(hidden_dims, int(np.sum(self.observation_bounds)))

    def call(self, obs, actions, z):
        x = one_hot_fields(obs, self.observation_bounds)
        return self.net(_model_input(x, actions, self.num_actions, [z]))


class ScalarHead(keras.Model):
    """A scalar prediction from (state x, action, context c): MLP([x, onehot(a), c]).

    x [..., D], actions [...], context [B, C] or [..., C] -> [...]. ``activation``
    applies to the output (``sigmoid`` keeps a predicted discount in [0, 1], so planning
    through it can never grow the values).
    """

    def __init__(self, num_actions: int, hidden_dims: Sequence[int] = (128,),
                 activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.net = mlp(hidden_dims, 1, activation)

    def call(self, x, actions, context):
        return self.net(_model_input(x, actions, self.num_actions, [context]))[..., 0]
