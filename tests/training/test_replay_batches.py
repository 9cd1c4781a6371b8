"""Replay batches are cut per kind of episode, and the cut changes no loss."""

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.config import apply_overrides
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import Runner


def filled_runner(tmp_path, algorithm, bucket):
    config = apply_overrides(make_config(algorithm, "small_map", "tiny"),
                             [f"run.sequence_bucket={bucket}", "run.num_envs=8"])
    runner = Runner(config, str(tmp_path / f"{algorithm}_{bucket}"))
    for _ in range(3):
        runner.collect()
    return runner


@pytest.mark.parametrize("algorithm", ["dream", "gradient_embedder"])
def test_each_kind_is_cut_to_its_longest_episode(tmp_path, algorithm):
    runner = filled_runner(tmp_path, algorithm, bucket=2)
    batch = runner._sample(execute=True)
    horizon = runner.layout.horizon

    def expected(longest):
        return min(horizon, max(2, -(-int(longest) // 2) * 2))

    explore_longest = max(batch[f"{p}length"].max() for p in ("x_", "trial_x_") if f"{p}length" in batch)
    assert batch["x_actions"].shape[1] == expected(explore_longest)
    assert batch["x_obs"].shape[1] == expected(explore_longest) + 1
    assert batch["actions"].shape[1] == batch["rewards"].shape[1] == expected(batch["length"].max())
    assert batch["obs"].shape[1] == expected(batch["length"].max()) + 1
    if algorithm == "gradient_embedder":
        assert batch["trial_x_actions"].shape[1] == batch["x_actions"].shape[1]


@pytest.mark.parametrize("algorithm", ["dream", "gradient_embedder", "planning"])
def test_cut_batches_give_the_losses_of_full_length_batches(tmp_path, algorithm):
    runner = filled_runner(tmp_path, algorithm, bucket=1)
    full = runner._sample(execute=True)  # bucket 1 cuts to the longest episode exactly
    horizon = runner.layout.horizon
    # The same episodes padded back to the horizon, with zeros: the losses mask padding
    # out, so its values (the replay repeats the last observation and pads NOOPs) must not
    # matter.
    padded = {}
    for key, value in full.items():
        target = horizon + 1 if key.endswith("obs") else horizon
        if key.endswith(("obs", "actions", "rewards")) and value.shape[1] < target:
            pad = [(0, 0), (0, target - value.shape[1])] + [(0, 0)] * (value.ndim - 2)
            value = np.pad(value, pad)
        padded[key] = value
    assert padded["actions"].shape[1] == horizon
    agent = runner.agent

    def loss(batch):
        agent.noise_rng.reset_from_seed(7)  # the same bottleneck noise for both
        tensors = {k: tf.convert_to_tensor(v) for k, v in batch.items()}
        return float(agent._execute_loss(tensors)[0])

    assert full["actions"].shape[1] < horizon or full["x_actions"].shape[1] < horizon
    np.testing.assert_allclose(loss(full), loss(padded), rtol=1e-5, atol=1e-6)
