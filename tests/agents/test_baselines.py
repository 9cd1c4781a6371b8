"""DREAM's baselines (E-RL², IMPORT, VariBAD): trial inputs, TD targets across the episode
boundary, acting = training, export, IMPORT's gradient isolation, VariBAD's loss."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hybrid_helpers import make_agent
from tf_metarl import losses
from tf_metarl.config import ConfigError, apply_overrides, validate_config
from tf_metarl.envs import BatchedBusMap
from tf_metarl.export.exporter import export_agent
from tf_metarl.training.collection import play_trials
from tf_metarl.training.config import make_config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "export"))
from export_helpers import FRESH_PROCESS_SCRIPT  # noqa: E402

BASELINES = ("e_rl2", "import", "varibad")


def nonzero(gradient):
    """A gradient (None, a tensor or IndexedSlices) with a non-zero entry."""
    return gradient is not None and bool(np.any(tf.convert_to_tensor(gradient).numpy()))
A, NONE = 7, 7  # small_map: 7 actions; NONE action token = 7


def hand_trial(step_cost=0.1):
    """One trial, L_x = 3, L_e = 2, padded to Tx = 4, Te = 3 (two identical rows)."""
    x_obs = np.array([[[k, 10 + k, 0]] for k in range(5)])[:, 0]  # o^x_k = [k, 10+k, 0]
    obs = np.array([[20 + t, 30 + t, 1] for t in range(4)])
    batch = dict(trial_x_obs=x_obs, trial_x_actions=np.array([1, 2, 4, 0]), trial_x_length=3,
                 obs=obs, goal=np.array([4, 0]), actions=np.array([3, 5, 0]),
                 rewards=np.array([-step_cost, 1.0, 0.0]), length=2, problem_id=2)
    return {k: tf.constant(np.stack([np.asarray(v)] * 2)) for k, v in batch.items()}


def test_trial_inputs_on_a_hand_made_trial():
    from tf_metarl.agents.e_rl2.trial_inputs import trial_inputs
    seq = {k: v[0].numpy() for k, v in trial_inputs(hand_trial(), A, (5, 5)).items()}
    # Positions 0..7 (S = 4 + 3 + 1): explore 0, 1, 2; execute 0, 1 (k = 3, 4); 5 is after.
    np.testing.assert_array_equal(seq["obs"][:, 0], [0, 1, 2, 20, 21, 22, 23, 23])
    np.testing.assert_array_equal(seq["prev_action"][:6], [NONE, 1, 2, NONE, 3, 5])
    np.testing.assert_array_equal(seq["done"][:6], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(seq["goal"][:5], [[5, 5]] * 3 + [[4, 0]] * 2)
    np.testing.assert_allclose(seq["prev_reward"][:6], [0, 0, 0, 0, -0.1, 1.0])
    np.testing.assert_array_equal(seq["actions"][:5], [1, 2, 4, 3, 5])
    np.testing.assert_allclose(seq["rewards"][:5], [0, 0, 0, -0.1, 1.0])  # exploration rho = 0
    np.testing.assert_array_equal(seq["step_mask"], [1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(seq["terminal"], [0, 0, 0, 0, 1, 0, 0])
    assert seq["trial_length"] == 5


def test_td_targets_cross_the_episode_boundary():
    """Last exploration step bootstraps from the execution start, terminal only at the
    trial's last step, padding counts nothing, the online network picks the action."""
    agent = make_agent("e_rl2")
    seq = agent.sequence_inputs(hand_trial())
    rng = np.random.default_rng(0)
    q = tf.constant(np.repeat(rng.normal(size=(1, 8, A)), 2, 0), tf.float32)  # both rows alike
    q_target = tf.constant(np.repeat(rng.normal(size=(1, 8, A)), 2, 0), tf.float32)
    loss, _ = agent.td_loss(seq, q, q_target)
    qn, qt = q.numpy()[0], q_target.numpy()[0]
    acts, rewards, g = [1, 2, 4, 3, 5], [0, 0, 0, -0.1, 1.0], 0.99
    expected = []
    for k in range(5):
        bootstrap = 0.0 if k == 4 else g * qt[k + 1, qn[k + 1].argmax()]
        expected.append((rewards[k] + bootstrap - qn[k, acts[k]]) ** 2)
    # k = 2 (last exploration step): target = 0.99 * Q_target(execute start)[argmax online].
    assert expected[2] == pytest.approx((g * qt[3, qn[3].argmax()] - qn[2, 4]) ** 2)
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-5)
    noisy = q.numpy().copy()
    noisy[:, 6:] += 100.0  # padding positions (6 is never a bootstrap of a real step)
    assert float(agent.td_loss(seq, tf.constant(noisy), q_target)[0]) == pytest.approx(float(loss))


