"""Hybrid 1: DREAM + a MAML-adapted dynamics model read by a gradient embedder.

Seed paper section 3.1. A dynamics model D_theta(s, a) (one categorical per field of the
next observation) is adapted by k MAML inner steps on a trial's exploration episode; the
inner-loop gradients, normalised per weight tensor, go through an MLP h_phi that outputs
a task embedding of size z_dim.

* Meta-training of theta (inside the execution learner's step): inner loop on the
  exploration episode of a trial, outer loss on the execution episode of the SAME trial
  (the runner stores them together: ``replay_trial_exploration``), second order by
  default.
* h_phi is trained like DREAM's decoder, ||h_phi(grad) - stop_gradient(f(mu))||^2, and,
  in ``concat`` mode, by the TD loss through the execution Q-network, which is then
  conditioned on [DREAM's z, h_phi(grad)] (``execution_embedding_dim`` = 2 z_dim). Both
  losses reach theta through the inner gradients unless ``embedder_grads_to_dynamics``
  is off (or the inner loop is first order).
* ``replace`` mode: the execution policy sees h_phi(grad) where DREAM uses the decoder's
  z (odd meta-training trials still use f(mu) + noise, and the TD loss trains on
  f(mu) + noise as in DREAM). The decoder is still trained: its information gain is the
  exploration reward.

Everything else (exploration agent, bottleneck, replay, schedules) is DREAM's.
"""

from __future__ import annotations

import tensorflow as tf

from tf_metarl import losses
from tf_metarl.agents.dream.agent import DreamAgent
from tf_metarl.agents.gradient_embedder.config import GradientEmbedderConfig
from tf_metarl.losses.dynamics import dynamics_loss
from tf_metarl.meta import MAML, InnerLearningRates
from tf_metarl.networks.dynamics import DynamicsModel
from tf_metarl.networks.gradient_embedder import (GradientEmbedder, gradient_feature_size,
                                                  gradient_features)


