"""The DREAM agent: networks, acting functions and the two learners.

Acting (``explore_q``, ``task_embedding``, ``execute_q``) takes and returns numpy arrays
and runs one batched ``tf.function`` call for all trials. Learning (``update_execute``,
``update_explore``) is one ``tf.function`` step each and returns a metrics dict.

Hybrids subclass this agent and override the pieces that differ (the task embedding,
the execution policy, extra losses).
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import keras

from tf_metarl import losses
from tf_metarl.agents.dream.config import DreamConfig
from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.networks.q_networks import ExecuteQNetwork, ExploreQNetwork
from tf_metarl.networks.task_embedding import ProblemEncoder, TrajectoryDecoder


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    for s, t in zip(source.variables, target.variables):
        t.assign(s)


def apply_gradients(optimizer, tape, loss, variables, metrics=None):
    """Gradient step on ``variables``; records the pre-clip global norm in ``metrics``."""
    grads = tape.gradient(loss, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    if metrics is not None:
        metrics["grad_norm"] = tf.linalg.global_norm(grads)
    optimizer.apply_gradients(zip(grads, variables))


def step_masks(length, horizon: int):
    """step_mask [B, T] (t < length), terminal [B, T] (t == length - 1), prefix_mask [B, T+1]."""
    length = tf.cast(length, tf.int32)
    step_mask = tf.sequence_mask(length, horizon, dtype=tf.float32)
    terminal = tf.one_hot(length - 1, horizon, dtype=tf.float32)
    prefix_mask = tf.sequence_mask(length + 1, horizon + 1, dtype=tf.float32)
    return step_mask, terminal, prefix_mask


class DreamAgent(tf.Module):
    """DREAM's exploration and execution agents, problem-ID encoder and decoder.

    Args:
      config: Hyper-parameters.
      layout: The training layout (observation bounds, actions, problems, horizon).
      seed: Seeds the bottleneck noise generator (network initialisation is seeded by
        ``tf_metarl.training.seeding.seed_everything`` before construction).
      use_tf_function: False runs everything eagerly, for debugging.
    """

    algorithm = "dream"
    # True: the runner also stores each trial's exploration episode with its execution
    # episode (fields trial_x_obs, trial_x_actions, trial_x_length), for hybrids that
    # need the two episodes of the same trial together.
    replay_trial_exploration = False
    # Two learners (exploration and execution), each with its own replay, epsilon and
    # updates owed; True is the runner's single-learner mode (see ``ERL2Agent``).
    single_learner = False

    def __init__(self, config: DreamConfig, layout: BusMapLayout, seed: int = 0,
                 use_tf_function: bool = True):
        super().__init__(name=self.algorithm)
        self.config = config
        self.observation_bounds = tuple(layout.observation_bounds)
        self.goal_bounds = tuple(layout.goal_bounds)
        self.num_actions = layout.num_actions
        self.num_problems = layout.num_problems
        self.horizon = layout.horizon
        self.noise_rng = tf.random.Generator.from_seed(seed)
        self.execute_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.explore_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._build_networks()
        self._build_optimizers()
        wrap = tf.function if use_tf_function else (lambda f: f)
        self._explore_step = wrap(self.explore_step_tf)
        self._execute_step = wrap(self.execute_step_tf)
        self._task_embedding = wrap(self._task_embedding_fn)
        # One traced step per combination, so both learners' ops can run concurrently.
        self._train_execute = wrap(self._update_execute_fn)
        self._train_explore = wrap(self._update_explore_fn)
        self._train_both = wrap(self._update_both_fn)

    # ---- construction ----------------------------------------------------------------------
    def _make_execute_q(self):
        c = self.config
        return ExecuteQNetwork(self.observation_bounds, self.goal_bounds, self.num_actions,
                               field_dim=c.field_dim, embed_hidden=c.embed_hidden,
                               embed_dim=c.embed_dim, lstm_units=c.q_lstm_units,
                               hidden_dims=c.q_hidden, relu_output=c.q_torso_relu_output)

    def _make_explore_q(self):
        c = self.config
        return ExploreQNetwork(self.observation_bounds, self.num_actions, field_dim=c.field_dim,
                               embed_hidden=c.embed_hidden, embed_dim=c.embed_dim,
                               action_dim=c.action_dim, lstm_units=c.q_lstm_units,
                               hidden_dims=c.explore_q_hidden, relu_output=c.q_torso_relu_output)

    @property
    def execution_embedding_dim(self) -> int:
        """Size of the embedding the execution policy is conditioned on."""
        return self.config.z_dim

    def _build_networks(self):
        c = self.config
        self.execute_q = self._make_execute_q()
        self.execute_q_target = self._make_execute_q()
        self.explore_q = self._make_explore_q()
        self.explore_q_target = self._make_explore_q()
        self.encoder = ProblemEncoder(self.num_problems, c.problem_id_dim, c.z_dim)
        self.decoder = TrajectoryDecoder(
            self.observation_bounds, self.num_actions, field_dim=c.field_dim,
            embed_hidden=c.embed_hidden, embed_dim=c.embed_dim, action_dim=c.action_dim,
            transition_dims=c.decoder_transition, lstm_units=c.decoder_lstm_units,
            output_hidden=c.decoder_output_hidden, z_dim=c.z_dim)
        # Build every network on dummy inputs so variables exist before restore/copy.
        T, F = self.horizon, len(self.observation_bounds)
        obs = tf.zeros([1, T + 1, F], tf.int32)
        goal = tf.zeros([1, 2], tf.int32)
        actions = tf.zeros([1, T], tf.int32)
        z = tf.zeros([1, self.execution_embedding_dim])
        for net in (self.execute_q, self.execute_q_target):
            net(obs, goal, z)
        for net in (self.explore_q, self.explore_q_target):
            net(obs, tf.zeros([1, T + 1], tf.int32))
        self.encoder(tf.zeros([1], tf.int32))
        self.decoder(obs, actions)
        copy_weights(self.execute_q, self.execute_q_target)
        copy_weights(self.explore_q, self.explore_q_target)

    def _make_optimizer(self, variables):
        optimizer = keras.optimizers.Adam(self.config.learning_rate,
                                          epsilon=self.config.adam_epsilon,
                                          global_clipnorm=self.config.grad_clip_norm)
        optimizer.build(variables)
        return optimizer

    def execute_variables(self):
        """Variables trained by the execution learner."""
        return (self.execute_q.trainable_variables + self.encoder.trainable_variables
                + self.decoder.trainable_variables)

    def explore_variables(self):
        """Variables trained by the exploration learner."""
        return self.explore_q.trainable_variables

    def learned_variables(self):
        """Every variable the learners train: what a copy of the agent that acts needs
        from it, and what must stay finite. (Keras 3 layers are not ``tf.Module``s, so the
        agent's own ``trainable_variables`` does not see them.)"""
        return self.execute_variables() + self.explore_variables()

    def _build_optimizers(self):
        self.execute_optimizer = self._make_optimizer(self.execute_variables())
        self.explore_optimizer = self._make_optimizer(self.explore_variables())

    # ---- acting (numpy in, numpy out) -------------------------------------------------------
    @contextlib.contextmanager
    def evaluation_mode(self):
        """Acting inside this context is test time, and leaves training as it was: the
        problem-ID noise it draws (unused when z comes from the decoder) is put back, so
        how often a run evaluates does not change what it learns. DREAM acts the same
        either way; agents that act differently at test time extend this context."""
        noise_state = tf.identity(self.noise_rng.state)
        try:
            yield self
        finally:
            self.noise_rng.reset(noise_state)

    def explore_initial_state(self, batch_size: int):
        return self.explore_q.initial_state(batch_size)

    def execute_initial_state(self, batch_size: int):
        return self.execute_q.initial_state(batch_size)

    def explore_q_values(self, obs, prev_action, state):
        """obs [N, F], prev_action [N], state -> (Q [N, A] numpy, new state)."""
        q, state = self._explore_step(tf.constant(obs, tf.int32), tf.constant(prev_action, tf.int32),
                                      state)
        return q.numpy(), state

    def execute_q_values(self, obs, goal, z, state):
        """obs [N, F], goal [N, 2], z [N, Z], state -> (Q [N, A] numpy, new state)."""
        q, state = self._execute_step(tf.constant(obs, tf.int32), tf.constant(goal, tf.int32),
                                      tf.constant(z, tf.float32), state)
        return q.numpy(), state

    def task_embedding(self, explore_obs, explore_actions, explore_length, problem_ids,
                       use_decoder):
        """The z each trial's execution episode is conditioned on, [N, Z] numpy.

        ``use_decoder[i]``: trial i uses the decoder's reading of its exploration episode;
        otherwise f(problem_id) + bottleneck noise (DREAM's meta-training alternation).
        """
        z = self._task_embedding(
            tf.constant(explore_obs, tf.int32), tf.constant(explore_actions, tf.int32),
            tf.constant(explore_length, tf.int32), tf.constant(problem_ids, tf.int32),
            tf.constant(use_decoder, tf.bool))
        return z.numpy()

    # TensorFlow-level policy functions: what acting and SavedModel export call.
    def explore_step_tf(self, obs, prev_action, state):
        """obs [N, F] int, prev_action [N] int (num_actions = none yet), state (h, c)
        -> (Q [N, A], next state). The exploration action is argmax Q."""
        return self.explore_q.step(obs, prev_action, state)

    def execute_step_tf(self, obs, goal, z, state):
        """obs [N, F], goal [N, 2], z [N, Z], state -> (Q [N, A], next state).
        The execution action is argmax Q."""
        return self.execute_q.step(obs, goal, z, state)

    def embed_exploration_tf(self, explore_obs, explore_actions, explore_length):
        """The task embedding test-time execution is conditioned on, [N, Z]: here the
        decoder's prediction after the whole exploration episode.

        explore_obs [N, T+1, F], explore_actions [N, T], explore_length [N]."""
        return self.decode_exploration(explore_obs, explore_actions, explore_length)

    def decode_exploration(self, explore_obs, explore_actions, explore_length):
        """The decoder's prediction after the whole exploration episode, [N, Z]."""
        predictions = self.decoder(explore_obs, explore_actions)  # [N, T+1, Z]
        return tf.gather(predictions, explore_length, axis=1, batch_dims=1)

    def _noisy_problem_embedding(self, problem_ids):
        f = self.encoder(problem_ids)
        seed = tf.cast(self.noise_rng.make_seeds(1)[:, 0], tf.int32)
        return f, losses.sample_bottleneck(f, self.config.bottleneck_noise, seed)

    def _task_embedding_fn(self, explore_obs, explore_actions, explore_length, problem_ids,
                           use_decoder):
        decoded = self.embed_exploration_tf(explore_obs, explore_actions, explore_length)
        _, z_encoder = self._noisy_problem_embedding(problem_ids)
        return tf.where(use_decoder[:, None], decoded, z_encoder)

    # ---- learning ---------------------------------------------------------------------------
    def train_step(self, batch, execute: bool = True, explore: bool = True) -> dict[str, tf.Tensor]:
        """One update of the execution learner, the exploration learner, or both.

        ``batch`` holds execution episodes (obs, goal, actions, rewards, length,
        problem_id) and exploration episodes (x_obs, x_actions, x_length, x_problem_id);
        the exploration episodes also train the decoder. Returns metrics tensors keyed
        ``execute/...`` and ``explore/...``.
        """
        if not (execute or explore):
            raise ValueError("train_step needs execute or explore")
        step = (self._train_both if execute and explore
                else self._train_execute if execute else self._train_explore)
        return step(_to_tensors(batch))

    def execution_td_loss(self, batch, z, q=None):
        """Double-DQN loss of the execution Q-network conditioned on z [B, Z].

        ``q``: the online Q-values [B, T+1, A], when the caller has them already (hybrid 2
        computes them from state embeddings it shares with its model)."""
        step_mask, terminal, _ = step_masks(batch["length"], batch["actions"].shape[1])
        if q is None:
            q = self.execute_q(batch["obs"], batch["goal"], z)  # [B, T+1, A]
        q_target = self.execute_q_target(batch["obs"], batch["goal"], tf.stop_gradient(z))
        target = losses.double_dqn_targets(q[:, 1:], q_target[:, 1:], batch["rewards"],
                                           terminal, self.config.discount)
        return losses.sequence_td_loss(q[:, :-1], batch["actions"], target, step_mask,
                                       self._huber_delta)

    @property
    def _huber_delta(self):
        return self.config.huber_delta if self.config.huber_delta > 0 else None

    def decoder_objective(self, batch):
        """Decoder loss on the exploration episodes ``x_*`` of the batch.

        Returns (loss, decoder predictions [B, T+1, Z], f(x_problem_id) [B, Z])."""
        _, _, prefix_mask = step_masks(batch["x_length"], batch["x_actions"].shape[1])
        predictions = self.decoder(batch["x_obs"], batch["x_actions"])
        f = self.encoder(batch["x_problem_id"])
        return losses.decoder_loss(predictions, f, prefix_mask), predictions, f

    def _update_execute_fn(self, batch):
        return self._execute_update(batch)[0]

    def _update_explore_fn(self, batch):
        predictions = self.decoder(batch["x_obs"], batch["x_actions"])
        return self._explore_update(batch, predictions, self.encoder(batch["x_problem_id"]))

    def _update_both_fn(self, batch):
        # The exploration rewards reuse the decoder pass of the execution update (taken
        # before its gradient step): the same "current f and g" at sampling time.
        execute_metrics, predictions, f = self._execute_update(batch)
        return {**execute_metrics, **self._explore_update(batch, predictions, f)}

    def _execute_update(self, batch):
        """Execution Q TD loss (z = f(mu) + noise) + bottleneck penalty + decoder loss.

        ``batch``: execution episodes (obs [B, T+1, F], goal [B, 2], actions [B, T],
        rewards [B, T], length [B], problem_id [B]) and exploration episodes for the
        decoder (x_obs, x_actions, x_length, x_problem_id).
        """
        variables = self.execute_variables()
        with tf.GradientTape() as tape:
            loss, metrics, predictions, f_explore = self._execute_loss(batch)
        apply_gradients(self.execute_optimizer, tape, loss, variables, metrics)
        self._count_update(self.execute_updates, self.execute_q, self.execute_q_target)
        return {f"execute/{k}": v for k, v in metrics.items()}, predictions, f_explore

    def _execute_loss(self, batch):
        """The execution learner's loss, computed under its tape (hybrids override this).

        Returns (loss, metrics, decoder predictions [B, T+1, Z] and f [B, Z] on the
        batch's exploration episodes)."""
        f, z = self._noisy_problem_embedding(batch["problem_id"])
        td, metrics = self.execution_td_loss(batch, z)
        terms, predictions, f_explore = self.task_embedding_terms(batch, f)
        loss = td + terms["bottleneck_penalty"] + terms["decoder_loss"]
        metrics.update(terms, loss=loss)
        return loss, metrics, predictions, f_explore

    def task_embedding_terms(self, batch, f):
        """DREAM's loss terms besides the TD loss, which every hybrid keeps: the
        information-bottleneck penalty on f(mu) [B, Z] and the decoder loss.

        Returns (terms: the two weighted losses and the bottleneck KL, a metric; decoder
        predictions [B, T+1, Z]; f [B, Z] on the batch's exploration episodes).
        Without noise (``bottleneck_noise=0``) z = f(mu) carries unbounded information,
        so the KL is not defined and not reported."""
        c = self.config
        decoder, predictions, f_explore = self.decoder_objective(batch)
        terms = {
            "bottleneck_penalty": c.bottleneck_weight * losses.bottleneck_penalty(f, c.bottleneck_norm_floor),
            "decoder_loss": decoder,
        }
        if c.bottleneck_noise > 0:
            terms["bottleneck_kl"] = losses.bottleneck_kl(f, c.bottleneck_noise)
        return terms, predictions, f_explore

    def _explore_update(self, batch, predictions, f):
        """Double DQN of the exploration Q-network on relabelled decoder-gain rewards.

        ``predictions`` and ``f`` are the decoder's and encoder's outputs on the batch's
        exploration episodes (gradients are stopped in the reward)."""
        c = self.config
        step_mask, terminal, _ = step_masks(batch["x_length"], batch["x_actions"].shape[1])
        rewards = losses.exploration_rewards(predictions, f, step_mask, c.exploration_step_penalty)
        no_action = tf.fill([tf.shape(batch["x_actions"])[0], 1], self.num_actions)
        prev_actions = tf.concat([no_action, tf.cast(batch["x_actions"], tf.int32)], axis=1)
        with tf.GradientTape() as tape:
            q = self.explore_q(batch["x_obs"], prev_actions)  # [B, T+1, A]
            q_target = self.explore_q_target(batch["x_obs"], prev_actions)
            target = losses.double_dqn_targets(q[:, 1:], q_target[:, 1:], rewards, terminal,
                                               c.discount)
            loss, metrics = losses.sequence_td_loss(q[:, :-1], batch["x_actions"], target,
                                                    step_mask, self._huber_delta)
        apply_gradients(self.explore_optimizer, tape, loss, self.explore_variables(), metrics)
        self._count_update(self.explore_updates, self.explore_q, self.explore_q_target)
        metrics["reward_mean"] = losses.masked_mean(rewards, step_mask)
        return {f"explore/{k}": v for k, v in metrics.items()}

    def _count_update(self, counter, online, target):
        """Counts an update; every ``target_update_period`` updates the target copies online."""
        def sync():
            copy_weights(online, target)
            return tf.constant(True)

        counter.assign_add(1)
        tf.cond(counter % self.config.target_update_period == 0, sync, lambda: tf.constant(False))


def _to_tensors(batch):
    return {k: tf.convert_to_tensor(v) for k, v in batch.items()}
