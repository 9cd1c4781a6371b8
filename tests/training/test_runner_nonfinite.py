"""A NaN loss stops the run with a clear message and keeps the last good checkpoint."""

import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.config import apply_overrides
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import NonFiniteLossError, Runner


def test_nan_loss_stops_without_checkpointing(tmp_path):
    config = apply_overrides(make_config("dream", "small_map", "tiny"),
                             ["run.total_env_steps=100000", "run.checkpoint_every_trials=8",
                              "run.log_every_trials=8", "run.eval_every_trials=1000"])
    runner = Runner(config, str(tmp_path))
    real_train_step = runner.agent.train_step
    calls = {"n": 0}

    def poisoned_train_step(batch, execute=True, explore=True):
        metrics = real_train_step(batch, execute, explore)
        calls["n"] += 1
        if runner.manager.latest_checkpoint is not None:  # poison after the first checkpoint
            metrics = dict(metrics, **{"execute/td_loss": tf.constant(np.nan)})
        return metrics

    runner.agent.train_step = poisoned_train_step
    with pytest.raises(NonFiniteLossError, match=r"execute/td_loss became nan at env step \d+"):
        runner.run()
    assert calls["n"] > 0
    good = runner.manager.latest_checkpoint
    assert good is not None and good.endswith("-8")  # the one saved before the NaN
    assert not (tmp_path / "summary.json").exists()


def test_non_finite_weights_are_not_checkpointed(tmp_path):
    config = apply_overrides(make_config("dream", "small_map", "tiny"), ["run.total_env_steps=100"])
    runner = Runner(config, str(tmp_path))
    variable = runner.agent.explore_variables()[0]
    variable.assign(tf.fill(variable.shape, np.inf))
    with pytest.raises(NonFiniteLossError, match="weights of .* are not finite at env step 0"):
        runner.save()
    assert runner.manager.latest_checkpoint is None
