"""Learning benchmark: DREAM (paper config) on distracting_bus_map, held-out return vs steps.

Runs (or resumes) the training run in --root_dir, then writes the learning curve, the
throughput and the learned exploration behaviour to benchmarks/results/<name>.md.

  python benchmarks/dream_learning.py                       # train (resumable) + report
  python benchmarks/dream_learning.py --report_only         # report from an existing run
  python benchmarks/dream_learning.py --override=run.overlap_collection=true --variant=overlap
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))


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
    with open(os.path.join(root_dir, "config.json")) as f:
        config = json.load(f)
    lines = [f"# {title}", "",
             f"Written {datetime.datetime.now().isoformat(timespec='seconds')} on "
             f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs) from `{root_dir}`.",
             f"Algorithm `{config['algorithm']}`, env preset `{config['env']['preset']}`, "
             f"seed {config['run']['seed']}, budget {int(config['run']['total_env_steps']):,} env steps.",
             *([f"Overrides: {', '.join(f'`{o}`' for o in overrides)}."] if overrides else []),
             *([f"Conditions: {conditions}"] if conditions else []),
             "", f"## Held-out evaluation ({config['run']['eval_trials']} fixed trials of the "
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
        lines.append(f"- Best held-out return {float(best['eval_return']):.3f} at "
                     f"{int(best['env_steps']):,} env steps; final {float(evals[-1]['eval_return']):.3f}.")
    lines.append(f"- First held-out return >= {target}: " + (
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="dream")
    parser.add_argument("--env_preset", default="distracting_bus_map")
    parser.add_argument("--config_preset", default="paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root_dir", default=None)
    parser.add_argument("--override", action="append", default=[],
                        help="section.field=value config override (repeatable)")
    parser.add_argument("--variant", default="",
                        help="a name for the overrides, appended to the run and report names")
    parser.add_argument("--target", type=float, default=0.7)
    parser.add_argument("--report_only", action="store_true")
    parser.add_argument("--conditions", default="",
                        help="what else ran on the machine meanwhile, quoted in the report")
    args = parser.parse_args()
    if args.override and not args.variant:
        parser.error("--override changes the run: name it with --variant, so its report "
                     "does not overwrite the default run's")
    name = "_".join([args.algorithm, args.env_preset, args.config_preset,
                     *([args.variant] if args.variant else []), f"seed{args.seed}"])
    root_dir = args.root_dir or os.path.join("runs", "benchmarks", name)
    if not args.report_only:
        from tf_metarl.config import apply_overrides
        from tf_metarl.training.config import make_config
        from tf_metarl.training.runner import Runner
        config = make_config(args.algorithm, args.env_preset, args.config_preset)
        config = apply_overrides(config, [f"run.seed={args.seed}"] + args.override)
        Runner(config, root_dir).run()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"learning_{name}.md")
    print(report(root_dir, out, args.target, f"Learning benchmark: {name}", args.conditions,
                 tuple(args.override)))


if __name__ == "__main__":
    main()
