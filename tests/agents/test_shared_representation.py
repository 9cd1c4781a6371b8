"""Hybrid 2 (shared representation): config, the shared-encoder Q-network, the model and
representation losses as the agent wires them, and a tiny launch/train.py run."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from hybrid_helpers import make_agent, random_batch, tensors
from tf_metarl.agents.dream import DreamConfig
from tf_metarl.agents.dream.agent import copy_weights, step_masks
from tf_metarl.agents.registry import ALGORITHMS
from tf_metarl.agents.shared_representation import SharedRepresentationConfig
from tf_metarl.config import ConfigError, apply_overrides, validate_config
from tf_metarl.losses import representation
from tf_metarl.networks.q_networks import ExecuteQNetwork
from tf_metarl.networks.shared_representation import SharedEncoderExecuteQNetwork
from tf_metarl.training.config import make_config

LOSS_KEYS = ("execute/td_loss", "execute/transition_loss", "execute/disambiguation_loss",
             "execute/consecutive_disambiguation_loss", "execute/volume_loss")


@pytest.fixture(scope="module")
def agent():
    return make_agent("shared_representation")


def test_config_subclasses_dream_and_validates_its_fields():
    assert ALGORITHMS["shared_representation"].config_class is SharedRepresentationConfig
    config = make_config("shared_representation", "small_map", "paper")
    assert isinstance(config.agent, DreamConfig)
    assert (config.agent.disambiguation_scale, config.agent.consecutive_disambiguation_weight) == (5.0, 0.2)
    assert make_config("shared_representation", "small_map", "tiny").agent.transition_hidden == (16,)
    config = apply_overrides(config, ["agent.transition_weight=0.5",
                                      "agent.mix_exploration_transitions=true"])
    validate_config(config)
    assert config.agent.transition_weight == 0.5 and config.agent.mix_exploration_transitions
    for override, message in [("agent.disambiguation_scale=0", "disambiguation_scale"),
                              ("agent.volume_weight=-1", "volume_weight"),
                              ("agent.transition_hidden=()", "transition_hidden"),
                              ("agent.discount=2", "discount")]:  # DREAM's checks still run
        with pytest.raises(ConfigError, match=message):
            validate_config(apply_overrides(config, [override]))


def test_q_network_is_dreams_with_the_encoder_exposed():
    args = dict(observation_bounds=(5, 5, 2, 25), goal_bounds=(5, 5), num_actions=7, field_dim=4,
                embed_hidden=8, embed_dim=6, lstm_units=5, hidden_dims=(8,))
    rng = np.random.default_rng(0)
    obs = tf.constant(np.stack([rng.integers(0, b, size=(2, 4)) for b in (5, 5, 2, 25)], -1))
    goal, z = tf.constant([[1, 2], [3, 4]]), tf.constant(rng.normal(size=(2, 3)), tf.float32)
    dream, shared = ExecuteQNetwork(**args), SharedEncoderExecuteQNetwork(**args)
    dream(obs, goal, z)
    shared(obs, goal, z)
    copy_weights(dream, shared)
    q = shared(obs, goal, z)  # [2, 4, 7]
    np.testing.assert_allclose(q, dream(obs, goal, z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shared.q_from_embeddings(shared.encode(obs), goal, z), q, rtol=1e-6)
    state = shared.initial_state(2)
    for t in range(4):  # step by step == whole sequence
        q_t, state = shared.step(obs[:, t], goal, z, state)
        np.testing.assert_allclose(q_t, q[:, t], rtol=1e-5, atol=1e-6)


def test_transition_loss_trains_the_encoder_through_both_ends(agent):
    batch = tensors(random_batch(agent))
    _, z = agent._noisy_problem_embedding(batch["problem_id"])
    e = agent.execute_q.encode(batch["obs"])  # [B, T+1, D]
    with tf.GradientTape() as tape:
        tape.watch(e)
        loss = agent.transition_objective(batch, e, z)
    step_mask = step_masks(batch["length"], agent.horizon)[0]
    expected = representation.transition_loss(agent.transition(e[:, :-1], batch["actions"], z),
                                              e[:, 1:], step_mask)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    grad_norm = tf.norm(tape.gradient(loss, e), axis=-1).numpy()  # [B, T+1]
    for b, length in enumerate(batch["length"].numpy()):
        assert grad_norm[b, 0] > 0  # s_0 is only the model's input
        assert grad_norm[b, length] > 0  # s_length is only a target
        assert np.all(grad_norm[b, length + 1:] == 0)  # padding


def test_disambiguation_pairs_and_weights(agent):
    """Pairs: every state with the same step of the previous episode (rolled batch);
    pairs of identical observations and padding are left out."""
    T, D = agent.horizon, agent.config.embed_dim
    rng = np.random.default_rng(3)
    obs = np.stack([rng.integers(0, b, size=(3, T + 1)) for b in agent.observation_bounds], -1)
    obs[1] = obs[0]  # episode 1 repeats episode 0: pair (1, 0) never counts
    obs[2, :, :] = obs[2, :1, :]  # episode 2 stands still: no consecutive pair counts
    length = np.array([T, 4, 6])
    e = rng.normal(size=(3, T + 1, D)).astype(np.float32)
    step_mask, _, state_mask = step_masks(tf.constant(length), T)
    terms = agent.representation_losses(tf.constant(obs), tf.constant(e), state_mask, step_mask)
    assert [terms[k][0] for k in ("disambiguation_loss", "consecutive_disambiguation_loss",
                                  "volume_loss")] == pytest.approx([1.0, 0.2, 1.0])

    def close(a, b):
        return np.exp(-5.0 * np.linalg.norm(a - b, axis=-1))

    # (0, 2): steps 0..6 of both exist; (2, 1): steps 0..4; (1, 0) identical.
    random_pairs = np.concatenate([close(e[0, :7], e[2, :7]), close(e[2, :5], e[1, :5])])
    differ = (obs[0, :7] != obs[2, :7]).any(-1).tolist() + (obs[2, :5] != obs[1, :5]).any(-1).tolist()
    expected = random_pairs[np.array(differ)].mean()
    assert float(terms["disambiguation_loss"][1]) == pytest.approx(expected, rel=1e-5)
    consecutive = [close(e[b, t], e[b, t + 1]) for b in (0, 1) for t in range(length[b])
                   if (obs[b, t] != obs[b, t + 1]).any()]
    assert float(terms["consecutive_disambiguation_loss"][1]) == pytest.approx(np.mean(consecutive), rel=1e-5)


def test_mixed_exploration_transitions_are_pooled_with_execution_ones():
    # A fresh agent: the module's shared one has been trained by the tests above, and a
    # model trained that way can predict every transition equally badly, which would
    # make pooled and unpooled means equal.
    agent = make_agent("shared_representation")
    batch = tensors(random_batch(agent, seed=4))
    _, z = agent._noisy_problem_embedding(batch["problem_id"])
    e = agent.execute_q.encode(batch["obs"])
    noise_state = agent.noise_rng.state.numpy()
    config = agent.config
    agent.config = dataclasses.replace(config, mix_exploration_transitions=True)
    try:
        loss = agent.transition_objective(batch, e, z)
    finally:
        agent.config = config
    agent.noise_rng.state.assign(noise_state)  # the exploration episodes' z, drawn again
    _, z_x = agent._noisy_problem_embedding(batch["x_problem_id"])
    sums, counts = {}, {}
    for prefix, z_s in (("", z), ("x_", z_x)):
        e_s = agent.execute_q.encode(batch[prefix + "obs"])
        errors = tf.reduce_sum(tf.square(agent.transition(e_s[:, :-1], batch[prefix + "actions"], z_s)
                                         - e_s[:, 1:]), -1)
        mask = step_masks(batch[prefix + "length"], agent.horizon)[0]
        sums[prefix], counts[prefix] = float(tf.reduce_sum(errors * mask)), float(tf.reduce_sum(mask))
    execution_mean, exploration_mean = sums[""] / counts[""], sums["x_"] / counts["x_"]
    assert abs(execution_mean - exploration_mean) > 1e-3 * execution_mean  # so pooling shows
    pooled = (sums[""] + sums["x_"]) / (counts[""] + counts["x_"])
    assert float(loss) == pytest.approx(pooled, rel=1e-5)
    assert float(agent.transition_objective(batch, e, z)) == pytest.approx(execution_mean, rel=1e-5)


def test_train_step_logs_every_term_and_trains_encoder_and_model(agent):
    model_before = [v.numpy().copy() for v in agent.transition.trainable_variables]
    encoder_before = [v.numpy().copy() for v in agent.execute_q.state_embedder.trainable_variables]
    metrics = agent.train_step(random_batch(agent, seed=1))
    for key in LOSS_KEYS + ("execute/model_loss", "execute/decoder_loss", "explore/td_loss"):
        assert np.isfinite(float(metrics[key])), key
    assert all(np.any(v.numpy() != b) for v, b in zip(agent.transition.trainable_variables, model_before))
    assert all(np.any(v.numpy() != b)
               for v, b in zip(agent.execute_q.state_embedder.trainable_variables, encoder_before))


def test_launch_train_writes_checkpoint_and_csvs(hybrid_launch_runs):
    """The tiny run (started by conftest.py) finishes and writes its files; its checkpoint
    holds the dynamics model with the rest of the agent."""
    run = hybrid_launch_runs["shared_representation"]
    assert "return on all problems (small_map has no held-out split)" in run.wait()
    run.check_files(LOSS_KEYS)
    assert {"transition", "execute_q", "execute_optimizer"} <= run.checkpointed_agent_attributes()
