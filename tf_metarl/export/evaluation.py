"""Evaluates an exported policy on bus-map layouts: batched greedy trials and statistics.

All trials of a layout run in one ``BatchedBusMap``, with one signature call per step for
all of them: exploration (greedy), the embedding of each exploration episode, then
execution (greedy) conditioned on it. Statistics per layout and pooled over layouts:
mean execution return with a 95% confidence interval, success rate, exploration length,
the fraction of the oracle's optimum on the same trials, and the informed return: the best
execution return knowing only what each exploration episode revealed
(``oracle.informed_returns``), with the explorer's gap (optimal - informed) and the
executor's (informed - return).

Imports only NumPy and ``tf_metarl.envs``: the policy is any object with the contract's
acting methods (``policy.ExportedPolicy`` on TensorFlow, ``runtime_policy`` on onnxruntime
or LiteRT), so evaluating a converted policy never imports TensorFlow.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np

from tf_metarl.envs import oracle
from tf_metarl.envs.core import BatchedBusMap, Phase, sample_trials
from tf_metarl.envs.episodes import run_episode
from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.export.contract_policy import ContractPolicy
from tf_metarl.export.metadata import select_layouts
from tf_metarl.statistics import ci95_half_width



@dataclasses.dataclass
class TrialResults:
    """N greedy trials on one layout (T = the layout's horizon).

    Per trial: problem_id, goal_id, returns (execution return), success (reached the
    instructed goal), explore_length, execute_length, optimal (oracle's best return),
    informed (the best expected return knowing only what the exploration episode revealed).
    For pictures: explore_cells / execute_cells [N, T+1], the cell index after reset and
    after each step (repeating the last cell once the episode ended).
    """
    layout: BusMapLayout
    problem_id: np.ndarray
    goal_id: np.ndarray
    returns: np.ndarray
    success: np.ndarray
    explore_length: np.ndarray
    execute_length: np.ndarray
    optimal: np.ndarray
    informed: np.ndarray
    explore_cells: np.ndarray
    execute_cells: np.ndarray

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per trial."""
        return [{"problem_id": int(p), "goal_id": int(g), "return": round(float(r), 6),
                 "success": bool(s), "explore_length": int(xl), "execute_length": int(el),
                 "optimal_return": round(float(o), 6), "informed_return": round(float(i), 6)}
                for p, g, r, s, xl, el, o, i in zip(self.problem_id, self.goal_id, self.returns,
                                                    self.success, self.explore_length,
                                                    self.execute_length, self.optimal, self.informed)]


def play_trials(policy: ContractPolicy, layout: BusMapLayout, problem_ids, goal_ids) -> TrialResults:
    """Plays one greedy trial per (problem, goal) pair, all in one batch."""
    policy.check_layout(layout)
    problem_ids = np.asarray(problem_ids, dtype=np.int64)
    goal_ids = np.asarray(goal_ids, dtype=np.int64)
    n = len(problem_ids)
    env = BatchedBusMap(layout, n)
    env.start_trials(problem_ids, goal_ids)

    state = policy.explore_initial_state(n)

    def explore(obs, prev_action):
        nonlocal state
        action, _, state = policy.explore_step(obs, prev_action, state)
        return action

    exploration = run_episode(env, Phase.EXPLORE, explore)
    x_length = exploration.length
    embedding = policy.embed_exploration(exploration.obs, exploration.actions, x_length)

    goal = env.goal_xy.astype(np.int32)
    state = policy.execute_initial_state(n)

    def execute(obs, prev_action):
        nonlocal state
        action, _, state = policy.execute_step(obs, goal, embedding, state)
        return action

    execution = run_episode(env, Phase.EXECUTE, execute)
    rewards, length = execution.rewards, execution.length
    return TrialResults(
        layout=layout, problem_id=problem_ids, goal_id=goal_ids, returns=rewards.sum(axis=1),
        success=(rewards >= 1.0).any(axis=1), explore_length=x_length, execute_length=length,
        optimal=oracle.optimal_returns(layout, problem_ids, goal_ids).astype(np.float64),
        informed=oracle.informed_returns(layout, problem_ids, goal_ids, exploration.obs,
                                         exploration.actions, x_length),
        explore_cells=exploration.cells, execute_cells=execution.cells)


# ---- which layouts ---------------------------------------------------------------------------------
def resolve_layouts(policy: ContractPolicy, env_preset: str | None = None,
                    layouts_file: str | None = None) -> list[BusMapLayout]:
    """See ``tf_metarl.export.metadata.select_layouts``."""
    return select_layouts(policy.metadata, env_preset, layouts_file, f"policy {policy.path!r}")


def sample_layout_trials(layout: BusMapLayout, split: str, num_trials: int, seed: int,
                         index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The trials of layout number ``index``: problems of ``split`` and goals, uniformly."""
    rng = np.random.default_rng([seed, index])
    return sample_trials(rng, layout.split_problem_ids(split), len(layout.goals), num_trials)


# ---- statistics ------------------------------------------------------------------------------------
def summarize(name: str, returns: np.ndarray, success: np.ndarray, explore_length: np.ndarray,
              execute_length: np.ndarray, optimal: np.ndarray,
              no_information: float | None = None,
              informed: np.ndarray | None = None) -> dict[str, Any]:
    """Mean return with a 95% confidence interval (Student's t), success rate,
    lengths and the fraction of the oracle's optimum (mean return / mean optimal return);
    with ``informed`` (per-trial informed returns) also its mean ``informed_return``,
    ``explore_gap`` = optimal - informed and ``execute_gap`` = informed - return."""
    n = len(returns)
    mean = float(np.mean(returns))
    std = float(np.std(returns, ddof=1)) if n > 1 else 0.0
    half = ci95_half_width(std, n)
    optimal_mean = float(np.mean(optimal))
    out = {
        "layout": name, "trials": n, "mean_return": mean, "return_std": std,
        "ci95_low": mean - half, "ci95_high": mean + half, "ci95_half_width": half,
        "success_rate": float(np.mean(success)),
        "mean_explore_length": float(np.mean(explore_length)),
        "mean_execute_length": float(np.mean(execute_length)),
        "optimal_return": optimal_mean,
        "fraction_of_optimal": oracle.fraction_of_optimal(mean, optimal_mean),
    }
    if no_information is not None:
        out["no_information_return"] = float(no_information)
    if informed is not None:
        informed_mean = float(np.mean(informed))
        # Gaps to 1e-6: float32 returns would otherwise show a perfect policy's as -0.000.
        out.update(informed_return=informed_mean,
                   explore_gap=round(optimal_mean - informed_mean, 6) + 0.0,
                   execute_gap=round(informed_mean - mean, 6) + 0.0)
    return out


def summarize_results(results: TrialResults) -> dict[str, Any]:
    return summarize(results.layout.name, results.returns, results.success, results.explore_length,
                     results.execute_length, results.optimal,
                     oracle.no_information_return(results.layout), results.informed)


def summarize_overall(all_results: Sequence[TrialResults]) -> dict[str, Any]:
    """Pooled over every trial of every layout."""
    cat = lambda attr: np.concatenate([getattr(r, attr) for r in all_results])  # noqa: E731
    no_info = np.average([oracle.no_information_return(r.layout) for r in all_results],
                         weights=[len(r.returns) for r in all_results])
    return summarize("overall", cat("returns"), cat("success"), cat("explore_length"),
                     cat("execute_length"), cat("optimal"), float(no_info), cat("informed"))


def evaluate(policy: ContractPolicy, layouts: Sequence[BusMapLayout], split: str = "test",
             num_trials: int = 200, seed: int = 0) -> tuple[list[TrialResults], dict[str, Any]]:
    """Plays ``num_trials`` greedy trials on each layout; returns (results, report)."""
    if num_trials < 1:
        raise ValueError(f"num_trials={num_trials!r}, expected a positive integer")
    all_results = []
    for index, layout in enumerate(layouts):
        problems, goals = sample_layout_trials(layout, split, num_trials, seed, index)
        all_results.append(play_trials(policy, layout, problems, goals))
    m = policy.metadata
    report = {
        "saved_model": policy.path if "://" in policy.path else os.path.abspath(policy.path),
        "policy": {"algorithm": m.get("algorithm"), "env_preset": m.get("env_preset"),
                   "training_env_steps": m.get("training_env_steps"),
                   "training_trials": m.get("training_trials"),
                   "last_eval_return": m.get("last_eval_return")},
        "split": split, "num_trials": num_trials, "seed": seed,
        "confidence_interval": "95%: mean +- t(0.975, n - 1) * std / sqrt(n)",
        "layouts": [dict(summarize_results(r), layout_spec=r.layout.to_dict(), trials_detail=r.records())
                    for r in all_results],
        "overall": summarize_overall(all_results),
    }
    return all_results, report


# ---- output ----------------------------------------------------------------------------------------
# (header, summary key or None for the confidence interval, format)
_TABLE_COLUMNS = (
    ("layout", "layout", "{}"), ("trials", "trials", "{:d}"), ("return", "mean_return", "{:+.3f}"),
    ("95% CI", None, None), ("success", "success_rate", "{:.2f}"),
    ("explore len", "mean_explore_length", "{:.1f}"), ("optimal", "optimal_return", "{:+.3f}"),
    ("frac. optimal", "fraction_of_optimal", "{:+.2f}"), ("informed", "informed_return", "{:+.3f}"),
    ("explore gap", "explore_gap", "{:+.3f}"), ("execute gap", "execute_gap", "{:+.3f}"))


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width text table: one row per layout, then the pooled row."""
    rows = [s for s in report["layouts"]]
    if len(rows) > 1:
        rows.append(report["overall"])
    header = [c[0] for c in _TABLE_COLUMNS]
    lines = []
    for s in rows:
        cells = []
        for _, key, spec in _TABLE_COLUMNS:
            if key is None:
                cells.append(f"[{s['ci95_low']:+.3f}, {s['ci95_high']:+.3f}]"
                             if s["trials"] > 1 else "n/a")
            else:
                cells.append(spec.format(s[key]))
        lines.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(header)]

    def fmt_row(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt_row(header), "  ".join("-" * w for w in widths)]
    out += [fmt_row(r) for r in lines]
    return "\n".join(out)


_CSV_KEYS = ("layout", "trials", "mean_return", "ci95_low", "ci95_high", "ci95_half_width",
             "return_std", "success_rate", "mean_explore_length", "mean_execute_length",
             "optimal_return", "fraction_of_optimal", "no_information_return", "informed_return",
             "explore_gap", "execute_gap")


def write_report(report: dict[str, Any], output_dir: str) -> tuple[str, str]:
    """Writes ``evaluation.json`` (everything, with per-trial records) and
    ``evaluation.csv`` (one row per layout and the pooled row) into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, "evaluation.json")
    csv_path = os.path.join(output_dir, "evaluation.csv")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_KEYS, extrasaction="ignore")
        writer.writeheader()
        for row in report["layouts"] + [report["overall"]]:
            writer.writerow(row)
    return json_path, csv_path


def write_gif(results: TrialResults, path: str, num_trials: int = 3, cell_pixels: int = 24,
              frame_ms: int = 300) -> int:
    """Animates the first ``num_trials`` trials (exploration, then execution) into a GIF;
    returns the number of frames."""
    from PIL import Image, ImageDraw  # pillow comes with matplotlib

    from tf_metarl.envs.rendering import render_rgb

    layout = results.layout
    caption_height, min_width = 30, 200
    frames = []
    for i in range(min(num_trials, len(results.returns))):
        p, g = int(results.problem_id[i]), int(results.goal_id[i])
        phases = (("explore", results.explore_cells[i], int(results.explore_length[i]), None),
                  ("execute", results.execute_cells[i], int(results.execute_length[i]), g))
        for phase, cells, length, goal_id in phases:
            for t in range(length + 1):
                grid = render_rgb(layout, p, int(cells[t]), goal_id=goal_id, cell_pixels=cell_pixels)
                width = max(grid.shape[1], min_width)
                image = Image.new("RGB", (width, grid.shape[0] + caption_height), "white")
                image.paste(Image.fromarray(grid), ((width - grid.shape[1]) // 2, caption_height))
                draw = ImageDraw.Draw(image)
                gx, gy = layout.goals[g]
                draw.text((4, 2), f"trial {i}  problem {p}  goal ({gx},{gy})", fill=(0, 0, 0))
                status = f"{phase} {t}/{length}"
                if phase == "execute" and t == length:
                    status += f"  return {results.returns[i]:+.1f}"
                draw.text((4, 15), status, fill=(0, 0, 0))
                frames.append(image)
    if not frames:
        raise ValueError("no trials to animate")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return len(frames)