def random_trials(agent, n=3, seed=0):
    """Replay-shaped trials whose non-final execution rewards are -step_cost (as the world
    pays them), with random actions."""
    rng = np.random.default_rng(seed)
    T, bounds = agent.horizon, agent.observation_bounds
    def obs():
        return np.stack([rng.integers(0, b, size=(n, T + 1)) for b in bounds], -1).astype(np.int16)
    length = rng.integers(1, T + 1, size=n)
    rewards = np.full((n, T), -agent.step_cost, np.float32)
    rewards[np.arange(n), length - 1] = 1.0
    return dict(trial_x_obs=obs(), trial_x_actions=rng.integers(0, A, size=(n, T)).astype(np.int8),
                trial_x_length=rng.integers(1, T + 1, size=n).astype(np.int16), obs=obs(),
                goal=rng.integers(0, 5, size=(n, 2)).astype(np.int16),
                actions=rng.integers(0, A, size=(n, T)).astype(np.int8), rewards=rewards,
                length=length.astype(np.int16),
                problem_id=rng.integers(0, agent.num_problems, size=n).astype(np.int32))


@pytest.mark.parametrize("algorithm", BASELINES)
def test_acting_q_equals_the_unrolled_training_q(algorithm):
    agent = make_agent(algorithm)
    batch = random_trials(agent)
    seq = agent.sequence_inputs({k: tf.constant(v) for k, v in batch.items()})
    q_train = agent.q(*agent.network_inputs(seq))[0].numpy()
    n = len(batch["length"])
    state = agent.explore_initial_state(n)
    prev = np.full(n, A)
    acted = {}
    for t in range(agent.horizon):
        q, state = agent.explore_step_tf(tf.constant(batch["trial_x_obs"][:, t], tf.int32),
                                         tf.constant(prev, tf.int32), state)
        for i in range(n):
            if t < batch["trial_x_length"][i]:
                acted[i, t] = q.numpy()[i]
        prev = batch["trial_x_actions"][:, t].astype(np.int32)
    z = agent.embed_exploration_tf(batch["trial_x_obs"], batch["trial_x_actions"],
                                   batch["trial_x_length"])
    state = agent.execute_initial_state(n)
    for t in range(agent.horizon):
        q, state = agent.execute_step_tf(tf.constant(batch["obs"][:, t], tf.int32),
                                         tf.constant(batch["goal"], tf.int32), z, state)
        state = agent.record_execute_action(state, batch["actions"][:, t])
        for i in range(n):
            if t < batch["length"][i]:
                acted[i, batch["trial_x_length"][i] + t] = q.numpy()[i]
    for (i, k), q in acted.items():
        np.testing.assert_allclose(q, q_train[i, k], atol=1e-5, err_msg=f"trial {i} position {k}")


