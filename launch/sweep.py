"""Runs a grid of training runs (algorithms x env presets x variants x seeds), resumably.

Examples:
  python launch/sweep.py --algorithms=dream,gradient_embedder --seeds=0,1,2 \
      --config_preset=paper --root_dir=runs/sweep_paper
  python launch/sweep.py --algorithms=dream --seeds=0,1 --config_preset=tiny \
      --grid=agent.learning_rate=1e-4,3e-4 --mode=sequential

Running the same command again skips finished runs and resumes interrupted ones from
their checkpoints. Each run's output goes to sweep.log in its folder. Whenever a run ends,
a line reports it and <root_dir>/summary.csv is rewritten with the status, env steps and
latest evaluation return of every run recorded in <root_dir>/sweep.json (this sweep's and
those of earlier sweeps on the folder); this sweep's summary is printed at the end.
With --keep_logs=docs/runs, each finished run's logs (not its checkpoints) are copied
into the repository's docs/runs/<env>/<algorithm>/seed<k> as it ends.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from tf_metarl.experiments import sweep
from tf_metarl.flag_checks import require_folder_or_new
from tf_metarl.training.config import CONFIG_PRESETS

FLAGS = flags.FLAGS
flags.DEFINE_list("algorithms", ["dream"], "Algorithms to train (see launch/train.py --algorithm).")
flags.DEFINE_list("env_presets", ["distracting_bus_map"], "Env presets to train on.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each combination runs once per seed.")
flags.DEFINE_enum("config_preset", "paper", list(CONFIG_PRESETS), "Config preset of every run.")
flags.DEFINE_multi_string("override", [], "Override applied to every run (key.path=value).")
flags.DEFINE_multi_string("grid", [], "A grid axis key.path=v1,v2 (use ';' between values of "
                          "list-valued fields: a.b=64,64;128,128, end a single list value with "
                          "it: a.b=64,32;, and write an empty list as (): a.b=();64,32); "
                          "variants are all combinations of the axes.")
flags.DEFINE_string("root_dir", "runs/sweep", "Sweep folder: one sub-folder per run.")
flags.DEFINE_enum("mode", "ray", ["ray", "sequential"], "Run on Ray (local instance or "
                  "--ray_address) or, without Ray, one after another (each run a train.py process).")
flags.DEFINE_string("ray_address", None, "Address of an existing Ray cluster (default: start a "
                    "local instance sized to this machine's cores).")
flags.DEFINE_float("cpus_per_run", 1.0, "CPUs Ray reserves for each run.", lower_bound=0.01)
flags.DEFINE_string("keep_logs", None, "Copy each finished run's config.json, train.csv, "
                    "eval.csv and summary.json to <keep_logs>/<env>/<algorithm>/seed<k> (a "
                    "variant other than base adds a folder before seed<k>), e.g. docs/runs.")
flags.DEFINE_boolean("dry_run", False, "Print the runs and their status; run and write nothing.")
require_folder_or_new("root_dir")
require_folder_or_new("keep_logs")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    from tf_metarl.agents.registry import ALGORITHMS
    from tf_metarl.config import ConfigError
    from tf_metarl.envs.layout import PRESETS
    try:
        unknown = [a for a in FLAGS.algorithms if a not in ALGORITHMS]
        if unknown:
            raise sweep.SweepError(f"unknown algorithm(s) {unknown}; expected some of {sorted(ALGORITHMS)}")
        unknown = [e for e in FLAGS.env_presets if e not in PRESETS]
        if unknown:
            raise sweep.SweepError(f"unknown env preset(s) {unknown}; expected some of {sorted(PRESETS)}")
        try:
            seeds = [int(s) for s in FLAGS.seeds]
        except ValueError:
            raise sweep.SweepError(f"--seeds={','.join(FLAGS.seeds)}: expected integers") from None
        specs = sweep.expand(FLAGS.algorithms, FLAGS.env_presets, seeds, sweep.parse_grid(FLAGS.grid))
        # Check every run's config now, not hours later inside a worker, and against the
        # run already in its folder (a finished one would otherwise count as done).
        sweep.check_run_configs(specs, FLAGS.root_dir, FLAGS.config_preset, FLAGS.override)
        if not FLAGS.dry_run:  # a dry run leaves the sweep folder as it is
            sweep.write_spec(specs, FLAGS.root_dir, FLAGS.config_preset, FLAGS.override)
    except (sweep.SweepError, ConfigError) as e:
        sys.exit(f"error: {e}")

    root = FLAGS.root_dir
    summary_path = os.path.join(root, "summary.csv")
    todo = sweep.unfinished(specs, root)
    print(f"{len(specs)} runs in {root}, {len(todo)} to run", flush=True)
    codes = {}

    def write_folder_summary() -> dict[str, dict]:
        """Rewrites summary.csv with every run sweep.json records (this sweep's among them);
        returns its rows by run folder."""
        rows = sweep.summarize(sweep.recorded_specs(root), root, codes)
        sweep.write_summary(rows, summary_path)
        return {row["run_dir"]: row for row in rows}

    def report(spec, code):
        codes[spec] = code
        row = write_folder_summary()[spec.run_dir(root)]
        kept = sweep.keep_logs(spec, root, FLAGS.keep_logs) if FLAGS.keep_logs else None
        print(f"[{len(codes)}/{len(todo)}] {spec.algorithm} {spec.env_preset} {spec.variant} "
              f"seed {spec.seed}: {row['status']} (exit code {code}), env steps "
              f"{row['env_steps']}, evaluation return {row['eval_return']}"
              + (f"; logs kept in {kept}" if kept else ""), flush=True)

    if FLAGS.dry_run:
        rows = sweep.summarize(specs, root, codes)
    else:
        try:
            if FLAGS.mode == "ray":
                sweep.run_on_ray(specs, root, FLAGS.config_preset, FLAGS.override,
                                 FLAGS.ray_address, FLAGS.cpus_per_run, on_run_end=report)
            else:
                sweep.run_sequential(specs, root, FLAGS.config_preset, FLAGS.override,
                                     on_run_end=report)
        except sweep.SweepError as e:
            sys.exit(f"error: {e}")
        by_folder = write_folder_summary()
        rows = [by_folder[spec.run_dir(root)] for spec in specs]
    print(sweep.format_summary(rows))
    failed = [r for r in rows if r["status"] == sweep.FAILED]
    if failed:
        print(f"{len(failed)} run(s) failed; see sweep.log in their folders")
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
