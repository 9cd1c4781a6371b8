"""Hybrid 3: shared representation + value prediction, acting by planning (seed section
3.3, CRAR section 4.2).

On top of hybrid 2 the execution learner trains a reward head r and a discount head g
(squared error against the execution episode's rewards and (1 - terminal) * discount),
and the execution policy acts on planned values

    Q^0 = Q,   Q^d(x, a) = r(x, a) + g(x, a) * max_{a' in top-b} Q^{d-1}(T(x, a), a')

(``planner.plan_q_values``; average of Q^0..Q^D or Q^D alone), computed inside
``execute_step_tf`` so the exported SavedModel plans too.

**The recurrent Q-network in the planner.** The execution Q-network is recurrent:
Q(s_t, .) = head([h_t, z]) with h_t = LSTM([e(s_t), e(goal)], state_{t-1}); e(s) enters
only through the LSTM. A planner node is therefore the pair (abstract state x, LSTM state):
an imagined step x' = T(x, a) is fed to the LSTM from the node's LSTM state, exactly as a
real observation with embedding x' would be, and Q(x', .) = head([h', z]). The root is
(e(s_t), the LSTM state after s_t), whose Q is the plain Q the network outputs, so depth 0
is DREAM's policy. The approximation is only that the LSTM reads model predictions T(x, a)
instead of encoder outputs e(s') (plus the model's own error): the history summarised by
the LSTM state is carried along each imagined path. (Holding h fixed and feeding e(s')
elsewhere would give every imagined state the same Q here, since the Q-head sees e(s) only
through h.) Each imagined node costs one LSTM step, one model call and one Q-head call,
batched over all nodes of a level. The recurrent state returned is the one after the
real observation; imagined states never leak into it.

**Heads see the goal.** Execution rewards in the bus map depend on the instructed goal
(+1 on reaching it) and the goal is not part of the observation or of z, so the reward
and discount heads read [x, onehot(a), z, goal] (the goal embedded by the Q-network's
goal embedder in the latent space, one-hot in the raw space); T does not (the world's
moves do not depend on the goal).

**Heads do not see the time step.** Two targets depend on it: ``end_episode`` is paid
-step_cost for every step left, and the time-limit step is terminal in any state. The
heads read only (x, a, z, goal), not the step (unlike the Q-network's LSTM, which can
count steps), so for the same inputs they learn the average of those targets; the planned Q of ``end_episode`` and of last steps
is biased by that much. Execution rarely ends its episode early, so this is left as is.

**Raw-state variant** (``planning_space='raw'``, the seed's future work): the model acts on
raw observations instead of the shared embedding. A separate network predicts the next
observation field by field (per-field categorical over its bounds, cross-entropy loss,
``tf_metarl.losses.dynamics``) from [onehot(s), onehot(a), z]; the planner's imagined next
state is the most likely value of every field (the world is deterministic), which the
Q-network then encodes with e like a real observation; r and g read the one-hot
observation. The raw model never trains e, so comparing the two variants separates the
representation from the planning. Hybrid 2's disambiguation and volume terms still apply
to e (set their weights to 0 for DREAM's encoder).

**Planning in training or at test only** (``plan_in_training``): test time is evaluation
(the runner's ``evaluate`` runs inside ``evaluation_mode()``) and the exported policy
(``execute_step_tf`` always plans). With ``plan_in_training=False`` meta-training trials act
on the plain Q-values.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

from tf_metarl.agents.dream.agent import step_masks
from tf_metarl.agents.planning.config import PlanningConfig
from tf_metarl.agents.planning.planner import plan_q_values
from tf_metarl.agents.shared_representation.agent import SharedRepresentationAgent, flatten_steps
from tf_metarl.losses import representation
from tf_metarl.losses.dynamics import dynamics_loss
from tf_metarl.networks.shared_representation import (RawTransition, ScalarHead, argmax_fields,
                                                      one_hot_fields)


class PlanningAgent(SharedRepresentationAgent):
    """Hybrid 2 + reward/discount heads; execution actions by planning through the model."""

    algorithm = "planning"
    config: PlanningConfig

    def __init__(self, config: PlanningConfig, layout, seed: int = 0, use_tf_function: bool = True):
        super().__init__(config, layout, seed=seed, use_tf_function=use_tf_function)
        wrap = tf.function if use_tf_function else (lambda f: f)
        self._plain_execute_step = wrap(self.plain_execute_step_tf)
        self._evaluating = False

    @property
    def raw(self) -> bool:
        return self.config.planning_space == "raw"

    # ---- construction ----------------------------------------------------------------------
    def _build_model(self):
        c = self.config
        F = len(self.observation_bounds)
        z = tf.zeros([1, self.execution_embedding_dim])
        if self.raw:
            self.raw_transition = RawTransition(self.observation_bounds, self.num_actions,
                                                c.transition_hidden)
            self.raw_transition(tf.zeros([1, F], tf.int32), tf.zeros([1], tf.int32), z)
        else:
            super()._build_model()
        self.reward_head = ScalarHead(self.num_actions, c.value_head_hidden)
        self.discount_head = ScalarHead(self.num_actions, c.value_head_hidden, "sigmoid")
        x = self._head_state(tf.zeros([1, F], tf.int32), tf.zeros([1, c.embed_dim]))
        context = self._head_context(tf.zeros([1, 2], tf.int32), z)
        for head in (self.reward_head, self.discount_head):
            head(x, tf.zeros([1], tf.int32), context)

    def model_variables(self):
        transition = self.raw_transition if self.raw else self.transition
        return (transition.trainable_variables + self.reward_head.trainable_variables
                + self.discount_head.trainable_variables)

    def _head_state(self, obs, e):
        """The state the reward and discount heads read: e(obs) (latent) or the one-hot
        observation (raw). obs [..., F], e [..., D]."""
        return one_hot_fields(obs, self.observation_bounds) if self.raw else e

    def _head_context(self, goal, z, goal_embedding=None):
        """[z, goal features] [B, Z + G]: the goal through the Q-network's goal embedder
        (latent; ``goal_embedding`` when already computed) or one-hot (raw)."""
        if self.raw:
            goal_features = one_hot_fields(goal, self.goal_bounds)
        else:
            goal_features = self.execute_q.embed_goal(goal) if goal_embedding is None else goal_embedding
        return tf.concat([z, goal_features], axis=-1)

    # ---- learning ---------------------------------------------------------------------------
    def model_losses(self, batch, e, z):
        """Hybrid 2's terms + reward and discount losses on the execution episodes."""
        c = self.config
        terms = super().model_losses(batch, e, z)
        step_mask, terminal, _ = step_masks(batch["length"], batch["actions"].shape[1])
        x = self._head_state(batch["obs"][:, :-1], e[:, :-1])  # [B, T, .]
        context = self._head_context(batch["goal"], z)  # [B, Z + G]
        reward = self.reward_head(x, batch["actions"], context)  # [B, T]
        discount = self.discount_head(x, batch["actions"], context)
        terms["reward_loss"] = (c.reward_weight, representation.masked_squared_error(
            reward, batch["rewards"], step_mask))
        terms["discount_loss"] = (c.discount_weight, representation.masked_squared_error(
            discount, (1.0 - terminal) * c.discount, step_mask))
        return terms

    def transition_objective(self, batch, e, z):
        """latent: hybrid 2's; raw: per-field cross-entropy of the next observation."""
        if not self.raw:
            return super().transition_objective(batch, e, z)
        logits, next_obs, mask = [], [], []
        for obs, _, actions, step_mask, z_s in self.transition_sources(batch, e, z, encode=False):
            logits.append(flatten_steps(self.raw_transition(obs[:, :-1], actions, z_s)))
            next_obs.append(flatten_steps(obs[:, 1:]))
            mask.append(tf.reshape(step_mask, [-1]))
        return dynamics_loss(tf.concat(logits, 0), tf.concat(next_obs, 0), tf.concat(mask, 0),
                             self.observation_bounds)

    # ---- acting -----------------------------------------------------------------------------
    def execute_step_tf(self, obs, goal, z, state):
        """obs [N, F], goal [N, 2], z [N, Z], state -> (planned Q [N, A], next state).

        The returned state is the LSTM state after the real observation."""
        c = self.config
        q_net = self.execute_q
        e = q_net.encode(obs)
        goal_embedding = q_net.embed_goal(goal)
        _, next_state = q_net.recur(e, goal_embedding, state)  # next_state = (h_t, c_t)
        root = {"x": tf.cast(obs, tf.int32) if self.raw else e, "lstm": next_state, "z": z,
                "goal": goal_embedding, "context": self._head_context(goal, z, goal_embedding)}
        planned = plan_q_values(self._node_q_values, self._imagine, root, self.num_actions,
                                c.planning_depth, c.planning_breadth, c.planning_estimate)
        return planned, next_state

    def plain_execute_step_tf(self, obs, goal, z, state):
        """The unplanned execution Q-values (DREAM's step)."""
        return self.execute_q.step(obs, goal, z, state)

    def _node_q_values(self, node):
        """Q of planner nodes: the Q-head on the node's LSTM output and z."""
        return self.execute_q.q_head(node["lstm"][0], node["z"])

    def _imagine(self, node, actions):
        """One imagined step of every node: (next nodes, predicted reward, discount)."""
        x = node["x"]  # the observation (raw) or its embedding (latent)
        head_x = self._head_state(x, x)
        reward = self.reward_head(head_x, actions, node["context"])
        discount = self.discount_head(head_x, actions, node["context"])
        if self.raw:
            x_next = argmax_fields(self.raw_transition(x, actions, node["z"]), self.observation_bounds)
            e_next = self.execute_q.encode(x_next)
        else:
            x_next = e_next = self.transition(x, actions, node["z"])
        _, lstm_next = self.execute_q.recur(e_next, node["goal"], node["lstm"])
        return {**node, "x": x_next, "lstm": lstm_next}, reward, discount

    @contextlib.contextmanager
    def evaluation_mode(self):
        """Acting inside this context is test time: it plans even if ``plan_in_training`` is
        off, and leaves the noise stream as DREAM's context does."""
        previous, self._evaluating = self._evaluating, True
        try:
            with super().evaluation_mode():
                yield self
        finally:
            self._evaluating = previous

    def execute_q_values(self, obs, goal, z, state):
        if self._evaluating or self.config.plan_in_training:
            return super().execute_q_values(obs, goal, z, state)
        q, state = self._plain_execute_step(tf.constant(obs, tf.int32), tf.constant(goal, tf.int32),
                                            tf.constant(z, tf.float32), state)
        return q.numpy(), state