@pytest.mark.parametrize("algorithm", BASELINES)
def test_a_training_update_logs_every_loss_term(algorithm):
    agent = make_agent(algorithm)
    metrics = agent.train_step(random_trials(agent, n=4))
    expected = {"td_loss", "loss", "grad_norm"} | {
        "import": {"import_loss", "import_end_distance", "id_mode"},
        "varibad": {"reward_loss", "state_loss", "reward_pair_error", "state_pair_error"},
    }.get(algorithm, set())
    assert expected <= set(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert int(agent.updates) == 1


def test_the_original_protocol_is_refused_with_the_reason():
    config = make_config("e_rl2", "small_map", "tiny")
    with pytest.raises(ConfigError, match="explore_protocol='original'.*environment lacks"):
        validate_config(apply_overrides(config, ["agent.explore_protocol=original"]))


# ---- export -------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", BASELINES)
def test_export_embedding_is_the_explore_state_padding_invariant_and_replays_fresh(algorithm, tmp_path):
    agent = make_agent(algorithm, seed=1)
    layout = make_config(algorithm, "small_map", "tiny").env.make_layout()
    n = 4
    problems, goals = np.arange(n) % layout.num_problems, np.arange(n) % len(layout.goals)
    trials = play_trials(agent, BatchedBusMap(layout, n), problems, goals,
                         np.random.default_rng(0), 0.0, 0.0, np.ones(n, dtype=bool))
    out = tmp_path / "model"
    metadata = export_agent(agent, layout, str(out), {"algorithm": algorithm, "env_preset": "small_map"})
    U = agent.units
    assert metadata["embedding_size"] == 2 * U
    assert metadata["state_sizes"] == {"explore": U, "execute": U + 1}
    assert {"embedding_layout", "execute_state_layout", "explore_protocol"} <= set(metadata)
    assert "h[:, %d]" % U in (out / "assets" / "README.md").read_text()
    sig = tf.saved_model.load(str(out)).signatures

    # embed_exploration = the state after the last explore_step, for every length.
    T = layout.horizon
    state = sig["explore_initial_state"](batch_size=tf.constant(n))
    prev = np.full(n, A, np.int32)
    last = {}
    for t in range(int(trials.x_length.max())):
        state = sig["explore_step"](observation=tf.constant(trials.x_obs[:, t], tf.int32),
                                    prev_action=tf.constant(prev), h=state["h"], c=state["c"])
        prev = trials.x_actions[:, t].astype(np.int32)
        for i in np.flatnonzero(trials.x_length == t + 1):
            last[i] = np.concatenate([state["h"][i], state["c"][i]])
    z = sig["embed_exploration"](observations=tf.constant(trials.x_obs, tf.int32),
                                 actions=tf.constant(trials.x_actions, tf.int32),
                                 length=tf.constant(trials.x_length, tf.int32))["embedding"].numpy()
    for i, expected in last.items():
        np.testing.assert_allclose(z[i], expected, atol=1e-5)
    # Unpadded (T' = L of the longest) and padded with other valid values: the same.
    L = int(trials.x_length.max())
    other_obs = trials.x_obs.copy()
    other_actions = trials.x_actions.copy()
    for i, length in enumerate(trials.x_length):
        other_obs[i, length + 1:] = 0
        other_actions[i, length:] = 3
    for observations, actions in ((trials.x_obs[:, :L + 1], trials.x_actions[:, :L]),
                                  (other_obs, other_actions)):
        z_other = sig["embed_exploration"](observations=tf.constant(observations, tf.int32),
                                           actions=tf.constant(actions, tf.int32),
                                           length=tf.constant(trials.x_length, tf.int32))["embedding"]
        np.testing.assert_allclose(z_other.numpy(), z, atol=1e-5)
    assert T >= L

    # The README loop in a fresh process without tf_metarl: same greedy actions as played.
    explore_prev = np.concatenate([np.full((n, 1), A), trials.x_actions[:, :-1]], 1)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, explore_obs=np.swapaxes(trials.x_obs[:, :T], 0, 1).astype(np.int32),
             explore_prev_action=explore_prev.T.astype(np.int32),
             x_obs=trials.x_obs.astype(np.int32), x_actions=trials.x_actions.astype(np.int32),
             x_length=trials.x_length.astype(np.int32),
             execute_obs=np.swapaxes(trials.obs[:, :T], 0, 1).astype(np.int32),
             goal=trials.goal.astype(np.int32))
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(out), str(inputs),
                             str(tmp_path / "outputs.npz")], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"fresh process ok {algorithm}" in result.stdout
    fresh = np.load(tmp_path / "outputs.npz")
    for i in range(n):
        np.testing.assert_array_equal(fresh["explore_actions"][:trials.x_length[i], i],
                                      trials.x_actions[i, :trials.x_length[i]])
        np.testing.assert_array_equal(fresh["execute_actions"][:trials.length[i], i],
                                      trials.actions[i, :trials.length[i]])
    np.testing.assert_allclose(fresh["embedding"], z, atol=1e-5)
    assert json.loads(sig["metadata"](unused=tf.constant(0))["metadata_json"].numpy())["algorithm"] == algorithm


