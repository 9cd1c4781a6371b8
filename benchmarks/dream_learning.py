"""Learning benchmark: evaluation return (held-out where the layout has a held-out split)
vs env steps of one training run, for any algorithm, env preset and config preset
(default: DREAM with the paper config on distracting_bus_map).

Trains (or resumes) the run in --root_dir (default runs/benchmarks/<name>), then writes
its learning curve, throughput and learned exploration behaviour to
<results_dir>/learning_<name>.md, <name> being
<algorithm>_<env_preset>_<config_preset>[_<variant>]_seed<seed>.

With --report_only nothing trains: the report describes the run already in --root_dir
and is named after that run's own config.json (its algorithm, env preset and seed, and
the config preset it matches), whatever the flags' defaults; a flag given explicitly
that contradicts the run's config is refused.

  python benchmarks/dream_learning.py                       # train (resumable) + report
  python benchmarks/dream_learning.py --algorithm=planning --config_preset=quick
  python benchmarks/dream_learning.py --report_only         # report from an existing run
  python benchmarks/dream_learning.py --report_only --root_dir=runs/benchmarks/<name>
  python benchmarks/dream_learning.py --override=run.overlap_collection=true --variant=overlap
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# Meta-training columns of train.csv reported per evaluation window, when a run logs them.
TRAINING_COLUMNS = (
    ("train_return", "meta-train return"),
    ("explore_length", "exploration length"),
    ("execute/decoder_loss", "decoder"),
    ("execute/transition_loss", "transition"),
    ("execute/disambiguation_loss", "disambiguation"),
    ("execute/consecutive_disambiguation_loss", "consecutive disambiguation"),
    ("execute/volume_loss", "volume"),
    ("execute/reward_loss", "reward"),
    ("execute/discount_loss", "discount"),
    ("execute/dynamics_loss_pre", "dynamics pre-adaptation"),
    ("execute/dynamics_loss_post", "dynamics post-adaptation"),
    ("execute/gradient_embedder_loss", "gradient embedder"),
)


def window_means(train: list[dict], evals: list[dict], column: str) -> list[float | None]:
    """Mean of ``column`` over the train.csv rows logged since the previous evaluation,
    for each evaluation (None where the window has no logged value)."""
    means, start = [], 0
    for row in evals:
        values = []
        while start < len(train) and int(train[start]["trials"]) <= int(row["trials"]):
            if train[start].get(column, "") != "":
                values.append(float(train[start][column]))
            start += 1
        means.append(sum(values) / len(values) if values else None)
    return means


def training_table(train: list[dict], evals: list[dict]) -> list[str]:
    """Markdown rows: the meta-training columns the run logs, averaged per evaluation window."""
    present = [(key, label) for key, label in TRAINING_COLUMNS if train and key in train[0]]
    if not present or not evals:
        return []
    columns = [window_means(train, evals, key) for key, _ in present]
    lines = ["", "## Meta-training and model losses (mean over each evaluation window)", "",
             "| env steps | " + " | ".join(label for _, label in present) + " |",
             "|---:|" + "---:|" * len(present)]
    for i, row in enumerate(evals):
        cells = ["-" if column[i] is None else f"{column[i]:.4g}" for column in columns]
        lines.append(f"| {int(row['env_steps']):,} | " + " | ".join(cells) + " |")
    return lines


def report(root_dir: str, out_path: str, target: float, title: str, conditions: str = "",
           overrides: tuple[str, ...] = ()) -> str:
    evals = read_csv(os.path.join(root_dir, "eval.csv"))
    train = read_csv(os.path.join(root_dir, "train.csv"))
    from tf_metarl.config import to_dict
    from tf_metarl.training.config import load_config
    loaded = load_config(root_dir)
    return_name = loaded.env.eval_return_name()  # 'held-out return' or not
    config = to_dict(loaded)
    lines = [f"# {title}", "",
             f"Written {datetime.datetime.now().isoformat(timespec='seconds')} on "
             # Absolute, so written_from names the folder wherever the report is read.
             f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs) from `{os.path.abspath(root_dir)}`.",
             f"Algorithm `{config['algorithm']}`, env preset `{config['env']['preset']}`, "
             f"seed {config['run']['seed']}, budget {int(config['run']['total_env_steps']):,} env steps.",
             *([f"Overrides: {', '.join(f'`{o}`' for o in overrides)}."] if overrides else []),
             *([f"Conditions: {conditions}"] if conditions else []),
             "", f"## Evaluation: {return_name} ({config['run']['eval_trials']} fixed trials of the "
             f"'{config['env']['eval_split']}' split, epsilon 0, z from the decoder)", "",
             "| env steps | trials | wall time (min) | return | success | exploration length | map visits | fraction of optimal |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    reached = None
    for row in evals:
        ret = float(row["eval_return"])
        if reached is None and ret >= target:
            reached = row
        lines.append(f"| {int(row['env_steps']):,} | {int(row['trials']):,} | "
                     f"{float(row['wall_time']) / 60:.1f} | {ret:.3f} | {float(row['eval_success']):.2f} | "
                     f"{float(row['eval_explore_length']):.1f} | {row.get('eval_map_visit_rate') or '-'} | "
                     f"{float(row['eval_fraction_optimal']):.2f} |")
    last = train[-1] if train else None
    lines += training_table(train, evals)
    lines += ["", "## Summary", ""]
    if evals:
        lines.append(f"- Optimal return {float(evals[-1]['optimal_return']):.2f}; "
                     f"no exploration {float(evals[-1]['no_information_return']):.2f}.")
        best = max(evals, key=lambda r: float(r["eval_return"]))
        lines.append(f"- Best {return_name} {float(best['eval_return']):.3f} at "
                     f"{int(best['env_steps']):,} env steps; final {float(evals[-1]['eval_return']):.3f}.")
    lines.append(f"- First {return_name} >= {target}: " + (
        f"{int(reached['env_steps']):,} env steps, {float(reached['wall_time']) / 60:.1f} min."
        if reached else "not reached."))
    if last:
        lines.append(f"- Throughput (whole process, updates included): "
                     f"{float(last['env_steps_per_sec']):.0f} env steps/s over "
                     f"{float(last['wall_time']) / 60:.1f} min; {int(last['execute_updates']):,} execution and "
                     f"{int(last['explore_updates']):,} exploration updates.")
    text = "\n".join(lines) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    return text


class BenchmarkError(ValueError):
    """A flag or run folder this benchmark cannot work with."""


def report_name(algorithm: str, env_preset: str, config_preset: str, seed: int,
                variant: str = "") -> str:
    """``<algorithm>_<env_preset>_<config_preset>[_<variant>]_seed<seed>``: the name of the
    run folder (under runs/benchmarks) and of its report (``learning_<name>.md``)."""
    return "_".join([algorithm, env_preset, config_preset, *([variant] if variant else []),
                     f"seed{seed}"])


def _ignored_fields() -> set[str]:
    """Fields that may differ between runs of one preset: bookkeeping and the budget (which
    a resume may change)."""
    from tf_metarl.training.config import BOOKKEEPING_RUN_FIELDS
    return {f"run.{name}" for name in (*BOOKKEEPING_RUN_FIELDS, "total_env_steps")}


def preset_differences(config, config_preset: str, overrides=()) -> list[str]:
    """'key.path: preset value -> run value' wherever the run's ``config`` differs from
    ``config_preset`` (with the run's algorithm, env preset and seed, then ``overrides``),
    bookkeeping fields and the budget aside."""
    from tf_metarl.config import apply_overrides, differences
    from tf_metarl.training.config import make_config
    expected = apply_overrides(make_config(config.algorithm, config.env.preset, config_preset),
                               [f"run.seed={config.run.seed}", *overrides])
    ignored = _ignored_fields()
    return [d for d in differences(expected, config) if d.split(":", 1)[0] not in ignored]


def match_config_preset(config, overrides=(), requested: str | None = None) -> tuple[str, list[str]]:
    """The config preset a run's config was made from (config.json does not record it):
    the one it differs least from, ``requested`` (an explicit --config_preset) among equals.
    Returns the preset and the run's differences from it; raises BenchmarkError when
    ``requested`` is not a closest preset, or no single preset is closest."""
    from tf_metarl.training.config import CONFIG_PRESETS
    diffs = {preset: preset_differences(config, preset, overrides) for preset in CONFIG_PRESETS}
    fewest = min(len(d) for d in diffs.values())
    closest = [preset for preset in CONFIG_PRESETS if len(diffs[preset]) == fewest]
    if requested is not None:
        if requested in closest:
            return requested, diffs[requested]
        raise BenchmarkError(
            f"--config_preset={requested} contradicts the run's config.json, which matches the "
            f"{closest[0]!r} preset ({requested} would differ in {len(diffs[requested])} fields: "
            f"{'; '.join(diffs[requested][:4])}{'; ...' if len(diffs[requested]) > 4 else ''})")
    if len(closest) > 1:
        raise BenchmarkError(f"the run's config.json matches the presets {closest} equally; "
                             "name its preset with --config_preset")
    return closest[0], diffs[closest[0]]


def check_run_folder(root_dir: str):
    """The config of the finished or running run in ``root_dir``, after checking the folder
    holds what a report reads."""
    from tf_metarl.config import ConfigError
    from tf_metarl.training.config import load_config
    if not os.path.isdir(root_dir):
        raise BenchmarkError(f"--root_dir={root_dir!r}: no such folder; --report_only needs an "
                             "existing run folder (drop --report_only to train one)")
    for name in ("config.json", "eval.csv", "train.csv"):
        if not os.path.isfile(os.path.join(root_dir, name)):
            raise BenchmarkError(f"--root_dir={root_dir!r} holds no {name}: expected a run folder "
                                 "that has logged and evaluated (config.json, train.csv, eval.csv)")
    try:
        return load_config(root_dir)
    except (ConfigError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"--root_dir={root_dir!r}: its config.json cannot be read: {e}") from None


def report_path(results_dir: str, name: str) -> str:
    """Where the report of ``name`` (``report_name``) goes: ``<results_dir>/learning_<name>.md``."""
    return os.path.join(results_dir, f"learning_{name}.md")


def written_from(report_path: str) -> str | None:
    """The run folder an existing report names in its 'Written ... from `<folder>`.' line;
    None when there is no such report."""
    if not os.path.isfile(report_path):
        return None
    with open(report_path) as f:
        match = re.search(r"^Written .* from `(.*)`\.$", f.read(), re.MULTILINE)
    return match.group(1) if match else None


def check_not_another_runs_report(out_path: str, root_dir: str, diffs: list[str]) -> None:
    """Refuses to name the report of a run that differs from its preset (``diffs``) after
    that preset when ``out_path`` already holds the report of another run folder: without
    --variant the two runs share one report name."""
    source = written_from(out_path)
    if diffs and source is not None and os.path.realpath(source) != os.path.realpath(root_dir):
        raise BenchmarkError(
            f"the run in {root_dir!r} differs from its preset ({'; '.join(diffs)}), and "
            f"{out_path!r} already reports another run ({source!r}); name this run's report "
            "with --variant (and its differences with --override), or pass another --results_dir")


def report_run_name(root_dir: str, config, explicit: dict, variant: str = "",
                    overrides=()) -> tuple[str, list[str]]:
    """The report name of the existing run ``config`` (read from ``root_dir``): its
    algorithm, env preset and seed, the config preset it matches and ``variant``.

    ``explicit`` holds the flags given on the command line (algorithm, env_preset,
    config_preset, seed); one that contradicts the run's config raises BenchmarkError, as
    does an override whose value is not the run's. Returns the name and the run's
    differences from its preset (beyond ``overrides``)."""
    from tf_metarl.config import apply_overrides
    contradictions = [
        f"--{flag}={explicit[flag]} but the run's config.json has {key}={value!r}"
        for flag, key, value in (("algorithm", "algorithm", config.algorithm),
                                 ("env_preset", "env.preset", config.env.preset),
                                 ("seed", "run.seed", config.run.seed))
        if flag in explicit and explicit[flag] != value]
    for item in overrides:
        overridden = apply_overrides(config, [item])  # refuses unknown keys and bad values
        if overridden != config:
            key = item.split("=", 1)[0].strip()
            value = config
            for part in key.split("."):
                value = getattr(value, part)
            contradictions.append(f"--override={item} but the run's config.json has {key}={value!r}")
    if contradictions:
        raise BenchmarkError(f"flags contradict the run in {root_dir!r}: " + "; ".join(contradictions))
    preset, diffs = match_config_preset(config, overrides, explicit.get("config_preset"))
    return report_name(config.algorithm, config.env.preset, preset, config.run.seed, variant), diffs


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 0")
    return value


def _variant_name(text: str) -> str:
    if text and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a name of letters, digits, '_', '.' or '-' (it ends up in file names)")
    return text


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults (except empty ones and switches) and keeps the description as written."""

    def _get_help_string(self, action):
        if action.default in (None, "", [], False):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag on one line, like the script's other errors."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from tf_metarl.agents.registry import ALGORITHMS
    from tf_metarl.envs.layout import PRESETS
    from tf_metarl.training.config import CONFIG_PRESETS
    parser = _Parser(description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--algorithm", default="dream", choices=sorted(ALGORITHMS),
                        help="agent to train")
    parser.add_argument("--env_preset", default="distracting_bus_map", choices=sorted(PRESETS),
                        help="bus-map world to train and evaluate on")
    parser.add_argument("--config_preset", default="paper", choices=list(CONFIG_PRESETS),
                        help="hyper-parameter preset (tiny: tests; quick: a demo; paper: the "
                        "reference hyper-parameters, 1M env steps)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="random seed of the run")
    parser.add_argument("--root_dir", default=None,
                        help="run folder (default: runs/benchmarks/<name>)")
    parser.add_argument("--override", action="append", default=[],
                        help="section.field=value config override (repeatable); needs --variant")
    parser.add_argument("--variant", type=_variant_name, default="",
                        help="a name for the overrides, appended to the run and report names")
    parser.add_argument("--target", type=float, default=0.7,
                        help="evaluation return whose first crossing the report gives")
    parser.add_argument("--report_only", action="store_true",
                        help="train nothing: report the run in --root_dir, named after its config.json")
    parser.add_argument("--conditions", default="",
                        help="what else ran on the machine meanwhile, quoted in the report")
    parser.add_argument("--results_dir", default=RESULTS_DIR,
                        help="folder of the report learning_<name>.md")
    return parser


def explicit_flags(argv) -> dict:
    """The flags given on the command line (not left to their defaults), with their values."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return vars(parser.parse_args(argv))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.override and not args.variant:
        parser.error("--override changes the run: name it with --variant, so its report "
                     "does not overwrite the default run's")
    from tf_metarl.config import ConfigError
    from tf_metarl.envs.layout import LayoutError
    from tf_metarl.flag_checks import can_be_folder
    try:
        if not can_be_folder(args.results_dir):
            raise BenchmarkError(f"--results_dir={args.results_dir!r} is, or lies under, a file; "
                                 "expected a folder (existing or to be created)")
        name = report_name(args.algorithm, args.env_preset, args.config_preset, args.seed,
                           args.variant)
        root_dir = args.root_dir or os.path.join("runs", "benchmarks", name)
        if args.report_only:
            config = check_run_folder(root_dir)
            name, diffs = report_run_name(root_dir, config, explicit_flags(argv), args.variant,
                                          args.override)
            check_not_another_runs_report(report_path(args.results_dir, name), root_dir, diffs)
            if diffs and not args.variant:
                print(f"note: the run's config differs from its preset in: {'; '.join(diffs)} "
                      "(older code defaults, or overrides to name with --override and --variant)",
                      file=sys.stderr)
        else:
            train(args, root_dir)
    except (BenchmarkError, ConfigError, LayoutError) as e:
        sys.exit(f"error: {e}")
    os.makedirs(args.results_dir, exist_ok=True)
    out = report_path(args.results_dir, name)
    print(report(root_dir, out, args.target, f"Learning benchmark: {name}", args.conditions,
                 tuple(args.override)))
    print(f"wrote {out}", file=sys.stderr)


def train(args, root_dir: str) -> None:
    """Trains (or resumes) the run of the flags in ``root_dir``."""
    from tf_metarl.flag_checks import can_be_folder
    from tf_metarl.training.config import run_config
    config = run_config(args.algorithm, args.env_preset, args.config_preset, args.seed,
                        args.override)
    if not can_be_folder(root_dir):
        raise BenchmarkError(f"--root_dir={root_dir!r} is, or lies under, a file; expected a "
                             "run folder (existing or to be created)")
    from tf_metarl.training.runner import Runner, RunFolderError
    try:
        from tf_metarl.training.run_lock import RunFolderBusyError
    except ImportError:  # a version without run folder locks
        RunFolderBusyError = RunFolderError
    try:
        runner = Runner(config, root_dir)
    except (RunFolderError, RunFolderBusyError) as e:
        raise BenchmarkError(str(e)) from None
    runner.run()


if __name__ == "__main__":
    main()
