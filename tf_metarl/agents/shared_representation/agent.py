"""Hybrid 2: DREAM with a state representation shared by the execution Q-network and a
dynamics model (seed paper section 3.2, CRAR-style losses).

One encoder e(s), the execution Q-network's own state embedder, is read by

* the recurrent execution Q-network: LSTM over [e(s_t), e(goal)], then [h_t, z] -> Q;
* a residual dynamics model T(e(s), a, z) = e(s) + MLP([e(s), onehot(a), z]) in the
  same space, conditioned on the same task embedding z as the Q-network (f(mu) + noise
  in the execution learner, whatever z acting passes in at test time).

The batch's observations are encoded once and the execution learner minimises

    TD + bottleneck + decoder                              (DREAM)
    + beta_T  mean ||T(e(s_t), a_t, z) - e(s_{t+1})||^2    (both sides carry gradient)
    + beta_d  mean exp(-C ||e(s1) - e(s2)||_2)             (pairs: episode b and b-1, same step)
    + 0.2 beta_d mean exp(-C ||e(s_t) - e(s_{t+1})||_2)    (consecutive states)
    + beta_v  mean max(||e(s)||_inf^2 - 1, 0)              (volume)

Pairs whose two observations are identical are left out of both disambiguation terms:
they cannot be told apart (every execution episode starts on the same cell, and a noop
or a blocked move repeats its observation), so they would only add a constant 1 to the
loss (their gradient is zero; see ``losses.representation.embedding_distance``).

Acting, exploration, the decoder and export are DREAM's unchanged: the Q-network is
DREAM's in structure and output; only its training differs.

**Only the execution Q-network shares e.** The spec (design notes, hybrid 2) has e(s)
"shared by the Q-networks"; here the exploration Q-network keeps DREAM's own encoder, so
the two learners stay independent (each its own optimiser and update cadence), the
exploration TD loss does not shape e, and the model losses do not regularise exploration.
Every result of this hybrid so far is of this variant.
"""

from __future__ import annotations

import tensorflow as tf

from tf_metarl.agents.dream.agent import DreamAgent, step_masks
from tf_metarl.agents.shared_representation.config import SharedRepresentationConfig
from tf_metarl.losses import representation
from tf_metarl.networks.shared_representation import LatentTransition, SharedEncoderExecuteQNetwork


