"""run.overlap_collection: the actor plays the next trials with the weights from before
the updates, the run is reproducible, and it resumes exactly from a checkpoint."""

import concurrent.futures
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.config import apply_overrides
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import RunFolderError, Runner

TRAIN = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"


def overlapped_config(total_env_steps, *overrides, algorithm="dream"):
    return apply_overrides(make_config(algorithm, "small_map", "tiny"),
                           ["run.overlap_collection=true", f"run.total_env_steps={total_env_steps}",
                            "run.eval_every_trials=8", "run.log_every_trials=8",
                            "run.checkpoint_every_trials=8", *overrides])


def every_float_variable(agent):
    """Every float variable of the agent's Keras layers and its own variables."""
    found = {}

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            found.update((id(v), v) for v in value.weights)
        elif isinstance(value, (tf.Variable, keras.Variable)):
            found[id(value)] = value
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for value in vars(agent).values():
        visit(value)
    return [v for v in found.values() if "float" in str(v.dtype)]


def weights(agent):
    return [v.numpy().copy() for v in agent.learned_variables()]


def test_actor_acts_with_the_weights_from_before_the_updates(tmp_path):
    runner = Runner(overlapped_config(10_000), str(tmp_path))
    while runner.state.execute_updates_owed < 1 or runner.state.explore_updates_owed < 1:
        runner.collect()
    trials = runner.state.trials
    owed = int(runner.state.execute_updates_owed), int(runner.state.explore_updates_owed)
    updates = int(runner.agent.execute_updates), int(runner.agent.explore_updates)
    before = weights(runner.agent)
    with concurrent.futures.ThreadPoolExecutor(1) as collector:
        batch = runner._collect_while_updating(collector)

    after = weights(runner.agent)
    actor = weights(runner.actor)
    assert all(np.array_equal(a, b) for a, b in zip(actor, before))
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))
    assert runner.state.trials == trials + len(batch.returns)
    # The updates owed before the collection ran during it; the new trials are owed theirs.
    assert (int(runner.agent.execute_updates), int(runner.agent.explore_updates)) == (
        updates[0] + owed[0], updates[1] + owed[1])


@pytest.mark.parametrize("algorithm", ["dream", "gradient_embedder", "shared_representation",
                                       "planning", "e_rl2", "varibad"])
def test_synced_actor_acts_like_the_learner(algorithm, tmp_path):
    """After the copy, the actor's Q-values and task embeddings equal the learner's, so
    no variable that acting reads is missed: every float variable of the learner (target
    networks included, which the copy leaves out) is moved off its initial value first."""
    runner = Runner(overlapped_config(10_000, algorithm=algorithm), str(tmp_path))
    moved = every_float_variable(runner.agent)
    assert len(moved) > len(runner.agent.learned_variables())  # the targets are among them
    for variable in moved:
        variable.assign(variable + 0.01 * np.random.default_rng(0).normal(size=variable.shape))
    for target, source in runner._actor_weights:
        target.assign(source)

    batch = runner._play((0.0, 0.0), np.ones(runner.env.num_envs, dtype=bool))
    n = runner.env.num_envs
    args = (batch.x_obs, batch.x_actions, batch.x_length, batch.problem_id, np.ones(n, dtype=bool))
    z_actor = runner.actor.task_embedding(*args)
    np.testing.assert_allclose(runner.agent.task_embedding(*args), z_actor, atol=1e-6)
    q_actor, _ = runner.actor.explore_q_values(batch.x_obs[:, 0], np.full(n, runner.layout.num_actions),
                                               runner.actor.explore_initial_state(n))
    q_learner, _ = runner.agent.explore_q_values(batch.x_obs[:, 0], np.full(n, runner.layout.num_actions),
                                                 runner.agent.explore_initial_state(n))
    np.testing.assert_allclose(q_learner, q_actor, atol=1e-6)
    q_actor, _ = runner.actor.execute_q_values(batch.obs[:, 0], batch.goal, z_actor,
                                               runner.actor.execute_initial_state(n))
    q_learner, _ = runner.agent.execute_q_values(batch.obs[:, 0], batch.goal, z_actor,
                                                 runner.agent.execute_initial_state(n))
    np.testing.assert_allclose(q_learner, q_actor, atol=1e-6)


def test_overlapped_run_resumes_after_kill_exactly(tmp_path, kill_after_first_checkpoint,
                                                   read_rows):
    """A run killed (-9) after its first checkpoint and rerun logs the same rows as an
    uninterrupted run with the same seed: the loop is reproducible despite the collection
    thread, and the actor's weights, noise and generator resume exactly."""
    def command(root):
        return [sys.executable, str(TRAIN), "--config_preset=tiny", "--env_preset=small_map",
                "--seed=5", f"--root_dir={root}", "--override=run.overlap_collection=true",
                "--override=run.total_env_steps=400"]

    def finish(root):
        result = subprocess.run(command(root), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    # The uninterrupted run trains alongside the one that is killed (2 cores).
    with open(tmp_path / "whole.log", "w") as log:
        whole = subprocess.Popen(command(tmp_path / "whole"), stdout=log, stderr=subprocess.STDOUT)
        try:
            killed = tmp_path / "killed"
            kill_after_first_checkpoint(command(killed), killed)
            assert whole.wait(timeout=300) == 0, (tmp_path / "whole.log").read_text()[-3000:]
        finally:
            whole.kill()  # no-op once it has ended; never left running after a failure
            whole.wait()
    assert int(read_rows(killed / "train.csv")[-1]["env_steps"]) < 400
    assert "resuming from" in finish(killed).stdout

    for name in ("train.csv", "eval.csv"):
        rows = read_rows(tmp_path / "whole" / name)
        assert len(rows) >= 2
        assert read_rows(killed / name) == rows


def test_overlap_cannot_change_on_resume(tmp_path):
    Runner(overlapped_config(100), str(tmp_path)).run()
    with pytest.raises(RunFolderError, match="different config .run.overlap_collection: True -> False"):
        Runner(overlapped_config(100, "run.overlap_collection=false"), str(tmp_path))
