"""The results page: per env preset, one row per group of runs that differ only by seed,
robust statistics of their final held-out return, and the claims they decide.

Each row answers "how good, how fast to learn, how fast to run": the IQM of the final
evaluation return with a stratified-bootstrap 95% interval and its mean ± std over seeds
("held-out" when every run evaluates on held-out problems); the env steps to first reach a
target return (IQM and interval, a run that never reached it counted at its budget, see
``robust_stats.censored_steps``) with the number of runs that reached it; and wall-clock
and throughput. The statistics come from rliable (``robust_stats``); the page adds the
probability that each algorithm improves on DREAM, the seed paper's three claims decided by
it, and the DREAM paper's Fig. 6 comparison on distracting_bus.

Only finished runs (``Run.finished``) enter the statistics, so a final return never
averages runs stopped at different env steps; a row says how many of its group's runs
that is, and ``results_markdown`` lists the unfinished runs under the table.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from tf_metarl.experiments import robust_stats as rs
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


def final_return(run: Run) -> float | None:
    """The run's last evaluation return (None without any)."""
    returns = run.tables.get("eval.csv", {}).get("eval_return", ())
    return float(returns[-1]) if len(returns) else None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std): descriptive, next to the IQM; the std of one value is 0, both
    are NaN for no values."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def summarize_group(members: Sequence[Run], target: float = 0.7,
                    bootstrap: rs.Bootstrap = rs.Bootstrap()) -> dict:
    """One row of the results table for finished runs that differ only by seed."""
    finals, walls, speeds, steps, firsts, budgets = [], [], [], [], [], []
    for run in members:
        evals, train = run.tables.get("eval.csv", {}), run.tables.get("train.csv", {})
        final = final_return(run)
        if final is not None:
            finals.append(final)
            steps.append(evals["env_steps"][-1])
        if "wall_time" in train and len(train["wall_time"]):
            walls.append(train["wall_time"][-1])
            speeds.append(train["env_steps"][-1] / max(train["wall_time"][-1], 1e-9))
        reached = first_reaching(run, target)
        firsts.append(None if reached is None else reached[0])
        reached_at = run.env_steps_reached
        budgets.append(max(run.total_env_steps, reached_at if np.isfinite(reached_at) else 0))
    to_target, num_reached = rs.censored_steps(firsts, budgets)
    first = members[0]
    return {
        "algorithm": first.algorithm, "env_preset": first.env_preset, "variant": first.variant,
        "return_name": shared_eval_return_name(members),
        "seeds": sorted(r.seed for r in members),
        "env_steps": _mean_std(steps)[0],
        "finals": finals,
        "final_iqm": rs.iqm_estimate(finals, bootstrap) if finals else rs.Estimate(float("nan")),
        "final_return": _mean_std(finals),
        "target": target, "runs_reaching_target": num_reached,
        "steps_to_target_runs": to_target,
        "steps_to_target": (rs.iqm_estimate(to_target, bootstrap) if num_reached
                            else rs.Estimate(float("nan"))),
        "wall_minutes": _mean_std(np.array(walls) / 60), "env_steps_per_sec": _mean_std(speeds),
    }


def _label(row: dict) -> str:
    return row["algorithm"] + ("" if row["variant"] == "base" else f" [{row['variant']}]")


def results_table(runs: Sequence[Run], target: float = 0.7,
                  bootstrap: rs.Bootstrap = rs.Bootstrap()) -> list[dict]:
    """A row per group (algorithm, env preset, variant, config) with a finished run, in the
    groups' order, summarising its finished runs. Each row's "label" names it on the page:
    the algorithm, its variant unless "base", and "#2", "#3" for further groups of one env
    with the same name (configs that differ otherwise)."""
    rows, seen = [], {}
    for members in group_runs(runs).values():
        finished = [r for r in members if r.finished]
        if finished:
            row = {**summarize_group(finished, target, bootstrap),
                   "runs_finished": f"{len(finished)}/{len(members)}"}
            label = _label(row)
            seen[(row["env_preset"], label)] = count = seen.get((row["env_preset"], label), 0) + 1
            row["label"] = label + (f" #{count}" if count > 1 else "")
            rows.append(row)
    return rows


def _pm(mean_std: tuple[float, float], fmt: str, scale: float = 1.0, unit: str = "") -> str:
    """'mean ± std' (just the mean for one seed), or '—' when no seed has a value."""
    mean, std = mean_std
    if not np.isfinite(mean):
        return "—"
    text = format(mean / scale, fmt)
    return text + (f" ± {format(std / scale, fmt)}" if std > 0 else "") + unit


