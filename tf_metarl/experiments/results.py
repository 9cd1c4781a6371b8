"""The results table: one row per group of runs that differ only by seed.

Each row answers "how good, how fast to learn, how fast to run": the final and best
evaluation return (mean and sample std over seeds; "held-out" when every run evaluates on
held-out problems), the env steps and wall-clock at which each seed first reached a target
return, and each run's wall-clock and throughput.

Only finished runs (``Run.finished``) enter a row, so a final return never averages runs
stopped at different env steps; a row says how many of its group's runs that is, and
``results_markdown`` lists the unfinished runs under the table.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tf_metarl.experiments.plotting import Run, common_return_name, group_runs, shared_eval_return_name


def first_reaching(run: Run, target: float) -> tuple[float, float] | None:
    """(env steps, wall seconds) of the first evaluation return >= target, or None."""
    table = run.tables.get("eval.csv", {})
    if "eval_return" not in table:
        return None
    hits = np.flatnonzero(table["eval_return"] >= target)
    if not len(hits):
        return None
    wall = table.get("wall_time", np.full(len(table["eval_return"]), np.nan))
    return float(table["env_steps"][hits[0]]), float(wall[hits[0]])


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std); the std of one value is 0, both are NaN for no values."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def summarize_group(members: Sequence[Run], target: float = 0.7) -> dict:
    """One row of the results table for runs that differ only by seed."""
    finals, bests, walls, speeds, steps = [], [], [], [], []
    reached_steps, reached_walls = [], []
    for run in members:
        evals, train = run.tables.get("eval.csv", {}), run.tables.get("train.csv", {})
        if "eval_return" in evals and len(evals["eval_return"]):
            finals.append(evals["eval_return"][-1])
            bests.append(np.nanmax(evals["eval_return"]))
            steps.append(evals["env_steps"][-1])
        if "wall_time" in train and len(train["wall_time"]):
            walls.append(train["wall_time"][-1])
            speeds.append(train["env_steps"][-1] / max(train["wall_time"][-1], 1e-9))
        reached = first_reaching(run, target)
        if reached is not None:
            reached_steps.append(reached[0])
            reached_walls.append(reached[1])
    first = members[0]
    return {
        "algorithm": first.algorithm, "env_preset": first.env_preset, "variant": first.variant,
        "return_name": shared_eval_return_name(members),
        "seeds": sorted(r.seed for r in members),
        "env_steps": _mean_std(steps)[0],
        "final_return": _mean_std(finals), "best_return": _mean_std(bests),
        "target": target, "seeds_reaching_target": len(reached_steps),
        "steps_to_target": _mean_std(reached_steps), "minutes_to_target": _mean_std(np.array(reached_walls) / 60),
        "wall_minutes": _mean_std(np.array(walls) / 60), "env_steps_per_sec": _mean_std(speeds),
    }


def results_table(runs: Sequence[Run], target: float = 0.7) -> list[dict]:
    """A row per group (algorithm, env preset, variant, config) with a finished run, in the
    groups' order, summarising its finished runs."""
    rows = []
    for members in group_runs(runs).values():
        finished = [r for r in members if r.finished]
        if finished:
            rows.append({**summarize_group(finished, target),
                         "runs_finished": f"{len(finished)}/{len(members)}"})
    return rows


def _pm(mean_std: tuple[float, float], fmt: str, scale: float = 1.0, unit: str = "") -> str:
    """'mean ± std' (just the mean for one seed), or '—' when no seed has a value."""
    mean, std = mean_std
    if not np.isfinite(mean):
        return "—"
    text = format(mean / scale, fmt)
    return text + (f" ± {format(std / scale, fmt)}" if std > 0 else "") + unit


def format_markdown(rows: Sequence[dict]) -> str:
    """The table as Markdown; '±' is the sample std over seeds (absent for one seed)."""
    target = rows[0]["target"] if rows else 0.7
    return_name = common_return_name(row.get("return_name", "evaluation return") for row in rows)
    lines = [f"| algorithm | variant | env | seeds | env steps | final {return_name} | best | "
             f"seeds reaching {target:g} | env steps to {target:g} | minutes to {target:g} | "
             f"wall-clock (min) | env steps/s | runs finished |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['algorithm']} | {row['variant']} | {row['env_preset']} | "
            f"{','.join(map(str, row['seeds']))} | {row['env_steps']:,.0f} | "
            f"{_pm(row['final_return'], '.3f')} | {_pm(row['best_return'], '.3f')} | "
            f"{row['seeds_reaching_target']}/{len(row['seeds'])} | "
            f"{_pm(row['steps_to_target'], ',.0f', 1e3, ' k')} | {_pm(row['minutes_to_target'], '.1f')} | "
            f"{_pm(row['wall_minutes'], '.1f')} | {_pm(row['env_steps_per_sec'], '.0f')} | "
            f"{row['runs_finished']} |")
    return "\n".join(lines) + "\n"


def unfinished_markdown(runs: Sequence[Run]) -> str:
    """Markdown listing the unfinished runs (status, env steps reached of the budget, latest
    evaluation return, folder) under a note that they have no final return; '' if none."""
    unfinished = [r for r in runs if not r.finished]
    if not unfinished:
        return ""
    lines = ["Unfinished runs (no summary.json): drawn in the figures, where a group's curve "
             "stops where its shortest run stops, but left out of the final statistics; "
             "their latest evaluation is not a final return.",
             "",
             "| algorithm | variant | env | seed | status | env steps reached | latest "
             f"{shared_eval_return_name(unfinished)} (at env steps) | folder |",
             "|---|---|---|---:|---|---:|---:|---|"]
    for run in unfinished:
        evals = run.tables.get("eval.csv", {})
        latest = "—"
        if len(evals.get("eval_return", ())) and "env_steps" in evals:
            latest = f"{evals['eval_return'][-1]:.3f} (at {evals['env_steps'][-1]:,.0f})"
        lines.append(f"| {run.algorithm} | {run.variant} | {run.env_preset} | {run.seed} | "
                     f"{run.status_text} | {run.reached_text()} of {run.total_env_steps:,} | "
                     f"{latest} | {run.path} |")
    return "\n".join(lines) + "\n"


def results_markdown(runs: Sequence[Run], target: float = 0.7) -> str:
    """The results table of the finished runs, then the list of unfinished ones."""
    rows = results_table(runs, target)
    table = (format_markdown(rows) if rows else
             "No run has finished (no summary.json), so there are no final statistics.\n")
    note = unfinished_markdown(runs)
    return table + ("\n" + note if note else "")
