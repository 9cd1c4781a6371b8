"""Trains a meta-RL agent on the bus-map world and evaluates it on held-out problems
(where the layout has them: not on map or small_map).

Examples:
  python launch/train.py --config_preset=quick
  python launch/train.py --algorithm=dream --config_preset=paper --seed=0 \
      --root_dir=runs/dream_paper_s0
  python launch/train.py --config_preset=quick --override=agent.learning_rate=1e-3 \
      --override=run.num_envs=32 --root_dir=runs/dream_quick_lr1e-3

A killed run resumes from its last checkpoint when started again with the same flags.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from tf_metarl.agents.registry import ALGORITHMS  # noqa: E402
from tf_metarl.config import ConfigError, to_json  # noqa: E402
from tf_metarl.envs.layout import PRESETS, LayoutError  # noqa: E402
from tf_metarl.flag_checks import require_folder_or_new  # noqa: E402
from tf_metarl.training.config import CONFIG_PRESETS, run_config  # noqa: E402
from tf_metarl.training.run_lock import RunFolderBusyError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("algorithm", "dream", sorted(ALGORITHMS), "Which agent to train.")
flags.DEFINE_enum("env_preset", "distracting_bus_map", sorted(PRESETS), "Bus-map world to train on.")
flags.DEFINE_enum("config_preset", "quick", list(CONFIG_PRESETS),
                  "Hyper-parameter preset: tiny (tests, seconds), quick (a demo of a few "
                  "minutes), paper (the reference hyper-parameters, 1M env steps).")
flags.DEFINE_integer("seed", 0, "Random seed (network init, trials, exploration, replay).", lower_bound=0)
flags.DEFINE_string("root_dir", None, "Run folder (default: runs/<algorithm>_<env>_<preset>_seed<seed>).")
flags.DEFINE_multi_string("override", [], "Config override key.path=value, e.g. agent.learning_rate=3e-4 "
                          "or run.total_env_steps=200000; repeatable. Sections: agent, env, run.")
flags.DEFINE_boolean("resume", True, "Resume from the run folder's latest checkpoint if it has one; "
                     "with --noresume a folder that has a checkpoint is an error.")
flags.DEFINE_boolean("print_config", False, "Print the resolved config as JSON and exit.")
require_folder_or_new("root_dir")


def build_config():
    return run_config(FLAGS.algorithm, FLAGS.env_preset, FLAGS.config_preset, FLAGS.seed,
                      FLAGS.override)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    logging.set_verbosity(logging.WARNING)  # TensorFlow's checkpoint saver logs at INFO
    try:
        config = build_config()
        if FLAGS.print_config:
            print(to_json(config))
            return 0
        root_dir = FLAGS.root_dir or os.path.join(
            "runs", f"{FLAGS.algorithm}_{FLAGS.env_preset}_{FLAGS.config_preset}_seed{FLAGS.seed}")
        checkpoint_index = os.path.join(root_dir, "checkpoints", "checkpoint")
        if not FLAGS.resume and os.path.exists(checkpoint_index):
            raise ConfigError(f"--noresume but {root_dir!r} already has a checkpoint; "
                              "choose another --root_dir or drop --noresume")
    except (ConfigError, LayoutError) as e:
        sys.exit(f"error: {e}")
    # Imported only now: the runner starts TensorFlow, which bad flags need not wait for.
    from tf_metarl.training.runner import NonFiniteLossError, Runner, RunFolderError
    try:
        runner = Runner(config, root_dir)
    except (ConfigError, LayoutError, RunFolderError, RunFolderBusyError) as e:
        sys.exit(f"error: {e}")
    if runner.resumed_from:
        print(f"resuming from {runner.resumed_from} "
              f"({runner.state.trials} trials, {runner.state.env_steps} env steps)")
    try:
        summary = runner.run()
    except NonFiniteLossError as e:
        sys.exit(f"error: {e}")
    print(f"\n{config.algorithm} on {runner.layout.name}: {summary['env_steps']} env steps, "
          f"{summary['wall_time']:.0f} s")
    print(f"return on {config.env.describe_eval_problems(runner.layout)} {summary['eval_return']:.3f} (optimal {summary['optimal_return']:.3f}, "
          f"no exploration {summary['no_information_return']:.3f}), success "
          f"{summary['eval_success']:.2f}, exploration length {summary['eval_explore_length']:.1f}")
    print(f"run folder: {root_dir}")
    return 0


if __name__ == "__main__":
    app.run(main)