def flatten_steps(x):
    """[B, T, ...] -> [B*T, ...]."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))


def _differ(obs_a, obs_b):
    """1.0 where two observations [..., F] differ in some field, else 0.0."""
    return tf.cast(tf.reduce_any(tf.not_equal(obs_a, obs_b), axis=-1), tf.float32)


class SharedRepresentationAgent(DreamAgent):
    """DREAM whose execution encoder e(s) is also the state space of a learned dynamics model."""

    algorithm = "shared_representation"
    config: SharedRepresentationConfig

    # ---- construction ----------------------------------------------------------------------
    def _make_execute_q(self):
        c = self.config
        return SharedEncoderExecuteQNetwork(
            self.observation_bounds, self.goal_bounds, self.num_actions, field_dim=c.field_dim,
            embed_hidden=c.embed_hidden, embed_dim=c.embed_dim, lstm_units=c.q_lstm_units,
            hidden_dims=c.q_hidden, relu_output=c.q_torso_relu_output)

    def _build_networks(self):
        super()._build_networks()
        self._build_model()

    def _build_model(self):
        """The dynamics model on e(s), built so its variables exist before restore."""
        c = self.config
        self.transition = LatentTransition(self.num_actions, c.embed_dim, c.transition_hidden)
        self.transition(tf.zeros([1, c.embed_dim]), tf.zeros([1], tf.int32),
                        tf.zeros([1, self.execution_embedding_dim]))

    def model_variables(self):
        """Variables of the model networks (trained by the execution learner)."""
        return self.transition.trainable_variables

    def execute_variables(self):
        return super().execute_variables() + self.model_variables()

    # ---- learning ---------------------------------------------------------------------------
    def _execute_loss(self, batch):
        """DREAM's execution loss, with e(obs) computed once for the TD and model losses."""
        f, z = self._noisy_problem_embedding(batch["problem_id"])
        e = self.execute_q.encode(batch["obs"])  # [B, T+1, D]
        td, metrics = self.execution_td_loss(
            batch, z, q=self.execute_q.q_from_embeddings(e, batch["goal"], z))
        terms, predictions, f_explore = self.task_embedding_terms(batch, f)
        model_terms = self.model_losses(batch, e, z)
        model = tf.add_n([weight * value for weight, value in model_terms.values()])
        loss = td + terms["bottleneck_penalty"] + terms["decoder_loss"] + model
        metrics.update(terms, model_loss=model, loss=loss,
                       **{name: value for name, (_, value) in model_terms.items()})
        return loss, metrics, predictions, f_explore

    def model_losses(self, batch, e, z):
        """The model and representation terms: name -> (weight, unweighted loss).

        batch: execution episodes (+ exploration episodes if they are mixed in);
        e [B, T+1, D] = e(obs); z [B, Z] the execution Q-network's task embedding."""
        c = self.config
        step_mask, _, state_mask = step_masks(batch["length"], batch["actions"].shape[1])
        terms = {"transition_loss": (c.transition_weight, self.transition_objective(batch, e, z))}
        terms.update(self.representation_losses(batch["obs"], e, state_mask, step_mask))
        return terms

    def transition_sources(self, batch, e, z, encode: bool = True):
        """The episodes the dynamics model learns from, as tuples (obs [B, T+1, F],
        e(obs) [B, T+1, D] or None, actions [B, T], step mask [B, T], z [B, Z]): the
        execution episodes, plus the exploration episodes when they are mixed in
        (conditioned on f(their problem) + noise, as execution episodes are)."""
        sources = [(batch["obs"], e, batch["actions"],
                    step_masks(batch["length"], batch["actions"].shape[1])[0], z)]
        if self.config.mix_exploration_transitions:
            _, z_x = self._noisy_problem_embedding(batch["x_problem_id"])
            e_x = self.execute_q.encode(batch["x_obs"]) if encode else None
            sources.append((batch["x_obs"], e_x, batch["x_actions"],
                            step_masks(batch["x_length"], batch["x_actions"].shape[1])[0], z_x))
        return sources

    def transition_objective(self, batch, e, z):
        """mean ||T(e(s_t), a_t, z) - e(s_{t+1})||^2 over all the model's transitions."""
        predicted, target, mask = [], [], []
        for _, e_s, actions, step_mask, z_s in self.transition_sources(batch, e, z):
            predicted.append(flatten_steps(self.transition(e_s[:, :-1], actions, z_s)))
            target.append(flatten_steps(e_s[:, 1:]))
            mask.append(tf.reshape(step_mask, [-1]))
        return representation.transition_loss(tf.concat(predicted, 0), tf.concat(target, 0),
                                              tf.concat(mask, 0))

    def representation_losses(self, obs, e, state_mask, step_mask):
        """Disambiguation (random and consecutive pairs) and volume terms on e [B, T+1, D].

        obs [B, T+1, F]; state_mask [B, T+1] real states; step_mask [B, T] real transitions."""
        c = self.config
        # "Random" pairs: each state with the same step of the previous episode of the batch.
        e_other, obs_other = tf.roll(e, 1, axis=0), tf.roll(obs, 1, axis=0)
        pair_mask = state_mask * tf.roll(state_mask, 1, axis=0) * _differ(obs, obs_other)
        consecutive_mask = step_mask * _differ(obs[:, :-1], obs[:, 1:])
        scale = c.disambiguation_scale
        return {
            "disambiguation_loss": (
                c.disambiguation_weight,
                representation.disambiguation_loss(e, e_other, pair_mask, scale)),
            "consecutive_disambiguation_loss": (
                c.disambiguation_weight * c.consecutive_disambiguation_weight,
                representation.disambiguation_loss(e[:, :-1], e[:, 1:], consecutive_mask, scale)),
            "volume_loss": (c.volume_weight, representation.volume_loss(e, state_mask)),
        }
