"""A run stopped before its first checkpoint starts again from scratch, and its logs keep
no rows or TensorBoard events from the stopped attempt."""

from tf_metarl.config import apply_overrides
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import Runner


def test_rows_of_an_attempt_without_checkpoint_are_dropped(tmp_path, read_rows, read_scalar_events):
    config = apply_overrides(make_config("dream", "small_map", "tiny"),
                             ["run.total_env_steps=200", "run.log_every_trials=4",
                              "run.eval_every_trials=8", "run.checkpoint_every_trials=10000"])
    stopped = Runner(config, str(tmp_path / "restarted"))
    for _ in range(3):  # trains and logs, then stops before any checkpoint
        stopped.collect()
        stopped.update()
        stopped._log_train()
    stopped._log_eval()
    stopped.writer.flush()
    assert stopped.manager.latest_checkpoint is None
    assert len(read_rows(tmp_path / "restarted" / "train.csv")) == 3

    stopped.close()  # its process ends (which frees the run folder)
    restarted = Runner(config, str(tmp_path / "restarted"))
    assert restarted.resumed_from is None
    restarted.run()
    Runner(config, str(tmp_path / "uninterrupted")).run()

    for name in ("train.csv", "eval.csv"):
        rows = read_rows(tmp_path / "uninterrupted" / name)
        assert len(rows) >= 2
        assert read_rows(tmp_path / "restarted" / name) == rows
    assert read_scalar_events(tmp_path / "restarted") == read_scalar_events(tmp_path / "uninterrupted")
