"""The VariBAD agent as DREAM runs it: E-RL²'s substrate whose LSTM output is the belief
mean m_k; the policy head reads z_k = m_k + belief_std * eps and the current (o, g), and
decoders predict every reward and next observation of the trial from every belief.

Loss: L_TD + reward_loss_weight * L_R + state_loss_weight * L_S, with L_R and L_S sums
over all (belief t, transition j) pairs of a trial divided by the batch size
(``losses.pairwise_reconstruction_loss``); no KL term. Rewards to reconstruct are the
stored ones (0 in exploration under the ``tf_metarl`` protocol), next observations the
next network input's (the execution start after the last exploration step). The TD loss
reaches the encoder unless ``varibad_stop_policy_grad``. Acting and the target network
use the mean (the noise is 1e-6 by default).
"""

from __future__ import annotations

import tensorflow as tf

from tf_metarl import losses
from tf_metarl.agents.e_rl2.agent import ERL2Agent
from tf_metarl.networks.baselines import BeliefDecoder


class VariBADAgent(ERL2Agent):
    """VariBAD (see the module docstring); ``config`` is a ``VariBADConfig``."""

    algorithm = "varibad"
    conditioned_head = True

    def _build_extra(self, dummy):
        c = self.config
        self.decoder = BeliefDecoder(self.num_actions, len(self.observation_bounds),
                                     c.decoder_action_dim, c.decoder_hidden)
        self.decoder(tf.zeros([1, c.lstm_units]), tf.zeros([1, c.embed_dim]), tf.zeros([1], tf.int32))

    def learned_variables(self):
        return self.q.trainable_variables + self.decoder.trainable_variables

    def decode_pairs(self, z, obs, goal, actions):
        """Predictions for every (belief t, transition j) pair: z [B, K, U], obs [B, K, F],
        goal [B, K, 2], actions [B, K] -> (reward [B, K, K], next obs [B, K, K, F])."""
        K = z.shape[1]
        state_goal = self.q.state_goal(obs, goal)  # [B, K, E]
        z_pairs = tf.repeat(z[:, :, None], K, axis=2)
        state_goal_pairs = tf.repeat(state_goal[:, None], K, axis=1)
        action_pairs = tf.repeat(tf.cast(actions, tf.int32)[:, None], K, axis=1)
        return self.decoder(z_pairs, state_goal_pairs, action_pairs)

    def loss_terms(self, batch):
        c = self.config
        seq = self.sequence_inputs(batch)
        inputs = self.network_inputs(seq)
        m, _ = self.q.encoder(*inputs)  # belief means [B, S, U]
        z = m + c.belief_std * self.noise_rng.normal(tf.shape(m))
        policy_z = tf.stop_gradient(z) if c.varibad_stop_policy_grad else z
        q = self.q.q_values(policy_z, seq["obs"], seq["goal"])
        m_target, _ = self.q_target.encoder(*inputs)
        q_target = self.q_target.q_values(m_target, seq["obs"], seq["goal"])
        td, metrics = self.td_loss(seq, q, q_target)
        reward, next_obs = self.decode_pairs(z[:, :-1], seq["obs"][:, :-1], seq["goal"][:, :-1],
                                             seq["actions"])
        reward_loss, reward_error = losses.pairwise_reconstruction_loss(
            reward, seq["rewards"], seq["step_mask"])
        state_loss, state_error = losses.pairwise_reconstruction_loss(
            next_obs, tf.cast(seq["obs"][:, 1:], tf.float32), seq["step_mask"])
        metrics.update(reward_loss=reward_loss, state_loss=state_loss,
                       reward_pair_error=reward_error, state_pair_error=state_error)
        return {"td_loss": td, "reward_loss": c.reward_loss_weight * reward_loss,
                "state_loss": c.state_loss_weight * state_loss}, metrics