# ---- IMPORT ---------------------------------------------------------------------------------
def test_import_gradients_and_modes():
    agent = make_agent("import")
    batch = {k: tf.constant(v) for k, v in random_trials(agent, n=4).items()}
    f_vars = agent.problem_encoder.trainable_variables
    encoder_vars = agent.q.encoder.trainable_variables

    def grads(term, updates):
        agent.updates.assign(updates)
        with tf.GradientTape(persistent=True) as tape:
            terms, _ = agent.loss_terms(batch)
        return ([tape.gradient(terms[term], v) for v in f_vars],
                [tape.gradient(terms[term], v) for v in encoder_vars])

    # L_IMPORT: nothing reaches f; it reaches the history encoder.
    f_grads, encoder_grads = grads("import_loss", 0)
    assert all(not nonzero(g) for g in f_grads)
    assert any(nonzero(g) for g in encoder_grads)
    # TD: f only in id-mode updates (even), the encoder in history mode (f untouched).
    f_grads, _ = grads("td_loss", 0)
    assert any(nonzero(g) for g in f_grads)
    f_grads, encoder_grads = grads("td_loss", 1)
    assert all(not nonzero(g) for g in f_grads)
    assert any(nonzero(g) for g in encoder_grads)

    # The target network reads the history: its f copy changes nothing.
    agent.updates.assign(0)
    td = float(agent.loss_terms(batch)[0]["td_loss"])
    for v in agent.problem_encoder_target.trainable_variables:
        v.assign(v + 1.0)
    assert float(agent.loss_terms(batch)[0]["td_loss"]) == pytest.approx(td)

    # In id mode the acting Q does not depend on the history.
    obs, goal = tf.cast(batch["obs"][:, 0], tf.int32), tf.cast(batch["goal"], tf.int32)
    ids, on = batch["problem_id"], tf.ones([4], tf.bool)
    h1, h2 = tf.zeros([4, agent.units]), tf.ones([4, agent.units])
    np.testing.assert_allclose(agent._head(h1, obs, goal, ids, on), agent._head(h2, obs, goal, ids, on))
    assert not np.allclose(agent._head(h1, obs, goal, ids, ~on), agent._head(h2, obs, goal, ids, ~on))


def test_import_aux_loss_masked_and_unmasked_differ_only_through_padding():
    rng = np.random.default_rng(0)
    g = tf.constant(rng.normal(size=(2, 5, 3)), tf.float32)
    f = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    mask = tf.constant([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], tf.float32)
    masked = float(losses.import_auxiliary_loss(g, f, mask))
    unmasked = float(losses.import_auxiliary_loss(g, f, None))
    padded = np.sum((g.numpy()[1, 2:] - f.numpy()[1]) ** 2) / 2
    assert unmasked - masked == pytest.approx(padded, rel=1e-5)
    per = [np.sum(mask.numpy()[b, :, None] * (g.numpy()[b] - f.numpy()[b]) ** 2) for b in range(2)]
    assert masked == pytest.approx(sum(per) / 2, rel=1e-5)


# ---- VariBAD ----------------------------------------------------------------------------------
def test_varibad_reward_loss_equals_a_brute_force_double_loop():
    agent = make_agent("varibad")
    batch = {k: tf.constant(v) for k, v in random_trials(agent, n=2).items()}
    seq = agent.sequence_inputs(batch)
    z, _ = agent.q.encoder(*agent.network_inputs(seq))
    z = z[:, :-1]
    obs, goal, actions = seq["obs"][:, :-1], seq["goal"][:, :-1], seq["actions"]
    reward, next_obs = agent.decode_pairs(z, obs, goal, actions)
    loss, _ = losses.pairwise_reconstruction_loss(reward, seq["rewards"], seq["step_mask"])
    state_loss, _ = losses.pairwise_reconstruction_loss(
        next_obs, tf.cast(seq["obs"][:, 1:], tf.float32), seq["step_mask"])
    K = seq["trial_length"].numpy()
    total = state_total = 0.0
    for b in range(2):
        for t in range(K[b]):
            for j in range(K[b]):
                r, s = agent.decoder(z[b:b + 1, t], agent.q.state_goal(obs[b:b + 1, j], goal[b:b + 1, j]),
                                     actions[b:b + 1, j])
                total += (float(r[0]) - float(seq["rewards"][b, j])) ** 2
                state_total += float(tf.reduce_sum((s[0] - tf.cast(seq["obs"][b, j + 1], tf.float32)) ** 2))
    assert float(loss) == pytest.approx(total / 2, rel=1e-4)
    assert float(state_loss) == pytest.approx(state_total / 2, rel=1e-4)
    # Exploration reward targets are 0 under the tf_metarl protocol.
    explore = seq["explore_mask"].numpy() > 0
    assert explore.any() and not np.any(seq["rewards"].numpy()[explore])