def _steps_text(row: dict) -> str:
    """IQM [interval] of the env steps to the target in thousands, '≥' when a run is
    counted at its budget (then the IQM is a lower bound), '—' when no run reached it."""
    estimate = row["steps_to_target"]
    if not np.isfinite(estimate.value):
        return "—"
    censored = row["runs_reaching_target"] < len(row["steps_to_target_runs"])
    return ("≥ " if censored else "") + estimate.text(",.0f", 1e3) + " k"


def envs_in_order(rows: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(row["env_preset"] for row in rows))


def format_markdown(rows: Sequence[dict]) -> str:
    """The table as Markdown, one per env preset."""
    target = rows[0]["target"] if rows else 0.7
    out = []
    for env in envs_in_order(rows):
        env_rows = [row for row in rows if row["env_preset"] == env]
        return_name = common_return_name(row.get("return_name", "evaluation return") for row in env_rows)
        out += [f"### {env}", "",
                f"| algorithm | runs finished | seeds | env steps | IQM final {return_name} [95% CI] | "
                f"mean ± std | env steps to {target:g}: IQM [95% CI] | reached {target:g} | "
                "wall-clock (min) | env steps/s |",
                "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in env_rows:
            out.append(
                f"| {row['label']} | {row['runs_finished']} | {','.join(map(str, row['seeds']))} | "
                f"{_pm((row['env_steps'], 0), ',.0f')} | {row['final_iqm'].text()} | {_pm(row['final_return'], '.3f')} | "
                f"{_steps_text(row)} | {row['runs_reaching_target']}/{len(row['seeds'])} | "
                f"{_pm(row['wall_minutes'], '.1f')} | {_pm(row['env_steps_per_sec'], '.0f')} |")
        out.append("")
    return "\n".join(out)


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


def reference_row(rows: Sequence[dict], env: str) -> dict | None:
    """DREAM's row in ``env`` that the others are compared with: its base variant, the one
    with the most finished runs if several configs share it."""
    candidates = [row for row in rows if row["env_preset"] == env and row["finals"]
                  and row["algorithm"] == rs.REFERENCE_ALGORITHM and row["variant"] == "base"]
    return max(candidates, key=lambda row: len(row["finals"]), default=None)


@dataclasses.dataclass
class Analysis:
    """Everything the page and the statistics figures show, computed once."""
    rows: list[dict]
    bootstrap: rs.Bootstrap
    # env -> (taus, {label: (profile, band [2, taus])})
    profiles: dict[str, tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]]
    # env -> [(label, algorithm, P(label > dream))], reference excluded
    improvement: dict[str, list[tuple[str, str, rs.Estimate]]]


def analyze(runs: Sequence[Run], target: float = 0.7, bootstrap: rs.Bootstrap = rs.Bootstrap(),
            num_taus: int = 101) -> Analysis:
    """The table's rows, each env's performance profiles of the final return (thresholds
    spanning the env's finals, its optimal and no-exploration returns), and each group's
    probability of improving on DREAM in its env."""
    rows = results_table(runs, target, bootstrap)
    profiles, improvement = {}, {}
    for env in envs_in_order(rows):
        # Finished runs that never evaluated (train.csv only) have no final return.
        env_rows = [row for row in rows if row["env_preset"] == env and row["finals"]]
        if not env_rows:
            continue
        finals = np.concatenate([row["finals"] for row in env_rows])
        refs = [v for v in reference_returns([r for r in runs if r.env_preset == env]).values()]
        low, high = min([finals.min(), *refs]), max([finals.max(), *refs])
        margin = 0.05 * max(high - low, 1e-3)
        taus = np.linspace(low - margin, high + margin, num_taus)
        profiles[env] = (taus, {row["label"]: rs.performance_profile(row["finals"], taus, bootstrap)
                                for row in env_rows})
        reference = reference_row(rows, env)
        if reference is not None:
            improvement[env] = [
                (row["label"], row["algorithm"],
                 rs.probability_of_improvement(row["finals"], reference["finals"], bootstrap))
                for row in env_rows if row is not reference]
    return Analysis(rows, bootstrap, profiles, improvement)


def reference_returns(runs: Sequence[Run]) -> dict[str, float]:
    """'optimal' and 'no exploration' returns logged by ``runs`` (the last logged value)."""
    lines = {}
    for run in runs:
        table = run.tables.get("eval.csv", {})
        for key, label in (("optimal_return", "optimal"), ("no_information_return", "no exploration")):
            if key in table and len(table[key]) and np.isfinite(table[key][-1]):
                lines.setdefault(label, float(table[key][-1]))
    return lines


