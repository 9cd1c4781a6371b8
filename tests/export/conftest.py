"""One tiny trained run and its export, shared by every export test of the session.

Training (~20-40 s) and exporting (~10 s) run the real launch scripts once; the tests then
compare the exported SavedModel with the in-memory agent restored from the same
checkpoint. The slow subprocess checks (fresh-process reload, saved_model_cli show and
run, launch/evaluate.py) are started together by ``jobs`` and collected by the tests.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from export_helpers import EVALUATE, EXPORT, FRESH_PROCESS_SCRIPT, NEW_LAYOUTS, NUM_EVAL_TRIALS, \
    RUN_AND_LIST_MODULES, TRAIN, Job, in_memory_trials, run_command

NUM_RECORDED_TRIALS = 12
SAVED_MODEL_CLI = ([shutil.which("saved_model_cli")] if shutil.which("saved_model_cli")
                   else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])


def pytest_collection_modifyitems(items):
    """Within this folder: the test that starts the background ``jobs`` first, then the
    in-process error tests (they run while the jobs do), then the rest."""
    here = [i for i, item in enumerate(items) if "tests/export/" in item.nodeid]
    def rank(item):
        if item.name == "test_export_script_reports_the_export":
            return 0
        return 1 if "test_export_errors.py" in item.nodeid else 2
    ordered = sorted((items[i] for i in here), key=rank)  # stable: keeps file order within a rank
    for i, item in zip(here, ordered):
        items[i] = item


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny DREAM run on distracting_bus_map: config.json, checkpoints/, CSVs."""
    root = tmp_path_factory.mktemp("export") / "tiny_run"
    result = run_command([sys.executable, TRAIN, "--config_preset=tiny", f"--root_dir={root}",
                          "--override=run.total_env_steps=300", "--override=run.sequence_bucket=20"])
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def _export_job(trained_run):
    """launch/export.py on the run, started in the background (latest checkpoint)."""
    output = trained_run.parent / "saved_models" / trained_run.name
    job = Job([sys.executable, EXPORT, f"--run_dir={trained_run}", f"--output_dir={output}"],
              trained_run.parent, "export")
    yield job, output
    job.kill()


@pytest.fixture(scope="session")
def saved_model(_export_job):
    job, output = _export_job
    result = job.result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"saved model: {output}" in result.stdout
    return output


