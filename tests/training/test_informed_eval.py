"""The runner's evaluation reports the informed return beside the return: the mean over
its trials of the best execution return knowing what each exploration revealed."""

import numpy as np
import pytest

from tf_metarl.config import apply_overrides
from tf_metarl.envs import oracle
from tf_metarl.training.collection import play_trials
from tf_metarl.training.config import make_config
from tf_metarl.training.runner import Runner


def test_evaluation_reports_the_informed_return_and_both_gaps(tmp_path, read_rows):
    config = apply_overrides(make_config("dream", "small_map", "tiny"),
                             ["run.eval_trials=64"])
    runner = Runner(config, str(tmp_path / "run"))
    result = runner.evaluate()
    # The same greedy trials, played again: their informed returns, one by one.
    n = runner.eval_env.num_envs
    with runner.agent.evaluation_mode():
        batch = play_trials(runner.agent, runner.eval_env, runner.eval_problem_ids,
                            runner.eval_goal_ids, np.random.default_rng(0), 0.0, 0.0,
                            np.ones(n, dtype=bool))
    assert batch.returns.mean() == pytest.approx(result["eval_return"])
    informed = oracle.informed_returns(runner.layout, batch.problem_id, batch.goal_id, batch.x_obs,
                                       batch.x_actions, batch.x_length)
    knowledge = oracle.explored_knowledge_batch(runner.layout, batch.problem_id, batch.x_obs,
                                                batch.x_actions, batch.x_length)
    for i in range(n):
        assert informed[i] == pytest.approx(oracle.informed_return(
            runner.layout, int(batch.problem_id[i]), int(batch.goal_id[i]), np.flatnonzero(knowledge[i])))
    assert result["eval_informed_return"] == pytest.approx(informed.mean())
    assert result["no_information_return"] - 1e-9 <= result["eval_informed_return"] \
        <= result["optimal_return"] + 1e-9
    assert result["eval_explore_gap"] == pytest.approx(result["optimal_return"] - informed.mean())
    assert result["eval_execute_gap"] == pytest.approx(informed.mean() - result["eval_return"])

    runner._log_eval()  # what the loop does on its evaluation schedule
    row = read_rows(tmp_path / "run" / "eval.csv")[-1]
    assert {"eval_informed_return", "eval_explore_gap", "eval_execute_gap"} <= row.keys()
    assert float(row["eval_explore_gap"]) + float(row["eval_execute_gap"]) == pytest.approx(
        float(row["optimal_return"]) - float(row["eval_return"]), abs=1e-6)
