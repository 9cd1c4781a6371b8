"""Hybrid 1 (gradient embedder): config, embedding sizes, the learner's metrics, the
gradient path from the embedder into the dynamics model, and a tiny launch/train.py run."""

import csv
import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.agents.dream import DreamConfig
from tf_metarl.agents.gradient_embedder import GradientEmbedderAgent
from tf_metarl.config import ConfigError, apply_overrides, validate_config
from tf_metarl.training.config import make_config

TRAIN = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"


def make_agent(**overrides):
    config = make_config("gradient_embedder", "small_map", "tiny")
    agent_config = dataclasses.replace(config.agent, dynamics_hidden=(8,),
                                       gradient_embedder_hidden=(8,), **overrides)
    validate_config(agent_config)
    layout = config.env.make_layout()
    tf.keras.utils.set_random_seed(0)
    return GradientEmbedderAgent(agent_config, layout, seed=0, use_tf_function=False)


# Two agents for the whole module (building one costs seconds): the default, and one
# with every option flipped.
@pytest.fixture(scope="module")
def default_agent():
    return make_agent()


@pytest.fixture(scope="module")
def variant_agent():
    return make_agent(embedder_mode="replace", embedder_grads_to_dynamics=False,
                      learn_inner_rates=True, inner_steps=2, multi_step_loss=True)


def random_batch(agent, batch_size=3, seed=0):
    """A replay-shaped batch: execution episodes, their trials' exploration episodes
    (trial_x_*), and independently sampled exploration episodes (x_*)."""
    rng = np.random.default_rng(seed)
    T, B = agent.horizon, batch_size

    def episode():
        obs = np.stack([rng.integers(0, b, size=(B, T + 1)) for b in agent.observation_bounds], -1)
        return obs, rng.integers(0, agent.num_actions, size=(B, T)), rng.integers(1, T + 1, size=B)

    (obs, actions, length), (x_obs, x_actions, x_length), (t_obs, t_actions, t_length) = (
        episode(), episode(), episode())
    return dict(obs=obs, actions=actions, length=length, goal=rng.integers(0, 5, size=(B, 2)),
                rewards=rng.normal(size=(B, T)).astype(np.float32),
                problem_id=rng.integers(0, agent.num_problems, size=B),
                x_obs=x_obs, x_actions=x_actions, x_length=x_length,
                x_problem_id=rng.integers(0, agent.num_problems, size=B),
                trial_x_obs=t_obs, trial_x_actions=t_actions, trial_x_length=t_length)


def test_config_subclasses_dream_and_validates_its_fields():
    config = make_config("gradient_embedder", "small_map", "tiny")
    assert isinstance(config.agent, DreamConfig) and config.agent.embedder_mode == "concat"
    config = apply_overrides(config, ["agent.inner_steps=2", "agent.embedder_mode=replace",
                                      "agent.first_order=true"])
    validate_config(config)
    assert (config.agent.inner_steps, config.agent.first_order) == (2, True)
    for override, message in [("agent.embedder_mode=sum", "expected 'concat' or 'replace'"),
                              ("agent.inner_steps=0", "inner_steps"),
                              ("agent.discount=2", "discount")]:  # DREAM's checks still run
        with pytest.raises(ConfigError, match=message):
            validate_config(apply_overrides(config, [override]))


@pytest.mark.parametrize("agent_name, size", [("default_agent", 16), ("variant_agent", 8)])
def test_embedding_sizes_and_the_learners_metrics(agent_name, size, request):
    """concat: [decoder's z, h_phi] (2 z_dim, z_dim = 8 in the tiny preset); replace: h_phi."""
    agent = request.getfixturevalue(agent_name)
    assert agent.execution_embedding_dim == size
    batch = random_batch(agent)
    embedding = agent.embed_exploration_tf(*(tf.constant(batch[k], tf.int32)
                                             for k in ("x_obs", "x_actions", "x_length")))
    assert embedding.shape == (3, size)
    z = agent.task_embedding(batch["x_obs"], batch["x_actions"], batch["x_length"],
                             batch["x_problem_id"], np.array([True, False, True]))
    assert z.shape == (3, size)
    # Test-time embedding == the meta-training one of a decoder trial.
    np.testing.assert_allclose(z[0], embedding[0], rtol=1e-5, atol=1e-6)
    updates = int(agent.execute_updates.numpy())
    metrics = agent.train_step(batch)
    for key in ("execute/dynamics_loss_pre", "execute/dynamics_loss_post",
                "execute/gradient_embedder_loss", "execute/td_loss", "execute/decoder_loss",
                "explore/td_loss"):
        assert np.isfinite(float(metrics[key])), key
    assert int(agent.execute_updates.numpy()) == updates + 1


def embedder_gradient_to_theta(agent):
    """Gradient w.r.t. theta of the execution loss without the dynamics meta-loss: the
    only path left into theta is through the inner gradients the embedder reads."""
    batch = {k: tf.constant(v) for k, v in random_batch(agent, seed=1).items()}
    with tf.GradientTape() as tape:
        loss, metrics, _, _ = agent._execute_loss(batch)
        loss -= agent.config.dynamics_loss_weight * metrics["dynamics_meta_loss"]
    grads = tape.gradient(loss, agent.dynamics.trainable_variables)
    return [np.zeros(v.shape) if g is None else g.numpy()
            for g, v in zip(grads, agent.dynamics.trainable_variables)]


def test_embedder_losses_reach_theta_through_the_inner_loop_unless_switched_off(
        default_agent, variant_agent):
    assert all(np.abs(g).max() > 0 for g in embedder_gradient_to_theta(default_agent))
    assert all(np.abs(g).max() == 0 for g in embedder_gradient_to_theta(variant_agent))


def test_learned_inner_rates_are_trained_and_checkpointed(variant_agent, tmp_path):
    agent = variant_agent
    rates = agent.inner_rates.rates
    assert rates.shape == (2, 4) and any(v is rates for v in agent.execute_variables())
    before = rates.numpy().copy()
    metrics = agent.train_step(random_batch(agent, seed=2))
    assert "execute/inner_learning_rate_mean" in metrics
    assert np.all(rates.numpy() != before)
    saved = [v.numpy().copy() for v in [rates] + agent.dynamics.variables]
    path = tf.train.Checkpoint(agent=agent).save(str(tmp_path / "ckpt"))
    for v in [rates] + agent.dynamics.variables:
        v.assign(tf.zeros_like(v))
    tf.train.Checkpoint(agent=agent).restore(path).assert_existing_objects_matched()
    for value, v in zip(saved, [rates] + agent.dynamics.variables):
        np.testing.assert_array_equal(v.numpy(), value)


def test_launch_train_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, str(TRAIN), "--algorithm=gradient_embedder", "--config_preset=tiny",
         "--env_preset=small_map", "--override=run.total_env_steps=300", f"--root_dir={tmp_path}"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "return on all problems (small_map has no held-out split)" in result.stdout
    assert json.loads((tmp_path / "config.json").read_text())["algorithm"] == "gradient_embedder"
    assert (tmp_path / "checkpoints" / "checkpoint").exists()
    with open(tmp_path / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert int(rows[-1]["env_steps"]) >= 300
    for key in ("execute/dynamics_loss_pre", "execute/dynamics_loss_post",
                "execute/gradient_embedder_loss", "execute/td_loss"):
        assert np.isfinite(float(rows[-1][key])), key
    with open(tmp_path / "eval.csv", newline="") as f:
        assert list(csv.DictReader(f))
