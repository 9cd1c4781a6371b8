"""Draws paper-style figures (mean over seeds with a band) from run folders.

  python launch/plot.py --runs=runs/sweep_paper --output_dir=docs/figures
  python launch/plot.py --runs=runs/dream_a,runs/dream_b --band=ci95

Figures (PNG and SVG, one curve per algorithm/variant): meta-test (evaluation) and
meta-training return against env steps (with the oracle's optimal and the no-exploration
lines), and, where runs logged them, the dynamics-model and disambiguation losses. Also
writes results.md: per group, the final and best evaluation return (mean ± std over
seeds), env steps and minutes to reach --target, wall-clock and env steps/s. Both say
"held-out" when every run evaluates on problems it never trained on (not on map or
small_map, which have no held-out split).

Only finished runs (summary.json written) enter results.md's statistics, so a final
return never averages runs stopped at different env steps; its "runs finished" column
says how many of a group's runs that is, and the unfinished runs (drawn in the figures)
are listed below the table with the env steps they reached and are named in a warning.
A run folder given twice (also through a sweep folder holding it) is refused before
anything is read, and two folders with the same config and seed before anything is drawn.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from tf_metarl.experiments import plotting, results
from tf_metarl.flag_checks import require_folder_or_new

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Run or sweep folders; every run below them is read (each run "
                  "once: a folder reached twice is refused). Unfinished runs (no summary.json) are "
                  "drawn but left out of results.md's statistics.", required=True)
flags.DEFINE_string("output_dir", "figures", "Where to write the figures.")
flags.DEFINE_enum("band", "std", ["std", "ci95"], "Band around the mean: std over seeds or 95% CI.")
flags.DEFINE_list("figures", sorted(plotting.FIGURES), "Which figures to draw.")
flags.DEFINE_float("target", 0.7, "Evaluation return whose first crossing the results table reports.")
require_folder_or_new("output_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    unknown = [f for f in FLAGS.figures if f not in plotting.FIGURES]
    if unknown:
        sys.exit(f"error: unknown figure(s) {unknown}; expected some of {sorted(plotting.FIGURES)}")
    from tf_metarl.config import ConfigError
    try:
        runs = plotting.find_runs(FLAGS.runs)
    except (FileNotFoundError, ConfigError, plotting.DuplicateRunError) as e:
        sys.exit(f"error: {e}")
    if not runs:
        sys.exit(f"error: no run folders (config.json with eval.csv/train.csv) under {FLAGS.runs}")
    unfinished = [r for r in runs if not r.finished]
    if unfinished:
        print(f"warning: {len(unfinished)} of {len(runs)} runs unfinished (no summary.json), so "
              "drawn in the figures but left out of results.md's final statistics:\n"
              + "\n".join(f"  {r.path} ({r.progress()})" for r in unfinished), file=sys.stderr)
    written = []
    for figure in FLAGS.figures:
        written += plotting.plot_figure(runs, figure, FLAGS.output_dir, FLAGS.band)
    print(f"{len(runs)} runs in {len(plotting.group_runs(runs))} groups, {len(unfinished)} unfinished")
    table = results.results_markdown(runs, FLAGS.target)
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    table_path = os.path.join(FLAGS.output_dir, "results.md")
    with open(table_path, "w") as f:
        f.write(table)
    print(table)
    for path in written + [table_path]:
        print(path)
    return 0


if __name__ == "__main__":
    app.run(main)
