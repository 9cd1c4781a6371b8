"""Every algorithm's export converts to ONNX and LiteRT and plays the SavedModel's trials:
tiny agents of the algorithms that no shipped policy covers (the shipped DREAM and
gradient-embedder policies are checked in test_portable.py)."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "agents"))
from hybrid_helpers import make_agent  # noqa: E402

from tf_metarl.export import evaluation  # noqa: E402
from tf_metarl.export.exporter import export_agent  # noqa: E402
from tf_metarl.export.policy import load_policy  # noqa: E402
from tf_metarl.export.portable import convert_saved_model  # noqa: E402
from tf_metarl.export.runtime_policy import load_runtime_policy  # noqa: E402
from tf_metarl.training.config import make_config  # noqa: E402

NUM_TRIALS = 24
# planning's networks contain shared_representation's (and DREAM's); E-RL2's recurrent
# policy is the substrate of IMPORT and VariBAD. The baselines' LiteRT conversion fails:
# the converter has no zeros_like for the boolean tensor of the trial-input masking.
CASES = [("planning", "onnx"), ("planning", "litert"), ("e_rl2", "onnx"),
         pytest.param("e_rl2", "litert", marks=pytest.mark.xfail(
             strict=True, reason="LiteRT: 'tfl.zeros_like' of a boolean tensor"))]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """algorithm -> (layout, SavedModel folder), each exported once."""
    cache = {}

    def get(algorithm):
        if algorithm not in cache:
            agent = make_agent(algorithm, seed=1)
            layout = make_config(algorithm, "small_map", "tiny").env.make_layout()
            folder = tmp_path_factory.mktemp(algorithm) / "saved_model"
            export_agent(agent, layout, str(folder), {"algorithm": algorithm, "env_preset": "small_map"})
            cache[algorithm] = layout, folder
        return cache[algorithm]
    return get


@pytest.mark.parametrize("algorithm, runtime", CASES)
def test_the_runtime_plays_the_saved_models_trials(algorithm, runtime, exported, tmp_path):
    layout, saved_model = exported(algorithm)
    reference = load_policy(str(saved_model))
    problems, goals = evaluation.sample_layout_trials(layout, "test", NUM_TRIALS, seed=0)
    expected = evaluation.play_trials(reference, layout, problems, goals)
    folder, metadata = convert_saved_model(str(saved_model), str(tmp_path / runtime), runtime)
    assert not metadata.get("portable", {}).get("not_converted"), metadata["portable"]
    policy = load_runtime_policy(folder, runtime)
    # The same outputs on random inputs within the observation bounds.
    rng = np.random.default_rng(0)
    n, T = 8, layout.horizon
    bounds = np.asarray(layout.observation_bounds)
    obs = rng.integers(0, bounds, size=(n, T + 1, len(bounds))).astype(np.int32)
    actions = rng.integers(0, layout.num_actions, size=(n, T)).astype(np.int32)
    length = rng.integers(0, T + 1, size=n).astype(np.int32)
    goal = np.asarray(layout.goals, np.int32)[rng.integers(0, len(layout.goals), n)]
    z_ref = reference.embed_exploration(obs, actions, length)
    np.testing.assert_allclose(policy.embed_exploration(obs, actions, length), z_ref, atol=1e-4)
    explore = (reference.explore_initial_state(n), policy.explore_initial_state(n))
    execute = (reference.execute_initial_state(n), policy.execute_initial_state(n))
    for t in range(3):
        (_, q_ref, s_ref), (_, q, s) = (
            p.explore_step(obs[:, t], actions[:, t], st) for p, st in zip((reference, policy), explore))
        np.testing.assert_allclose(q, q_ref, atol=1e-4, err_msg=f"{runtime} explore_step {t}")
        explore = (s_ref, s)
        (_, q_ref, s_ref), (_, q, s) = (
            p.execute_step(obs[:, t], goal, z_ref, st) for p, st in zip((reference, policy), execute))
        np.testing.assert_allclose(q, q_ref, atol=1e-4, err_msg=f"{runtime} execute_step {t}")
        execute = (s_ref, s)
    # Whole trials: the same returns (a near-tie may flip one greedy action on
    # another CPU, so at most one trial may differ).
    played = evaluation.play_trials(policy, layout, problems, goals)
    differ = np.flatnonzero(~np.isclose(played.returns, expected.returns, atol=1e-5))
    assert differ.size <= 1, f"{runtime}: trials {differ.tolist()} differ"
    same_paths = [np.array_equal(played.explore_cells[i], expected.explore_cells[i])
                  and np.array_equal(played.execute_cells[i], expected.execute_cells[i])
                  for i in range(NUM_TRIALS)]
    assert sum(same_paths) >= NUM_TRIALS - 1, f"{runtime}: paths differ"