class GradientEmbedderAgent(DreamAgent):
    """DREAM whose execution policy also reads a MAML dynamics model's inner gradients."""

    algorithm = "gradient_embedder"
    replay_trial_exploration = True
    config: GradientEmbedderConfig

    # ---- construction ----------------------------------------------------------------------
    @property
    def execution_embedding_dim(self) -> int:
        z = self.config.z_dim
        return 2 * z if self.config.embedder_mode == "concat" else z

    def _build_networks(self):
        super()._build_networks()
        c = self.config
        F = len(self.observation_bounds)
        self.dynamics = DynamicsModel(self.observation_bounds, self.num_actions, c.dynamics_hidden)
        self.dynamics(tf.zeros([1, F], tf.int32), tf.zeros([1], tf.int32))
        shapes = [tuple(v.shape) for v in self.dynamics.trainable_variables]
        self.inner_rates = None
        if c.learn_inner_rates:
            self.inner_rates = InnerLearningRates(c.inner_steps, len(shapes), c.inner_learning_rate)
        self._maml = MAML(self.dynamics, num_steps=c.inner_steps,
                          learning_rate=c.inner_learning_rate, first_order=c.first_order,
                          learned_rates=self.inner_rates, multi_step_loss=c.multi_step_loss)
        self.gradient_embedder = GradientEmbedder(c.gradient_embedder_hidden, c.z_dim)
        self.gradient_embedder(tf.zeros([1, gradient_feature_size(shapes, c.inner_steps)]))

    @property
    def maml(self) -> MAML:
        return self._maml

    def execute_variables(self):
        """DREAM's execution variables + theta, phi and (MAML++) the inner learning rates."""
        extra = self.dynamics.trainable_variables + self.gradient_embedder.trainable_variables
        if self.inner_rates is not None:
            extra = extra + self.inner_rates.trainable_variables
        return super().execute_variables() + extra

    # ---- the inner loop ---------------------------------------------------------------------
    def _transition_loss_fn(self, obs, actions, length):
        """One episode's dynamics loss as a function of the model's weights.

        obs [T+1, F], actions [T], length [] -> (weights -> mean per-field NLL of the first
        ``length`` transitions)."""
        mask = tf.sequence_mask(length, actions.shape[0], dtype=tf.float32)  # [T]

        def loss(weights):
            logits = self.maml(weights, obs[:-1], actions)  # [T, sum(bounds)]
            return dynamics_loss(logits, obs[1:], mask, self.observation_bounds)
        return loss

    def _adapt(self, theta, obs, actions, length):
        """k inner steps on one exploration episode (no batch axis)."""
        return self.maml.adapt(self._transition_loss_fn(obs, actions, length), theta)

    def _features(self, adaptation):
        return gradient_features(adaptation.gradients, self.config.gradient_norm_eps)

    def gradient_embedding(self, explore_obs, explore_actions, explore_length):
        """h_phi(inner gradients) of each exploration episode, [N, Z].

        explore_obs [N, T+1, F], explore_actions [N, T], explore_length [N]. One adaptation
        per episode, vectorised over N."""
        theta = self.maml.weights()

        def features(episode):
            return self._features(self._adapt(theta, *episode))

        episodes = (tf.cast(explore_obs, tf.int32), tf.cast(explore_actions, tf.int32),
                    tf.cast(explore_length, tf.int32))
        return self.gradient_embedder(tf.vectorized_map(features, episodes))

    # ---- acting -----------------------------------------------------------------------------
    def embed_exploration_tf(self, explore_obs, explore_actions, explore_length):
        """Test-time task embedding: the dynamics model is adapted on the exploration
        episode here. concat: [decoder's z, h_phi(grad)] [N, 2Z]; replace: h_phi(grad)."""
        h = self.gradient_embedding(explore_obs, explore_actions, explore_length)
        if self.config.embedder_mode == "replace":
            return h
        decoded = self.decode_exploration(explore_obs, explore_actions, explore_length)
        return tf.concat([decoded, h], axis=-1)

    def _task_embedding_fn(self, explore_obs, explore_actions, explore_length, problem_ids,
                           use_decoder):
        """Meta-training trials. concat: [decoder's z or f(mu) + noise, h_phi(grad)];
        replace: h_phi(grad) or f(mu) + noise (DREAM's alternation, h_phi for the decoder)."""
        h = self.gradient_embedding(explore_obs, explore_actions, explore_length)
        _, z_encoder = self._noisy_problem_embedding(problem_ids)
        if self.config.embedder_mode == "replace":
            return tf.where(use_decoder[:, None], h, z_encoder)
        decoded = self.decode_exploration(explore_obs, explore_actions, explore_length)
        return tf.concat([tf.where(use_decoder[:, None], decoded, z_encoder), h], axis=-1)

    # ---- learning ---------------------------------------------------------------------------
    def meta_dynamics(self, batch):
        """MAML on the batch's trials: inner loop on each trial's exploration episode
        (``trial_x_*``), outer loss on its execution episode (``obs``, ``actions``, ``length``).

        Returns a dict of [B] tensors: ``meta_loss`` (what theta is trained on), ``pre``
        and ``post`` (execution-episode loss at theta and at theta_k), ``inner_pre``
        (exploration-episode loss at theta) and ``features`` [B, D] (gradient features)."""
        theta = self.maml.weights()

        def per_trial(trial):
            x_obs, x_actions, x_length, obs, actions, length = trial
            adaptation = self._adapt(theta, x_obs, x_actions, x_length)
            query = self._transition_loss_fn(obs, actions, length)
            post = query(adaptation.weights)
            meta = self.maml.outer_loss(adaptation, query) if self.maml.multi_step_loss else post
            return {"meta_loss": meta, "pre": tf.stop_gradient(query(theta)),
                    "post": post, "inner_pre": tf.stop_gradient(adaptation.inner_losses[0]),
                    "features": self._features(adaptation)}

        trials = tuple(tf.cast(batch[k], tf.int32) for k in (
            "trial_x_obs", "trial_x_actions", "trial_x_length", "obs", "actions", "length"))
        return tf.vectorized_map(per_trial, trials)

    def _execute_loss(self, batch):
        """DREAM's execution loss (TD with the embedder in concat mode, bottleneck,
        decoder) + the dynamics meta-loss + the gradient embedder's f(mu) regression."""
        c = self.config
        meta = self.meta_dynamics(batch)
        features = meta["features"]
        if not c.embedder_grads_to_dynamics:
            features = tf.stop_gradient(features)
        h = self.gradient_embedder(features)  # [B, Z]
        f, z = self._noisy_problem_embedding(batch["problem_id"])
        if c.embedder_mode == "concat":
            z = tf.concat([z, h], axis=-1)
        td, metrics = self.execution_td_loss(batch, z)
        terms, predictions, f_explore = self.task_embedding_terms(batch, f)
        # The decoder's objective for h_phi: every trial has one "prefix", the whole episode.
        embedder = losses.decoder_loss(h[:, None], f, tf.ones_like(h[:, :1]))
        dynamics = tf.reduce_mean(meta["meta_loss"])
        loss = (td + terms["bottleneck_penalty"] + terms["decoder_loss"]
                + c.dynamics_loss_weight * dynamics + c.embedder_loss_weight * embedder)
        metrics.update(
            terms,
            dynamics_loss_pre=tf.reduce_mean(meta["pre"]),
            dynamics_loss_post=tf.reduce_mean(meta["post"]),
            dynamics_meta_loss=dynamics,
            dynamics_inner_loss_pre=tf.reduce_mean(meta["inner_pre"]),
            gradient_embedder_loss=embedder, loss=loss)
        if self.inner_rates is not None:
            metrics["inner_learning_rate_mean"] = tf.reduce_mean(self.inner_rates.values())
        return loss, metrics, predictions, f_explore

