"""The E-RL² agent, and the single-learner substrate IMPORT and VariBAD extend.

One recurrent dueling double-DQN acts through the whole trial: its LSTM state after the
exploration episode is the state the execution episode starts from. It fits the acting
interface ``play_trials`` and the exporter use (explore step, task embedding, execute
step) like this:

* exploration steps feed (observation, NONE goal, previous action, reward 0, d 0);
* the "task embedding" is [h; c] of the LSTM after the last exploration input
  (``embed_exploration_tf``, 2 * lstm_units);
* the execution state is the LSTM state plus one bookkeeping column in each of h and c:
  h[:, U] = the previous execution action, c[:, U] = 1 once an execution step has run.
  The first execution step starts from the embedding with (NONE action, reward 0, d 1);
  later ones feed (previous action, reward -step_cost, d 0): every execution step that is
  followed by another paid the step cost, since reaching a goal ends the episode.
  ``execute_step_tf`` writes its greedy action there; a caller acting otherwise (epsilon)
  records the action it took with ``record_execute_action``.

Learning replays whole trials (``trial_inputs``) with one optimizer over every variable.
The runner drives it as a single learner (``single_learner``): one replay of trials, one
epsilon over all env steps, one update per ``update_period`` env steps of either episode.
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf
import keras

from tf_metarl import losses
from tf_metarl.agents.dream.agent import _to_tensors, apply_gradients, copy_weights
from tf_metarl.agents.e_rl2.config import ERL2Config
from tf_metarl.agents.e_rl2.trial_inputs import trial_inputs
from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.networks.baselines import TrialQNetwork


class ERL2Agent(tf.Module):
    """E-RL²: Q = dueling(h) of the experience encoder's LSTM.

    Args:
      config: Hyper-parameters.
      layout: The training layout (bounds, actions, problems, horizon, step cost).
      seed: Seeds the agent's own noise (VariBAD's belief sample).
      use_tf_function: False runs everything eagerly, for debugging.
    """

    algorithm = "e_rl2"
    # The runner's single-learner mode: one replay of whole trials (execution episodes with
    # their trial's exploration episode, ``trial_x_*``), one epsilon over all env steps,
    # ``updates`` counts the updates of ``train_step(batch)``. Two-learner agents (DREAM
    # and its hybrids) have ``single_learner = False``.
    single_learner = True
    replay_trial_exploration = True
    # True: evaluations also play the trials with ``use_decoder`` all False (IMPORT's
    # problem ids) and log that return as ``eval_return_ids``.
    evaluate_with_problem_ids = False
    conditioned_head = False

    def __init__(self, config: ERL2Config, layout: BusMapLayout, seed: int = 0,
                 use_tf_function: bool = True):
        super().__init__(name=self.algorithm)
        self.config = config
        self.observation_bounds = tuple(layout.observation_bounds)
        # One more row per goal field: the NONE goal of exploration inputs.
        self.none_goal = tuple(int(b) for b in layout.goal_bounds)
        self.goal_bounds = tuple(b + 1 for b in self.none_goal)
        self.num_actions = layout.num_actions
        self.num_problems = layout.num_problems
        self.horizon = layout.horizon
        self.step_cost = float(layout.step_cost)
        self.units = config.lstm_units
        self.noise_rng = tf.random.Generator.from_seed(seed)
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._trial_problem_ids = None
        self._trial_use_ids = None
        self._build_networks()
        self.optimizer = keras.optimizers.Adam(config.learning_rate, epsilon=config.adam_epsilon,
                                               global_clipnorm=config.grad_clip_norm)
        self.optimizer.build(self.learned_variables())
        wrap = tf.function if use_tf_function else (lambda f: f)
        self._act_explore = wrap(self._act_explore_fn)
        self._act_execute = wrap(self._act_execute_fn)
        self._embed = wrap(self.embed_exploration_tf)
        self._train = wrap(self._train_fn)

    # ---- construction ------------------------------------------------------------------
    def _make_q(self):
        c = self.config
        return TrialQNetwork(self.observation_bounds, self.goal_bounds, self.num_actions,
                             c.field_dim, c.embed_hidden, c.embed_dim, c.action_dim, c.reward_dim,
                             c.done_dim, c.lstm_units, conditioned=self.conditioned_head,
                             head_hidden=getattr(c, "head_hidden", 64))

    def _build_networks(self):
        self.q = self._make_q()
        self.q_target = self._make_q()
        F = len(self.observation_bounds)
        dummy = self._dummy_inputs(F)
        for net in (self.q, self.q_target):
            net(*dummy)
        self._build_extra(dummy)
        copy_weights(self.q, self.q_target)

    def _dummy_inputs(self, F):
        return (tf.zeros([1, 2, F], tf.int32), tf.zeros([1, 2, 2], tf.int32),
                tf.zeros([1, 2], tf.int32), tf.zeros([1, 2]), tf.zeros([1, 2], tf.int32))

    def _build_extra(self, dummy):
        """Builds the networks subclasses add (IMPORT's f, VariBAD's decoder)."""

    def learned_variables(self):
        """Every variable the learner trains (the target copy excluded)."""
        return self.q.trainable_variables

    # ---- acting (numpy in, numpy out) ----------------------------------------------------
    @contextlib.contextmanager
    def evaluation_mode(self):
        """Test time; leaves the noise stream as it was (see ``DreamAgent``)."""
        noise_state = tf.identity(self.noise_rng.state)
        try:
            yield self
        finally:
            self.noise_rng.reset(noise_state)

    def start_trials(self, problem_ids, use_decoder):
        """Called by ``play_trials`` before the exploration of N trials: trial i acts on
        its history when ``use_decoder[i]``, else on its problem id (IMPORT only)."""
        self._trial_problem_ids = np.asarray(problem_ids, np.int32)
        self._trial_use_ids = ~np.asarray(use_decoder, bool)

    def _trial_modes(self, n):
        if self._trial_problem_ids is None or len(self._trial_problem_ids) != n:
            return tf.zeros([n], tf.int32), tf.zeros([n], tf.bool)
        return tf.constant(self._trial_problem_ids), tf.constant(self._trial_use_ids)

    def explore_initial_state(self, batch_size):
        zeros = tf.zeros([batch_size, self.units])
        return (zeros, zeros)

    def execute_initial_state(self, batch_size):
        zeros = tf.zeros([batch_size, self.units + 1])
        return (zeros, zeros)

    def explore_q_values(self, obs, prev_action, state):
        """obs [N, F], prev_action [N], state -> (Q [N, A] numpy, new state)."""
        ids, use_ids = self._trial_modes(len(obs))
        q, state = self._act_explore(tf.constant(obs, tf.int32), tf.constant(prev_action, tf.int32),
                                     state, ids, use_ids)
        return q.numpy(), state

    def task_embedding(self, explore_obs, explore_actions, explore_length, problem_ids, use_decoder):
        """[h; c] of the LSTM after each trial's exploration, [N, 2U] numpy."""
        return self._embed(tf.constant(explore_obs, tf.int32), tf.constant(explore_actions, tf.int32),
                           tf.constant(explore_length, tf.int32)).numpy()

    def execute_q_values(self, obs, goal, z, state):
        """obs [N, F], goal [N, 2], z [N, 2U], state -> (Q [N, A] numpy, new state)."""
        ids, use_ids = self._trial_modes(len(obs))
        q, state = self._act_execute(tf.constant(obs, tf.int32), tf.constant(goal, tf.int32),
                                     tf.constant(z, tf.float32), state, ids, use_ids)
        return q.numpy(), state

    def record_execute_action(self, state, actions):
        """The execution state with ``actions`` [N] as the previous action (the actions
        actually taken, when they are not the greedy ones ``execute_step_tf`` wrote)."""
        h, c = state
        h = tf.concat([h[:, :self.units], tf.cast(tf.reshape(actions, [-1, 1]), h.dtype)], axis=1)
        return (h, c)

    # ---- TensorFlow-level policy functions (what export calls) ---------------------------
    def _head(self, h, obs, goal, problem_ids=None, use_ids=None):
        """Q from the LSTM output h; subclasses condition on something else."""
        return self.q.q_values(h, obs, goal)

    def _none_goal(self, n):
        return tf.tile(tf.constant([self.none_goal], tf.int32), [n, 1])

    def _explore_inputs(self, obs, prev_action):
        n = tf.shape(obs)[0]
        return (obs, self._none_goal(n), prev_action, tf.zeros([n]), tf.zeros([n], tf.int32))

    def _act_explore_fn(self, obs, prev_action, state, problem_ids, use_ids):
        inputs = self._explore_inputs(obs, prev_action)
        h, state = self.q.encoder.step(*inputs, state)
        return self._head(h, inputs[0], inputs[1], problem_ids, use_ids), state

    def explore_step_tf(self, obs, prev_action, state):
        """obs [N, F], prev_action [N] (num_actions = none yet), state (h, c) [N, U]
        -> (Q [N, A], next state)."""
        inputs = self._explore_inputs(obs, prev_action)
        h, state = self.q.encoder.step(*inputs, state)
        return self._head(h, inputs[0], inputs[1]), state

    def embed_exploration_tf(self, explore_obs, explore_actions, explore_length):
        """[h; c] of the LSTM after exploration inputs 0 .. L-1 (zeros when L = 0), [N, 2U].

        Input k is (o_k, NONE goal, a_{k-1} (NONE at 0), 0, 0): o_L and a_{L-1} are never
        inputs. explore_obs [N, T+1, F], explore_actions [N, T], explore_length [N]."""
        obs = tf.cast(explore_obs, tf.int32)[:, :-1]
        n, T = tf.shape(obs)[0], obs.shape[1]
        prev_action = tf.concat([tf.fill([n, 1], self.num_actions),
                                 tf.cast(explore_actions, tf.int32)[:, :-1]], axis=1)
        goal = tf.tile(tf.constant([[self.none_goal]], tf.int32), [n, T, 1])
        _, (h, c) = self.q.encoder(obs, goal, prev_action, tf.zeros([n, T]),
                                   tf.zeros([n, T], tf.int32), length=explore_length)
        return tf.concat([h, c], axis=-1)

    def _act_execute_fn(self, obs, goal, embedding, state, problem_ids, use_ids):
        return self._execute(obs, goal, embedding, state, problem_ids, use_ids)

    def execute_step_tf(self, obs, goal, embedding, state):
        """obs [N, F], goal [N, 2], embedding [N, 2U], state (h, c) [N, U+1]
        -> (Q [N, A], next state with the greedy action and the started flag)."""
        return self._execute(obs, goal, embedding, state)

    def _execute(self, obs, goal, embedding, state, problem_ids=None, use_ids=None):
        U = self.units
        h, c = state
        first = (c[:, U] == 0)[:, None]
        lstm_state = (tf.where(first, embedding[:, :U], h[:, :U]),
                      tf.where(first, embedding[:, U:], c[:, :U]))
        first = first[:, 0]
        prev_action = tf.where(first, self.num_actions, tf.cast(tf.round(h[:, U]), tf.int32))
        prev_reward = tf.where(first, 0.0, -self.step_cost)
        done = tf.cast(first, tf.int32)
        out, (h_new, c_new) = self.q.encoder.step(obs, goal, prev_action, prev_reward, done,
                                                  lstm_state)
        q = self._head(out, obs, goal, problem_ids, use_ids)
        action = tf.cast(tf.argmax(q, axis=-1), h.dtype)[:, None]
        return q, (tf.concat([h_new, action], 1), tf.concat([c_new, tf.ones_like(action)], 1))

    # ---- learning -----------------------------------------------------------------------
    def train_step(self, batch) -> dict[str, tf.Tensor]:
        """One update on a replay batch of whole trials (see ``trial_inputs``); returns
        metrics tensors (every loss term)."""
        return self._train(_to_tensors(batch))

    @property
    def _huber_delta(self):
        return self.config.huber_delta if self.config.huber_delta > 0 else None

    def sequence_inputs(self, batch):
        """The batch's unified trial sequences (``trial_inputs``)."""
        return trial_inputs(batch, self.num_actions, self.none_goal)

    def network_inputs(self, seq):
        return (seq["obs"], seq["goal"], seq["prev_action"], seq["prev_reward"], seq["done"])

    def td_loss(self, seq, q, q_target):
        """Double-DQN TD loss over the trial's steps; q, q_target [B, S, A]."""
        target = losses.double_dqn_targets(q[:, 1:], q_target[:, 1:], seq["rewards"],
                                           seq["terminal"], self.config.discount)
        return losses.sequence_td_loss(q[:, :-1], seq["actions"], target, seq["step_mask"],
                                       self._huber_delta)

    def loss_terms(self, batch):
        """(terms, metrics) of one update: ``terms`` are the weighted losses whose sum is
        minimised (E-RL²: the TD loss alone); ``metrics`` hold every term and diagnostics."""
        seq = self.sequence_inputs(batch)
        q, _ = self.q(*self.network_inputs(seq))
        q_target, _ = self.q_target(*self.network_inputs(seq))
        td, metrics = self.td_loss(seq, q, q_target)
        return {"td_loss": td}, metrics

    def loss(self, batch):
        """(total loss, metrics with ``loss``) of one update."""
        terms, metrics = self.loss_terms(batch)
        loss = tf.add_n(list(terms.values()))
        return loss, dict(metrics, loss=loss)

    def _train_fn(self, batch):
        with tf.GradientTape() as tape:
            loss, metrics = self.loss(batch)
        apply_gradients(self.optimizer, tape, loss, self.learned_variables(), metrics)
        self.updates.assign_add(1)

        def sync():
            self._sync_targets()
            return tf.constant(True)

        tf.cond(self.updates % self.config.target_update_period == 0, sync,
                lambda: tf.constant(False))
        return metrics

    def _sync_targets(self):
        copy_weights(self.q, self.q_target)

    # ---- export ------------------------------------------------------------------------
    def export_metadata(self) -> dict:
        """Metadata keys of this agent's export (the exporter adds them)."""
        U = self.units
        return {
            "embedding_layout": f"[h; c] of the policy LSTM after the last exploration input "
                                f"(h = embedding[:, :{U}], c = embedding[:, {U}:])",
            "execute_state_layout": f"h[:, :{U}], c[:, :{U}]: the policy LSTM state; h[:, {U}]: "
                                    f"the previous execution action as a float; c[:, {U}]: 1 once "
                                    "the first execution step has run",
            "explore_protocol": self.config.explore_protocol,
        }
