"""Regenerates the results page and its figures from run folders.

  python launch/plot.py --runs=docs/runs --output_dir=docs/figures
  python launch/plot.py --runs=runs/dream_a,runs/dream_b --band=ci95 --bootstrap_reps=50000

Runs are found below --runs in any layout (a sweep's <root>/<algorithm>/<env>/<variant>/seed<k>,
the kept runs' <root>/<env>/<algorithm>/[<variant>/]seed<k>) and grouped by their config.json.

Figures (PNG and SVG): learning curves, one curve per algorithm/variant with a band over
seeds: meta-test (evaluation) and meta-training return against env steps (with the
oracle's optimal and the no-exploration lines), and, where runs logged them, the
dynamics-model and disambiguation losses; per env, performance profiles of the final
return; and the probability that each algorithm improves on DREAM. results.md (see
tf_metarl/experiments/results.py): per env, a table with the IQM of the final return and
its stratified-bootstrap 95% interval (rliable), the mean ± std, the env steps to first
reach --target (IQM and interval, runs that never did counted at their budget) and how
many runs reached it, wall-clock and env steps/s; then the figures, P(X > dream), the seed
paper's three claims decided by it, and the DREAM paper's Fig. 6 next to ours on
distracting_bus. Intervals use --bootstrap_reps resamples drawn from --bootstrap_seed, so
the page regenerates with the same numbers. Returns are called "held-out" when every run
evaluates on problems it never trained on (not on map or small_map).

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

from absl import app, flags, logging

from tf_metarl.experiments import plotting, results, robust_stats
from tf_metarl.flag_checks import require_folder_or_new

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Run or sweep folders; every run below them is read (each run "
                  "once: a folder reached twice is refused). Unfinished runs (no summary.json) are "
                  "drawn but left out of results.md's statistics.", required=True)
flags.DEFINE_string("output_dir", "figures", "Where to write the figures.")
flags.DEFINE_enum("band", "std", list(plotting.BANDS), "Band around the learning curves' mean: std "
                  "over seeds, 95% t interval (ci95) or 95% bootstrap interval of the mean.")
STATISTIC_FIGURES = ("performance_profile", "probability_of_improvement")
flags.DEFINE_list("figures", sorted(plotting.FIGURES) + list(STATISTIC_FIGURES), "Which figures to draw.")
flags.DEFINE_float("target", 0.7, "Evaluation return whose first crossing the results table reports.")
flags.DEFINE_integer("bootstrap_reps", 1000, "Bootstrap resamples per interval (rliable "
                     "recommends 50,000 for publication; 1,000 keeps ~40 runs to ~20 s of CPU).",
                     lower_bound=10)
flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap resamples.")
require_folder_or_new("output_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # rliable logs a line per interval
    known = sorted(plotting.FIGURES) + list(STATISTIC_FIGURES)
    unknown = [f for f in FLAGS.figures if f not in known]
    if unknown:
        sys.exit(f"error: unknown figure(s) {unknown}; expected some of {known}")
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
    try:
        import rliable.library  # noqa: F401 (its import pulls arch, pandas, seaborn)
    except (ImportError, TypeError) as e:  # TypeError: arch 7 under pandas 3
        sys.exit(f"error: the results statistics need rliable ({e!r}); pip install 'rliable>=1.2' "
                 "'pandas<3'")
    bootstrap = robust_stats.Bootstrap(reps=FLAGS.bootstrap_reps, seed=FLAGS.bootstrap_seed)
    analysis = results.analyze(runs, FLAGS.target, bootstrap)
    written = []
    for figure in FLAGS.figures:
        if figure == "performance_profile":
            references = {env: results.reference_returns([r for r in runs if r.env_preset == env])
                          for env in analysis.profiles}
            written += plotting.plot_performance_profiles(
                analysis.profiles, FLAGS.output_dir,
                "final " + plotting.shared_eval_return_name([r for r in runs if r.finished]), references)
        elif figure == "probability_of_improvement":
            written += plotting.plot_probability_of_improvement(analysis.improvement, FLAGS.output_dir)
        else:
            written += plotting.plot_figure(runs, figure, FLAGS.output_dir, FLAGS.band,
                                            bootstrap=bootstrap)
    print(f"{len(runs)} runs in {len(plotting.group_runs(runs))} groups, {len(unfinished)} unfinished")
    table = results.results_markdown(runs, FLAGS.target, bootstrap, analysis, written)
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