def improvement_markdown(analysis: Analysis) -> str:
    """Per env, P(X > DREAM) of the final return for every other group."""
    lines = ["## Probability of improving on DREAM", "",
             "P(X > dream): the probability that a random finished run of X ends with a higher "
             "final return than a random finished run of DREAM in the same env (ties count half), "
             "with a bootstrap 95% interval; 0.5 means no difference.", ""]
    envs = envs_in_order(analysis.rows)
    if not any(analysis.improvement.get(env) for env in envs):
        return "\n".join(lines + ["No env has finished runs of both DREAM and another algorithm, "
                                  "so there is no comparison yet.", ""])
    lines += ["| env | algorithm | P(X > dream) [95% CI] | runs (X / dream) |", "|---|---|---:|---:|"]
    for env in envs:
        reference = reference_row(analysis.rows, env)
        for label, _, estimate in analysis.improvement.get(env, []):
            runs_x = next(len(r["finals"]) for r in analysis.rows
                          if r["env_preset"] == env and r["label"] == label)
            lines.append(f"| {env} | {label} | {estimate.text('.2f')} | "
                         f"{runs_x} / {len(reference['finals'])} |")
    return "\n".join(lines) + "\n"


def claims_markdown(analysis: Analysis) -> str:
    """The seed paper's three claims, each decided by P(hybrid > DREAM) of the final
    held-out return in every env with finished runs of DREAM (``robust_stats.decide_claim``)."""
    lines = ["## The seed paper's three claims", "",
             "Each claim is decided by the probability that the hybrid's final return beats "
             "DREAM's in the same env (95% bootstrap interval against 0.5).", ""]
    for hybrid in rs.HYBRIDS:
        decided = []
        for env in envs_in_order(analysis.rows):
            reference = reference_row(analysis.rows, env)
            row = next((r for r in analysis.rows if r["env_preset"] == env and r["finals"]
                        and r["algorithm"] == hybrid and r["variant"] == "base"), None)
            if reference is None or row is None:
                continue
            p = next(e for label, _, e in analysis.improvement[env] if label == row["label"])
            difference = rs.Estimate(row["final_iqm"].value - reference["final_iqm"].value)
            verdict = rs.decide_claim(hybrid, p, difference)
            decided.append(f"  - {env} ({len(row['finals'])} {hybrid} runs, "
                           f"{len(reference['finals'])} dream runs): **{verdict.word}**: {verdict.text}.")
        claim = rs.decide_claim(hybrid, rs.Estimate(float("nan"))).claim
        lines.append(f"- *Claim: {claim}.*")
        lines += decided or [f"  - Not decided: no env has finished runs of both {hybrid} and dream."]
    return "\n".join(lines) + "\n"


def _at_env_steps(run: Run, env_steps: float) -> float | None:
    """The run's evaluation return at ``env_steps`` (interpolated between evaluations), None
    if it never got there."""
    table = run.tables.get("eval.csv", {})
    x, y = table.get("env_steps", np.array([])), table.get("eval_return", np.array([]))
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if not len(x) or x[-1] < env_steps:
        return None
    return float(np.interp(env_steps, x, y))


