"""How well a trained run's task embeddings predict f(mu), prefix by prefix.

The logged ``execute/decoder_loss`` averages ||g(tau_{:t}) - f(mu)||^2 over every prefix
t = 0..L of an exploration episode, including the empty prefix and the steps before the
map, which cannot identify mu; execution at test time only reads the final prefix. The
gradient embedder's logged loss scores the whole episode only. This benchmark plays
trials with a run's latest checkpoint (greedy exploration and execution, as held-out
evaluation does) on training problems (held-out problems' f(mu) never trains, so there
is no target there) and reports, on the same exploration episodes:

* decoder error on the empty prefix, on the final prefix, and over all prefixes (what
  ``decoder_loss`` logs);
* for the gradient embedder, ||h(inner gradients) - f(mu)||^2 of the whole episode;
* mean ||f(mu)||^2, the scale of the target.

Writes ``benchmarks/results/task_embedding_errors.md``.

  python benchmarks/task_embedding_errors.py --run_dirs=runs/a,runs/b [--trials 256]
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_metarl import losses  # noqa: E402
from tf_metarl.config import ConfigError  # noqa: E402
from tf_metarl.agents.dream.agent import step_masks  # noqa: E402
from tf_metarl.envs.core import BatchedBusMap, sample_trials  # noqa: E402
from tf_metarl.envs.layout import LayoutError  # noqa: E402
from tf_metarl.export.exporter import find_checkpoint  # noqa: E402
from tf_metarl.export.paths import RunDirError, check_run_dir  # noqa: E402
from tf_metarl.flag_checks import can_be_folder  # noqa: E402
from tf_metarl.training.collection import play_trials  # noqa: E402
from tf_metarl.training.config import load_config  # noqa: E402
from tf_metarl.training.runner import make_agent  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "task_embedding_errors.md"


def embedding_errors(run_dir: str, num_trials: int, seed: int) -> dict[str, float]:
    """Mean squared errors of the run's task embeddings against f(mu) on ``num_trials``
    greedy trials of the run's training problems."""
    config = load_config(run_dir)
    layout = config.env.make_layout()
    agent = make_agent(config, layout)
    checkpoint = find_checkpoint(run_dir)
    tf.train.Checkpoint(agent=agent).restore(checkpoint).expect_partial().assert_existing_objects_matched()
    rng = np.random.default_rng(seed)
    problems, goals = sample_trials(rng, layout.split_problem_ids(config.env.train_split), len(layout.goals), num_trials)
    with agent.evaluation_mode():
        batch = play_trials(agent, BatchedBusMap(layout, num_trials), problems, goals, rng,
                            0.0, 0.0, np.ones(num_trials, dtype=bool))
    x_obs, x_actions, x_length = (tf.constant(v, tf.int32)
                                  for v in (batch.x_obs, batch.x_actions, batch.x_length))
    f = agent.encoder(tf.constant(problems, tf.int32))
    predictions = agent.decoder(x_obs, x_actions)  # [N, T+1, Z]
    errors = losses.squared_distances(predictions, f).numpy()  # [N, T+1]
    _, _, prefix_mask = step_masks(x_length, x_actions.shape[1])
    result = {
        "checkpoint": os.path.basename(checkpoint),
        "return": float(batch.returns.mean()),
        "explore_length": float(batch.x_length.mean()),
        "f_norm2": float(np.mean(np.sum(f.numpy() ** 2, axis=-1))),
        "decoder_empty_prefix": float(errors[:, 0].mean()),
        "decoder_final_prefix": float(errors[np.arange(num_trials), batch.x_length].mean()),
        "decoder_all_prefixes": float(losses.decoder_loss(predictions, f, prefix_mask)),
    }
    if hasattr(agent, "gradient_embedding"):
        h = agent.gradient_embedding(x_obs, x_actions, x_length)
        result["gradient_embedding"] = float(np.mean(np.sum((h.numpy() - f.numpy()) ** 2, axis=-1)))
    return result


def report(rows: dict[str, dict[str, float]], args) -> str:
    columns = (("checkpoint", "checkpoint"), ("return", "return"), ("explore_length", "explore len"),
               ("f_norm2", "‖f‖²"), ("decoder_empty_prefix", "decoder, empty prefix"),
               ("decoder_final_prefix", "decoder, final prefix"),
               ("decoder_all_prefixes", "decoder, all prefixes (= decoder_loss)"),
               ("gradient_embedding", "gradient embedder (= gradient_embedder_loss)"))
    lines = [f"# Task-embedding errors ({datetime.date.today().isoformat()})", "",
             f"`python benchmarks/task_embedding_errors.py --run_dirs={','.join(rows)} "
             f"--trials={args.trials} --seed={args.seed}`", "",
             f"Mean squared distance to f(mu) on {args.trials} greedy trials of each run's "
             "training problems; return is those trials' mean.", "",
             "| run | " + " | ".join(title for _, title in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for run_dir, row in rows.items():
        cells = [row[key] if key == "checkpoint" else (f"{row[key]:.3f}" if key in row else "–")
                 for key, _ in columns]
        lines.append(f"| `{run_dir}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run_dirs", required=True, help="Comma-separated training run folders.")
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    if args.trials < 1:
        parser.error(f"--trials={args.trials}: expected at least 1")
    output = pathlib.Path(args.output)
    if output.is_dir() or not can_be_folder(str(output.resolve().parent)):
        parser.error(f"--output={args.output!r}: expected a file path whose folder exists or can "
                     "be created (not a folder, not under a file)")
    run_dirs = [d for d in args.run_dirs.split(",") if d]
    if not run_dirs:
        parser.error(f"--run_dirs={args.run_dirs!r}: expected comma-separated run folders")
    for run_dir in run_dirs:  # all checked before the first (slow) evaluation
        try:
            check_run_dir(run_dir)
            load_config(run_dir).env.make_layout()
        except (RunDirError, ConfigError, LayoutError) as e:
            parser.error(f"--run_dirs: {e}")
    rows = {}
    for run_dir in run_dirs:
        rows[run_dir] = embedding_errors(run_dir, args.trials, args.seed)
        print(run_dir, rows[run_dir], flush=True)
    text = report(rows, args)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