@pytest.mark.parametrize("stop, reaches", [(False, True), (True, False)])
def test_varibad_td_gradient_reaches_the_encoder_unless_stopped(stop, reaches):
    agent = make_agent("varibad", varibad_stop_policy_grad=stop)
    batch = {k: tf.constant(v) for k, v in random_trials(agent, n=2).items()}
    with tf.GradientTape() as tape:
        terms, _ = agent.loss_terms(batch)
    grads = tape.gradient(terms["td_loss"], agent.q.encoder.lstm.trainable_variables)
    assert any(nonzero(g) for g in grads) == reaches


# ---- training runs ------------------------------------------------------------------------------
def test_import_run_resumes_after_kill_exactly(tmp_path, kill_after_first_checkpoint, read_rows):
    """kill -9 after the first checkpoint and rerun: the same train.csv and eval.csv
    (eval_return_ids included) as an uninterrupted run, so the single learner's replay,
    counters, modes and weights resume exactly."""
    train = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"

    def command(root):
        return [sys.executable, str(train), "--algorithm=import", "--config_preset=tiny",
                "--env_preset=small_map", "--seed=4", f"--root_dir={root}",
                "--override=run.total_env_steps=300"]

    with open(tmp_path / "whole.log", "w") as log:
        whole = subprocess.Popen(command(tmp_path / "whole"), stdout=log, stderr=subprocess.STDOUT)
        try:
            killed = tmp_path / "killed"
            kill_after_first_checkpoint(command(killed), killed)
            assert whole.wait(timeout=300) == 0, (tmp_path / "whole.log").read_text()[-3000:]
        finally:
            whole.kill()
            whole.wait()
    result = subprocess.run(command(killed), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout
    for name in ("train.csv", "eval.csv"):
        rows = read_rows(tmp_path / "whole" / name)
        assert len(rows) >= 2
        assert read_rows(killed / name) == rows
    assert "eval_return_ids" in rows[-1] and "import_loss" in read_rows(killed / "train.csv")[-1]


@pytest.mark.parametrize("algorithm", ["import", "varibad"])
def test_cut_trial_batches_give_the_losses_of_horizon_padded_batches(tmp_path, algorithm):
    """The runner samples whole trials cut to the longest episode of each kind; padding
    them back to the horizon (with zeros) changes no loss term."""
    from tf_metarl.training.runner import Runner
    config = apply_overrides(make_config(algorithm, "small_map", "tiny"),
                             ["run.sequence_bucket=1", "run.num_envs=8"])
    runner = Runner(config, str(tmp_path / "run"))
    try:
        for _ in range(2):
            runner.collect()
        cut = runner._sample(execute=True)
        assert set(cut) >= {"trial_x_obs", "trial_x_actions", "trial_x_length", "obs", "problem_id"}
        assert cut["trial_x_actions"].shape[1] == cut["trial_x_length"].max()
        T = runner.layout.horizon
        padded = {}
        for key, value in cut.items():
            target = T + 1 if key.endswith("obs") else T
            if key.endswith(("obs", "actions", "rewards")) and value.shape[1] < target:
                value = np.pad(value, [(0, 0), (0, target - value.shape[1])] + [(0, 0)] * (value.ndim - 2))
            padded[key] = value

        def terms(batch):
            runner.agent.noise_rng.reset_from_seed(7)
            values, _ = runner.agent.loss_terms({k: tf.convert_to_tensor(v) for k, v in batch.items()})
            return {k: float(v) for k, v in values.items()}

        expected = terms(cut)
        for key, value in terms(padded).items():
            assert value == pytest.approx(expected[key], rel=1e-4, abs=1e-6), key
    finally:
        runner.close()