def fig6_markdown(runs: Sequence[Run], analysis: Analysis) -> str:
    """Ours against the DREAM paper's Fig. 6 on distracting_bus: per algorithm, our finished
    runs' return at the paper's 1 M env steps and at their end (mean ± std, bootstrap
    interval of the mean, IQM) next to the paper's mean ± std."""
    env, at = rs.PAPER_FIG6_ENV, rs.PAPER_FIG6_ENV_STEPS
    lines = [f"## DREAM paper Fig. 6 on {env}", "",
             f"Paper values: {rs.PAPER_FIG6_SOURCE}. Ours: finished runs of the base variant; "
             f"“at {at / 1e6:g} M” interpolates each run's evaluations at {at:,} env steps "
             "(— when the runs stopped earlier). The last column says whether the paper's mean "
             "lies in the bootstrap 95% interval of our mean at the paper's env steps (or, "
             "without those, at the end).", ""]
    env_runs = [r for r in runs if r.env_preset == env and r.finished and r.variant == "base"]
    if not env_runs:
        return "\n".join(lines + [f"No finished run on {env} yet, so there is no comparison.", ""])
    lines += [f"| algorithm | paper: mean ± std | ours: runs | ours at {at / 1e6:g} M: mean ± std | "
              "ours at the end: env steps | mean ± std | mean [95% CI] | IQM [95% CI] | "
              "paper's mean in our interval |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for algorithm, (paper_mean, paper_std) in rs.PAPER_FIG6.items():
        members = [r for r in env_runs if r.algorithm == algorithm]
        paper = f"{paper_mean:.2f} ± {paper_std:.2f}"
        if not members:
            lines.append(f"| {algorithm} | {paper} | 0 | — | — | — | — | — | no finished runs |")
            continue
        finals = [f for f in map(final_return, members) if f is not None]
        at_paper = [v for v in (_at_env_steps(r, at) for r in members) if v is not None]
        at_paper = at_paper if len(at_paper) == len(members) else []
        compared = rs.mean_estimate(at_paper or finals, analysis.bootstrap)
        inside = ("yes" if compared.contains(paper_mean) else
                  "no" if compared.has_interval else "— (one run)")
        ends = np.mean([r.env_steps_reached for r in members])
        lines.append(
            f"| {algorithm} | {paper} | {len(members)} | {_pm(_mean_std(at_paper), '.3f')} | "
            f"{ends:,.0f} | {_pm(_mean_std(finals), '.3f')} | "
            f"{rs.mean_estimate(finals, analysis.bootstrap).text()} | "
            f"{rs.iqm_estimate(finals, analysis.bootstrap).text()} | {inside} |")
    refs = reference_returns([r for r in runs if r.env_preset == env])
    ours = ", ".join(f"{k} {v:.3f}" for k, v in refs.items())
    lines += ["", f"Paper: no exploration {rs.PAPER_FIG6_NO_EXPLORATION:.2f}, optimal "
                  f"{rs.PAPER_FIG6_OPTIMAL:.2f}" + (f"; ours (oracle, from eval.csv): {ours}." if ours else ".")]
    return "\n".join(lines) + "\n"


def methods_markdown(analysis: Analysis, target: float) -> str:
    b = analysis.bootstrap
    return "\n".join([
        "## How these numbers are computed", "",
        "From each finished run (summary.json written) its last evaluation return (the final "
        "return) and the env steps of its first evaluation at or above "
        f"{target:g}. With rliable: the IQM (mean of the middle 50% of runs) and performance "
        "profiles of the final return, and P(X > dream), each with a percentile 95% interval "
        f"from {b.reps:,} stratified-bootstrap resamples of the runs (numpy seed {b.seed}: "
        "the page regenerates with the same numbers). A run that never reached "
        f"{target:g} counts at its env-step budget (right-censored), so an env-steps IQM marked "
        "“≥” is a lower bound; the “reached” column counts the runs that got there. Intervals "
        "need at least two runs; with one run only the value is shown. The mean ± std over "
        "seeds is descriptive, as are the learning curves' bands.", ""])


def results_markdown(runs: Sequence[Run], target: float = 0.7,
                     bootstrap: rs.Bootstrap = rs.Bootstrap(), analysis: Analysis | None = None,
                     figures: Sequence[str] = ()) -> str:
    """The results page: the table of the finished runs, the unfinished ones, the figures
    (``figures``: image paths, linked by file name, SVGs left out when a PNG of the same
    figure exists), P(X > dream), the seed paper's claims, the DREAM paper's Fig. 6, and how
    the numbers are computed."""
    analysis = analysis or analyze(runs, target, bootstrap)
    parts = ["# Results", "", "Generated by `launch/plot.py` from the run folders; do not edit by hand.", ""]
    if analysis.rows:
        parts.append(format_markdown(analysis.rows))
    else:
        parts.append("No run has finished (no summary.json), so there are no final statistics.\n")
    note = unfinished_markdown(runs)
    if note:
        parts.append(note)
    images = [p for p in figures if p.endswith(".png") or (
        p.endswith(".svg") and p[:-4] + ".png" not in figures)]
    if images:
        parts += ["## Figures", ""] + [f"![{os.path.splitext(os.path.basename(p))[0].replace('_', ' ')}]"
                                       f"({os.path.basename(p)})" for p in images] + [""]
    if analysis.rows:
        parts += [improvement_markdown(analysis), claims_markdown(analysis)]
    parts += [fig6_markdown(runs, analysis)]
    if analysis.rows:
        parts.append(methods_markdown(analysis, target))
    return "\n".join(parts)