@pytest.fixture(scope="session")
def latest_checkpoint(trained_run):
    import tensorflow as tf
    path = tf.train.latest_checkpoint(str(trained_run / "checkpoints"))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def agent_and_layout(trained_run, latest_checkpoint, _export_job):
    """The in-memory agent, built from the run's config and restored from its checkpoint
    (while the export runs in the background)."""
    import tensorflow as tf

    from tf_metarl.training.config import load_config
    from tf_metarl.training.runner import make_agent

    config = load_config(str(trained_run))
    layout = config.env.make_layout()
    agent = make_agent(config, layout)
    tf.train.Checkpoint(agent=agent).restore(latest_checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    return agent, layout


@pytest.fixture(scope="session")
def policy(saved_model):
    from tf_metarl.export.policy import load_policy
    return load_policy(str(saved_model))


class Recorder:
    """Wraps the agent's acting interface for ``play_trials`` and records every call."""

    def __init__(self, agent):
        self.agent = agent
        self.explore, self.execute, self.embedding = [], [], None

    def explore_initial_state(self, n):
        return self.agent.explore_initial_state(n)

    def execute_initial_state(self, n):
        return self.agent.execute_initial_state(n)

    def explore_q_values(self, obs, prev_action, state):
        q, next_state = self.agent.explore_q_values(obs, prev_action, state)
        self.explore.append(dict(obs=np.array(obs), prev_action=np.array(prev_action), q=q))
        return q, next_state

    def task_embedding(self, x_obs, x_actions, x_length, problem_ids, use_decoder):
        z = self.agent.task_embedding(x_obs, x_actions, x_length, problem_ids, use_decoder)
        self.embedding = dict(x_obs=x_obs, x_actions=x_actions, x_length=x_length, z=z)
        return z

    def execute_q_values(self, obs, goal, z, state):
        q, next_state = self.agent.execute_q_values(obs, goal, z, state)
        h, c = state
        self.execute.append(dict(obs=np.array(obs), goal=np.array(goal), h=np.array(h),
                                 c=np.array(c), q=q))
        return q, next_state


@pytest.fixture(scope="session")
def recorded(agent_and_layout):
    """Whole trials of the in-memory agent (exploration then execution), every policy
    call recorded: (recorder, TrialBatch). Half the actions are random, so the episodes
    run for several steps (and through varied states) whatever the tiny agent prefers;
    the exported policy is compared on the recorded inputs, whichever action was taken."""
    agent, layout = agent_and_layout
    rng = np.random.default_rng(7)
    problems = rng.choice(layout.split_problem_ids("test"), NUM_RECORDED_TRIALS)
    goals = rng.integers(len(layout.goals), size=NUM_RECORDED_TRIALS)
    recorder = Recorder(agent)
    batch = in_memory_trials(recorder, layout, problems, goals, epsilon=0.5)
    return recorder, batch


@pytest.fixture(scope="session")
def jobs(recorded, saved_model, tmp_path_factory):
    """Starts the slow subprocess checks at once; name -> (Job, files they use)."""
    recorder, batch = recorded
    root = tmp_path_factory.mktemp("jobs")
    started = {}

    # 1. Fresh process importing only tensorflow and numpy replays the recorded inputs.
    inputs, outputs = root / "inputs.npz", root / "outputs.npz"
    e = recorder.embedding
    np.savez(inputs,
             explore_obs=np.stack([r["obs"] for r in recorder.explore]).astype(np.int32),
             explore_prev_action=np.stack([r["prev_action"] for r in recorder.explore]).astype(np.int32),
             x_obs=e["x_obs"].astype(np.int32), x_actions=e["x_actions"].astype(np.int32),
             x_length=e["x_length"].astype(np.int32),
             execute_obs=np.stack([r["obs"] for r in recorder.execute]).astype(np.int32),
             goal=batch.goal.astype(np.int32))
    started["fresh"] = (Job([sys.executable, "-c", FRESH_PROCESS_SCRIPT, saved_model, inputs, outputs],
                            root, "fresh"), {"outputs": outputs})

    # 2-3. The session-based loader: show, and run execute_step at its second step (a
    # non-zero recurrent state goes in as well).
    started["show"] = (Job([*SAVED_MODEL_CLI, "show", "--dir", saved_model, "--all"], root, "show"), {})
    step = recorder.execute[1]
    cli_inputs = {"observation": step["obs"].astype(np.int32), "goal": step["goal"].astype(np.int32),
                  "embedding": e["z"].astype(np.float32), "h": step["h"].astype(np.float32),
                  "c": step["c"].astype(np.float32)}
    for name, value in cli_inputs.items():
        np.save(root / f"{name}.npy", value)
    spec = ";".join(f"{name}={root / name}.npy" for name in cli_inputs)
    cli_out = root / "cli_out"
    started["run"] = (Job([*SAVED_MODEL_CLI, "run", "--dir", saved_model, "--tag_set", "serve",
                           "--signature_def", "execute_step", "--inputs", spec, "--outdir", cli_out],
                          root, "run"), {"inputs": cli_inputs, "outdir": cli_out})

    # 4. launch/evaluate.py on new layouts, reporting which project packages it imported.
    layouts_file = root / "new_layouts.json"
    layouts_file.write_text(json.dumps(NEW_LAYOUTS))
    out_dir, gif = root / "results", root / "trials.gif"
    started["evaluate"] = (Job(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, EVALUATE, f"--saved_model={saved_model}",
         f"--layouts={layouts_file}", f"--num_trials={NUM_EVAL_TRIALS}", "--seed=3",
         f"--output={out_dir}", f"--gif={gif}", "--gif_trials=2"], root, "evaluate"),
        {"layouts_file": layouts_file, "out_dir": out_dir, "gif": gif})
    yield started
    for job, _ in started.values():
        job.kill()
