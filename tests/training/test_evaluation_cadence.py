"""Held-out evaluation observes training without changing it: how often a run evaluates
must not change what it learns."""

import pytest

from tf_metarl.config import apply_overrides
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import Runner


# Planning covers DREAM too: its evaluation_mode (planning at test time) wraps DREAM's
# (which keeps the noise stream), so either one failing to restore state fails this.
@pytest.mark.parametrize("algorithm", ["planning"])
def test_evaluating_more_often_leaves_training_unchanged(algorithm, tmp_path, read_rows):
    def train(name, eval_every_trials):
        config = apply_overrides(make_config(algorithm, "small_map", "tiny"),
                                 ["run.total_env_steps=300", "run.log_every_trials=4",
                                  f"run.eval_every_trials={eval_every_trials}"])
        Runner(config, str(tmp_path / name)).run()
        return tmp_path / name

    often = train("often", 4)
    once = train("once", 10_000)
    assert len(read_rows(often / "eval.csv")) > 2 and len(read_rows(once / "eval.csv")) == 1
    often_rows = read_rows(often / "train.csv")
    assert len(often_rows) > 2
    assert read_rows(once / "train.csv") == often_rows
    # The final evaluation, of identical weights, agrees too.
    assert read_rows(once / "eval.csv")[-1] == read_rows(often / "eval.csv")[-1]
