"""The IMPORT agent: E-RL²'s substrate with a head on z = the history encoding g (history
mode) or the problem-id embedding f(mu) (id mode), and the auxiliary loss pulling g to f.

Modes: each meta-training trial acts in one mode, fixed before its exploration
(``start_trials``: the runner's trial parity, which gives even trials the history and odd
trials the ids, where the reference starts with ids; the split is 50/50 either way); updates alternate by their count (even
updates id mode, odd history mode) for the TD loss on the whole batch. The target network
reads the history (``import_target_uses_ids`` makes it read f in id-mode updates). The
auxiliary loss runs at every update. Exported policies and normal evaluations use the
history; evaluations also log the return with ids on (``eval_return_ids``).
"""

from __future__ import annotations

import tensorflow as tf

from tf_metarl import losses
from tf_metarl.agents.dream.agent import copy_weights
from tf_metarl.agents.e_rl2.agent import ERL2Agent
from tf_metarl.networks.task_embedding import ProblemEncoder


class ImportAgent(ERL2Agent):
    """IMPORT (see the module docstring); ``config`` is an ``ImportConfig``."""

    algorithm = "import"
    conditioned_head = True
    evaluate_with_problem_ids = True

    def _build_extra(self, dummy):
        c = self.config
        self.problem_encoder = ProblemEncoder(self.num_problems, c.problem_id_dim, c.lstm_units)
        self.problem_encoder_target = ProblemEncoder(self.num_problems, c.problem_id_dim, c.lstm_units)
        for net in (self.problem_encoder, self.problem_encoder_target):
            net(tf.zeros([1], tf.int32))
        copy_weights(self.problem_encoder, self.problem_encoder_target)

    def learned_variables(self):
        return self.q.trainable_variables + self.problem_encoder.trainable_variables

    def _sync_targets(self):
        copy_weights(self.q, self.q_target)
        copy_weights(self.problem_encoder, self.problem_encoder_target)

    def _head(self, h, obs, goal, problem_ids=None, use_ids=None):
        """Acting: trial i reads f(problem_ids[i]) where ``use_ids[i]``, else its history."""
        z = h
        if problem_ids is not None:
            z = tf.where(use_ids[:, None], self.problem_encoder(problem_ids), h)
        return self.q.q_values(z, obs, goal)

    def loss_terms(self, batch):
        c = self.config
        seq = self.sequence_inputs(batch)
        inputs = self.network_inputs(seq)
        id_mode = self.updates % 2 == 0  # this update's mode (the count before it)
        g, _ = self.q.encoder(*inputs)  # [B, S, U]
        f = self.problem_encoder(batch["problem_id"])  # [B, U]
        z = tf.where(id_mode, tf.broadcast_to(f[:, None], tf.shape(g)), g)
        q = self.q.q_values(z, seq["obs"], seq["goal"])
        g_target, _ = self.q_target.encoder(*inputs)
        z_target = g_target
        if c.import_target_uses_ids:
            f_target = self.problem_encoder_target(batch["problem_id"])
            z_target = tf.where(id_mode, tf.broadcast_to(f_target[:, None], tf.shape(g_target)),
                                g_target)
        q_target = self.q_target.q_values(z_target, seq["obs"], seq["goal"])
        td, metrics = self.td_loss(seq, q, q_target)
        steps = tf.range(tf.shape(seq["step_mask"])[1])[None]
        if c.import_aux_mask_padding:
            aux_mask = seq["step_mask"]
        else:  # every position up to the batch's longest trial
            aux_mask = tf.cast(steps < tf.reduce_max(seq["trial_length"]), tf.float32) \
                * tf.ones_like(seq["step_mask"])
        aux = c.import_aux_weight * losses.import_auxiliary_loss(g[:, :-1], f, aux_mask)
        # ||g - f||^2 after the last exploration input (k = L_x - 1).
        x_last = tf.maximum(tf.cast(batch["trial_x_length"], tf.int32) - 1, 0)
        g_end = tf.gather(g, x_last, axis=1, batch_dims=1)
        metrics.update(import_loss=aux, id_mode=tf.cast(id_mode, tf.float32),
                       import_end_distance=tf.reduce_mean(tf.reduce_sum(tf.square(g_end - f), -1)))
        return {"td_loss": td, "import_loss": aux}, metrics
