"""The exported SavedModel acts exactly like the in-memory agent restored from the same
checkpoint: in a fresh process that imports only tensorflow and numpy, and through the
session-based loader of ``saved_model_cli``."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from export_helpers import SIGNATURES

TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def test_export_script_reports_the_export(saved_model, jobs):
    """Runs first (see conftest): requesting ``jobs`` starts the slow subprocess checks,
    which then run while the in-process tests do."""
    assert (saved_model / "saved_model.pb").is_file()
    assert (saved_model / "assets" / "metadata.json").is_file()
    assert set(jobs) == {"fresh", "show", "run", "evaluate"}


def test_fresh_process_reproduces_the_in_memory_agent(recorded, jobs):
    recorder, _ = recorded
    job, files = jobs["fresh"]
    result = job.result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fresh process ok dream 20" in result.stdout  # and no tf_metarl module was imported
    out = np.load(files["outputs"])

    explore_q = np.stack([r["q"] for r in recorder.explore])  # [steps, N, A]
    execute_q = np.stack([r["q"] for r in recorder.execute])
    assert explore_q.shape[0] >= 2 and execute_q.shape[0] >= 2
    np.testing.assert_allclose(out["explore_q"], explore_q, **TOLERANCE)
    np.testing.assert_array_equal(out["explore_actions"], explore_q.argmax(-1))
    np.testing.assert_allclose(out["embedding"], recorder.embedding["z"], **TOLERANCE)
    np.testing.assert_allclose(out["execute_q"], execute_q, **TOLERANCE)
    np.testing.assert_array_equal(out["execute_actions"], execute_q.argmax(-1))


def test_saved_model_cli_lists_the_signatures(jobs):
    result = jobs["show"][0].result()
    assert result.returncode == 0, result.stderr[-2000:]
    listed = set(re.findall(r"signature_def\['(\w+)'\]", result.stdout))
    assert set(SIGNATURES) <= listed
    assert "(-1, 4)" in result.stdout  # None batch dimension of observations


def test_saved_model_cli_runs_execute_step_from_npy_files(recorded, jobs):
    recorder, _ = recorded
    job, files = jobs["run"]
    result = job.result()
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.abs(files["inputs"]["h"]).max() > 0
    step, next_step = recorder.execute[1], recorder.execute[2]
    np.testing.assert_allclose(np.load(files["outdir"] / "q_values.npy"), step["q"], **TOLERANCE)
    np.testing.assert_array_equal(np.load(files["outdir"] / "action.npy"), step["q"].argmax(-1))
    np.testing.assert_allclose(np.load(files["outdir"] / "h.npy"), next_step["h"], **TOLERANCE)
    np.testing.assert_allclose(np.load(files["outdir"] / "c.npy"), next_step["c"], **TOLERANCE)


def test_metadata_describes_the_policy_and_the_run(saved_model, trained_run, agent_and_layout, policy):
    _, layout = agent_and_layout
    m = json.loads((saved_model / "assets" / "metadata.json").read_text())
    assert m == policy.metadata
    assert m["format_version"] == 1
    assert m["algorithm"] == "dream" and m["env_preset"] == "distracting_bus_map"
    assert m["layout"] == json.loads(json.dumps(layout.to_dict()))
    assert m["observation_fields"] == ["x", "y", "status", "map_info"]
    assert m["observation_bounds"] == [9, 9, 2, 25] and m["goal_bounds"] == [9, 9]
    assert m["action_names"] == ["left", "up", "right", "down", "noop", "ride_bus", "end_episode"]
    assert m["num_actions"] == 7 and m["horizon"] == 20
    config = json.loads((trained_run / "config.json").read_text())
    assert m["config"] == config
    assert m["embedding_size"] == config["agent"]["z_dim"]
    assert m["state_sizes"] == {"explore": config["agent"]["q_lstm_units"],
                                "execute": config["agent"]["q_lstm_units"]}
    summary = json.loads((trained_run / "summary.json").read_text())
    assert m["training_env_steps"] == summary["env_steps"] >= 300
    assert m["training_trials"] == summary["trials"]
    assert m["training"]["source"] == "checkpoint loop state"
    assert m["last_eval_return"] == pytest.approx(summary["eval_return"])
    assert set(SIGNATURES) <= set(m["signatures"])


def test_embed_exploration_pads_shorter_episodes(policy, recorded, agent_and_layout):
    """An episode given with fewer than T+1 steps embeds like its padded form, and like the
    in-memory agent's embedding of that padded form."""
    from tf_metarl.envs.layout import NOOP

    agent, _ = agent_and_layout
    recorder, _ = recorded
    x_obs, x_actions = recorder.embedding["x_obs"], recorder.embedding["x_actions"]
    k = 5  # pretend every exploration episode ended after k steps
    length = np.full(len(x_obs), k, dtype=np.int32)
    padded_obs = x_obs.copy()
    padded_obs[:, k + 1:] = x_obs[:, k:k + 1]
    padded_actions = x_actions.copy()
    padded_actions[:, k:] = NOOP
    expected = agent.embed_exploration_tf(padded_obs, padded_actions, length).numpy()
    np.testing.assert_allclose(policy.embed_exploration(padded_obs, padded_actions, length),
                               expected, **TOLERANCE)
    np.testing.assert_allclose(policy.embed_exploration(x_obs[:, :k + 1], x_actions[:, :k], length),
                               expected, **TOLERANCE)
