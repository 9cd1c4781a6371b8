"""Hybrid 3 (planning): the planner on a hand-built model, the agent's planning wiring
(latent and raw), the options, checkpoint, export, and a tiny launch/train.py run."""

import contextlib
import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf

from hybrid_helpers import make_agent, random_batch
from tf_metarl.agents.planning import PlanningConfig, plan_q_values
from tf_metarl.agents.registry import ALGORITHMS
from tf_metarl.agents.shared_representation import SharedRepresentationConfig
from tf_metarl.config import ConfigError, apply_overrides, validate_config
from tf_metarl.networks.shared_representation import one_hot_fields
from tf_metarl.training.config import load_config, make_config

# ---- the planner on a hand-built model --------------------------------------------------------
# Abstract states x = (x1, x2); 3 actions: 0 moves +x1, 1 moves +x2, 2 stays.
#   T(x, a) = x + D[a],  r(x, a) = (0, 0, 1)[a],  g(x, a) = 0.5,
#   Q(x, .) = (x1, x2, (x1 + x2) / 5 + 0.1).
MOVES = tf.constant([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
REWARDS = tf.constant([0.0, 0.0, 1.0])


def toy_q(x):
    return tf.stack([x[:, 0], x[:, 1], (x[:, 0] + x[:, 1]) / 5.0 + 0.1], axis=-1)


def toy_model(x, actions):
    return x + tf.gather(MOVES, actions), tf.gather(REWARDS, actions), tf.fill(tf.shape(actions), 0.5)


ROOT = tf.constant([[1.0, 3.0]])
# Q^0(root) = Q(1, 3) = (1, 3, 0.9)
Q0 = [1.0, 3.0, 0.9]
# Level 1: a0 -> (2, 3), Q = (2, 3, 1.1), max 3;  a1 -> (1, 4), Q = (1, 4, 1.1), max 4;
#          a2 -> (1, 3), Q = (1, 3, 0.9), max 3.
# Q^1 = (0 + 0.5 * 3, 0 + 0.5 * 4, 1 + 0.5 * 3)
Q1 = [1.5, 2.0, 2.5]
# Depth 2, b = 2 (top-2 by Q at each level-1 node):
#   (2, 3): top a1, a0. a1 -> (2, 4): 0 + 0.5 * 4 = 2;  a0 -> (3, 3): 0 + 0.5 * 3 = 1.5   -> V = 2
#   (1, 4): top a1, a2. a1 -> (1, 5): 0 + 0.5 * 5 = 2.5; a2 -> (1, 4): 1 + 0.5 * 4 = 3    -> V = 3
#   (1, 3): top a1, a0. a1 -> (1, 4): 0 + 0.5 * 4 = 2;  a0 -> (2, 3): 0 + 0.5 * 3 = 1.5   -> V = 2
# Q^2 = (0 + 0.5 * 2, 0 + 0.5 * 3, 1 + 0.5 * 2)
Q2_B2 = [1.0, 1.5, 2.0]
# b = 3 adds the pruned "stay" (a2) below (2, 3) and (1, 3): 1 + 0.5 * 3 = 2.5 beats 2 there,
# so V = (2.5, 3, 2.5) and Q^2 = (1.25, 1.5, 2.25).
Q2_B3 = [1.25, 1.5, 2.25]
# b = 1 keeps only a1 below every node: V = (2, 2.5, 2) -> Q^2 = (1, 1.25, 2).
Q2_B1 = [1.0, 1.25, 2.0]


def plan(depth, breadth=2, estimate="deepest", root=ROOT):
    return plan_q_values(toy_q, toy_model, root, 3, depth, breadth, estimate).numpy()


def test_depth_zero_is_plain_q():
    np.testing.assert_allclose(plan(0), [Q0])
    np.testing.assert_allclose(plan(0, estimate="average"), [Q0])


def test_depth_one_and_two_by_hand():
    np.testing.assert_allclose(plan(1), [Q1], rtol=1e-6)
    np.testing.assert_allclose(plan(1, breadth=1), [Q1], rtol=1e-6)  # no pruning at depth 1
    np.testing.assert_allclose(plan(2, breadth=2), [Q2_B2], rtol=1e-6)


def test_top_b_pruning():
    np.testing.assert_allclose(plan(2, breadth=3), [Q2_B3], rtol=1e-6)
    np.testing.assert_allclose(plan(2, breadth=7), [Q2_B3], rtol=1e-6)  # b > A: everything
    np.testing.assert_allclose(plan(2, breadth=1), [Q2_B1], rtol=1e-6)


def test_average_over_depths():
    # depth 1: (Q^0 + Q^1) / 2; depth 2, b = 2: (Q^0 + Q^1 + Q^2) / 3 = (3.5, 6.5, 5.4) / 3
    np.testing.assert_allclose(plan(1, estimate="average"), [[1.25, 2.5, 1.7]], rtol=1e-6)
    np.testing.assert_allclose(plan(2, estimate="average"), [[3.5 / 3, 6.5 / 3, 1.8]], rtol=1e-6)
    # The greedy action changes with the estimate: Q^0 -> 1, Q^1 and Q^2 -> 2, average -> 1.


def test_batched_roots_under_tf_function_match_single_roots():
    roots = tf.constant([[1.0, 3.0], [0.5, -1.0], [2.0, 0.25], [-1.0, 4.0]])
    planner = tf.function(lambda x: plan_q_values(toy_q, toy_model, x, 3, 3, 2, "average"),
                          input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    batched = planner(roots).numpy()
    for i in range(4):
        np.testing.assert_allclose(batched[i], plan(3, estimate="average", root=roots[i:i + 1])[0],
                                   rtol=1e-6)


def test_states_may_be_nests():
    root = {"x": ROOT, "tag": tf.constant([[7]])}

    def model(node, actions):
        x, r, g = toy_model(node["x"], actions)
        assert node["tag"].shape[0] == actions.shape[0]  # carried along, node for node
        return {**node, "x": x}, r, g

    values = plan_q_values(lambda node: toy_q(node["x"]), model, root, 3, 2, 2, "deepest")
    np.testing.assert_allclose(values, [Q2_B2], rtol=1e-6)


# ---- config ---------------------------------------------------------------------------------------
def test_config_subclasses_hybrid_2_and_validates_its_fields():
    assert ALGORITHMS["planning"].config_class is PlanningConfig
    config = make_config("planning", "small_map", "paper")
    assert isinstance(config.agent, SharedRepresentationConfig)
    assert (config.agent.planning_breadth, config.agent.planning_estimate) == (2, "average")
    tiny = make_config("planning", "small_map", "tiny").agent
    assert (tiny.transition_hidden, tiny.value_head_hidden, tiny.z_dim) == ((16,), (16,), 8)
    config = apply_overrides(config, ["agent.planning_depth=3", "agent.planning_space=raw",
                                      "agent.plan_in_training=false"])
    validate_config(config)
    for override, message in [("agent.planning_depth=4", "planning_depth"),
                              ("agent.planning_breadth=0", "planning_breadth"),
                              ("agent.planning_estimate=max", "planning_estimate"),
                              ("agent.planning_space=pixels", "planning_space"),
                              ("agent.disambiguation_scale=0", "disambiguation_scale"),  # hybrid 2's
                              ("agent.discount=2", "discount")]:  # DREAM's
        with pytest.raises(ConfigError, match=message):
            validate_config(apply_overrides(config, [override]))


# ---- the agent ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def agent():
    """Latent planning, the defaults: depth 2, b = 2, average, planning in training."""
    return make_agent("planning")


@pytest.fixture(scope="module")
def raw_agent():
    """Every option flipped: raw states, Q^D at depth 1, plain Q in training, mixing."""
    return make_agent("planning", planning_space="raw", planning_depth=1,
                      planning_estimate="deepest", plan_in_training=False,
                      mix_exploration_transitions=True)


@contextlib.contextmanager
def configured(agent, **changes):
    """Temporarily changes the (eager) agent's config."""
    config = agent.config
    agent.config = dataclasses.replace(config, **changes)
    try:
        yield agent
    finally:
        agent.config = config


def acting_inputs(agent, n=5, seed=0):
    """Observations, goals, z, and the LSTM state after one real step (not the zero state)."""
    batch = random_batch(agent, batch_size=n, seed=seed)
    obs = tf.constant(batch["obs"][:, 1], tf.int32)
    goal = tf.constant(batch["goal"], tf.int32)
    z = tf.constant(np.random.default_rng(seed).normal(size=(n, agent.config.z_dim)), tf.float32)
    _, state = agent.plain_execute_step_tf(tf.constant(batch["obs"][:, 0], tf.int32), goal, z,
                                           agent.execute_initial_state(n))
    return obs, goal, z, state


def depth_one_by_hand(agent, obs, goal, z, state):
    """Q^0 and Q^1 computed action by action from the agent's networks: an imagined step
    feeds T(x, a) to the LSTM from the state after the real observation."""
    q_net = agent.execute_q
    e, goal_embedding = q_net.encode(obs), q_net.embed_goal(goal)
    h, state = q_net.recur(e, goal_embedding, state)
    if agent.raw:
        x, context = one_hot_fields(obs, agent.observation_bounds), tf.concat(
            [z, one_hot_fields(goal, agent.goal_bounds)], -1)
    else:
        x, context = e, tf.concat([z, goal_embedding], -1)
    q1 = []
    for a in range(agent.num_actions):
        actions = tf.fill([obs.shape[0]], a)
        if agent.raw:
            logits = tf.split(agent.raw_transition(obs, actions, z), agent.observation_bounds, -1)
            e_next = q_net.encode(tf.stack([tf.argmax(l, -1, output_type=tf.int32) for l in logits], -1))
        else:
            e_next = agent.transition(e, actions, z)
        h_next, _ = q_net.recur(e_next, goal_embedding, state)
        value = tf.reduce_max(q_net.q_head(h_next, z), -1)
        q1.append(agent.reward_head(x, actions, context) + agent.discount_head(x, actions, context) * value)
    return q_net.q_head(h, z).numpy(), tf.stack(q1, -1).numpy(), state


def test_agent_depth_zero_is_the_plain_q_network(agent):
    obs, goal, z, state = acting_inputs(agent)
    plain, plain_state = agent.plain_execute_step_tf(obs, goal, z, state)
    with configured(agent, planning_depth=0):
        planned, planned_state = agent.execute_step_tf(obs, goal, z, state)
    np.testing.assert_allclose(planned, plain, rtol=1e-6)
    np.testing.assert_allclose(planned_state[0], plain_state[0], rtol=1e-6)


def test_agent_plans_through_the_recurrent_q_network(agent):
    obs, goal, z, state = acting_inputs(agent, seed=1)
    q0, q1, state_after = depth_one_by_hand(agent, obs, goal, z, state)
    with configured(agent, planning_depth=1, planning_estimate="deepest"):
        np.testing.assert_allclose(agent.execute_step_tf(obs, goal, z, state)[0], q1, rtol=1e-5, atol=1e-6)
    with configured(agent, planning_depth=1, planning_estimate="average"):
        np.testing.assert_allclose(agent.execute_step_tf(obs, goal, z, state)[0], (q0 + q1) / 2,
                                   rtol=1e-5, atol=1e-6)
    planned, next_state = agent.execute_step_tf(obs, goal, z, state)  # depth 2, average
    assert planned.shape == (5, agent.num_actions) and np.all(np.isfinite(planned))
    assert not np.allclose(planned, q0)
    for got, want in zip(next_state, state_after):  # imagined steps never leak into the state
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_raw_agent_plans_on_predicted_observations(raw_agent):
    assert not hasattr(raw_agent, "transition")  # no latent model in the raw variant
    obs, goal, z, state = acting_inputs(raw_agent, seed=2)
    _, q1, _ = depth_one_by_hand(raw_agent, obs, goal, z, state)
    with raw_agent.evaluation_mode():
        planned, _ = raw_agent.execute_q_values(obs.numpy(), goal.numpy(), z.numpy(), state)
    np.testing.assert_allclose(planned, q1, rtol=1e-5, atol=1e-6)


def test_plan_in_training_off_acts_on_plain_q_outside_evaluation(raw_agent):
    obs, goal, z, state = acting_inputs(raw_agent, seed=3)
    plain, _ = raw_agent.plain_execute_step_tf(obs, goal, z, state)
    planned, _ = raw_agent.execute_step_tf(obs, goal, z, state)
    assert not np.allclose(plain, planned)
    training, _ = raw_agent.execute_q_values(obs.numpy(), goal.numpy(), z.numpy(), state)
    np.testing.assert_allclose(training, plain, rtol=1e-6)
    with raw_agent.evaluation_mode():
        testing, _ = raw_agent.execute_q_values(obs.numpy(), goal.numpy(), z.numpy(), state)
    np.testing.assert_allclose(testing, planned, rtol=1e-6)


def test_runner_evaluates_in_evaluation_mode(raw_agent, monkeypatch):
    """The runner's held-out evaluation is test time: it acts inside ``evaluation_mode()``."""
    from tf_metarl.training import runner as runner_lib

    class Played(Exception):
        pass

    seen = []

    def play_trials(agent, *args):
        seen.append(agent._evaluating)
        raise Played

    monkeypatch.setattr(runner_lib, "play_trials", play_trials)
    runner = types.SimpleNamespace(agent=raw_agent, eval_env=types.SimpleNamespace(num_envs=2),
                                   eval_problem_ids=None, eval_goal_ids=None)
    with pytest.raises(Played):
        runner_lib.Runner.evaluate(runner)
    assert seen == [True] and raw_agent._evaluating is False


@pytest.mark.parametrize("agent_name", ["agent", "raw_agent"])
def test_train_step_logs_every_term_and_trains_the_heads(agent_name, request):
    agent = request.getfixturevalue(agent_name)
    before = [v.numpy().copy() for v in agent.model_variables()]
    metrics = agent.train_step(random_batch(agent, seed=5))
    for key in ("execute/td_loss", "execute/transition_loss", "execute/reward_loss",
                "execute/discount_loss", "execute/disambiguation_loss",
                "execute/consecutive_disambiguation_loss", "execute/volume_loss", "explore/td_loss"):
        assert np.isfinite(float(metrics[key])), key
    assert all(np.any(v.numpy() != b) for v, b in zip(agent.model_variables(), before))


def test_checkpoint_restores_the_model_and_heads(raw_agent, tmp_path):
    variables = raw_agent.model_variables()
    saved = [v.numpy().copy() for v in variables]
    path = tf.train.Checkpoint(agent=raw_agent).save(str(tmp_path / "ckpt"))
    for v in variables:
        v.assign(tf.zeros_like(v))
    tf.train.Checkpoint(agent=raw_agent).restore(path).assert_existing_objects_matched()
    for v, value in zip(variables, saved):
        np.testing.assert_array_equal(v.numpy(), value)


def test_exported_policy_plans(agent, tmp_path):
    from tf_metarl.export.exporter import export_agent
    layout = make_config("planning", "small_map", "tiny").env.make_layout()
    export_agent(agent, layout, str(tmp_path / "policy"), {"algorithm": agent.algorithm})
    signature = tf.saved_model.load(str(tmp_path / "policy")).signatures["execute_step"]
    obs, goal, z, (h, c) = acting_inputs(agent, seed=6)
    out = signature(observation=obs, goal=goal, embedding=z, h=h, c=c)
    planned, (h_next, _) = agent.execute_step_tf(obs, goal, z, (h, c))
    np.testing.assert_allclose(out["q_values"], planned, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["h"], h_next, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["action"], np.argmax(planned, -1))


def test_launch_train_with_depth_one_writes_checkpoint_and_csvs(hybrid_launch_runs):
    """The tiny run (started by conftest.py) finishes and writes its files; its checkpoint
    holds the model and heads (restoring an agent from a checkpoint is checked above)."""
    run = hybrid_launch_runs["planning"]
    assert "return on all problems (small_map has no held-out split)" in run.wait()
    run.check_files(("execute/td_loss", "execute/transition_loss", "execute/reward_loss",
                     "execute/discount_loss", "execute/volume_loss"))
    assert load_config(str(run.root)).agent.planning_depth == 1
    assert {"transition", "reward_head", "discount_head"} <= run.checkpointed_agent_attributes()
