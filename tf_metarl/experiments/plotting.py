"""Paper-style figures from run folders: mean over seeds with a band, against env steps.

Runs are found by their ``config.json`` anywhere below the given folders, grouped by
(algorithm, env preset, variant), and each group's curves are interpolated onto a common
env-step grid before averaging, so seeds logged at slightly different steps combine.

A run is finished when its folder holds ``summary.json`` (``sweep.run_status``). Unfinished
runs are drawn (a group's curve then stops where its shortest run stops, and its legend
entry counts them) but have no final return: ``launch/plot.py`` leaves them out of the
results table's statistics and lists them with the env steps they reached
(``results.results_markdown``). A run folder reached twice (given twice, or also through a
sweep folder) and two folders holding the same experiment with the same seed are refused
(``DuplicateRunError``), so no seed is counted twice.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from typing import Iterable, Sequence

import numpy as np

from tf_metarl.config import ConfigError, to_dict
from tf_metarl.experiments import sweep
from tf_metarl.statistics import ci95_half_width
from tf_metarl.training.config import BOOKKEEPING_RUN_FIELDS, load_config

# Figure name -> (CSV file, column(s) tried in order, y label).
FIGURES = {
    # "held-out" only when every run's evaluation is (eval_return_name).
    "meta_test_return": ("eval.csv", ("eval_return",), "meta-test return"),
    "meta_train_return": ("train.csv", ("train_return",), "meta-training return"),
    "dynamics_loss": ("train.csv", ("execute/dynamics_loss_post", "execute/transition_loss"),
                      "dynamics-model loss"),
    "disambiguation_loss": ("train.csv", ("execute/disambiguation_loss",), "disambiguation loss"),
}
# Losses span orders of magnitude (and the dynamics losses of different models differ in
# scale), so their axes are logarithmic.
LOG_SCALE_FIGURES = frozenset({"dynamics_loss", "disambiguation_loss"})


class DuplicateRunError(ValueError):
    """One run would be counted as two seeds."""


@dataclasses.dataclass
class Run:
    """One run folder's logs."""
    path: str
    algorithm: str
    env_preset: str
    variant: str
    seed: int
    tables: dict[str, dict[str, np.ndarray]]  # file name -> column -> values
    # The config without its seed and bookkeeping fields: runs that repeat one experiment
    # with other seeds share it.
    config_key: str = ""
    # sweep.run_status of the folder when it was read, the one test of "finished"; a Run
    # built without it counts as unfinished.
    status: str = ""
    total_env_steps: int = 0  # the run's budget (config run.total_env_steps)
    eval_return_name: str = "evaluation return"  # EnvConfig.eval_return_name of its config

    @property
    def group(self) -> tuple[str, str, str, str]:
        return (self.algorithm, self.env_preset, self.variant, self.config_key)

    @property
    def finished(self) -> bool:
        """Training completed (summary.json written): its last evaluation is final."""
        return self.status == sweep.FINISHED

    @property
    def env_steps_reached(self) -> float:
        """The most env steps any of its logs reached (NaN without any)."""
        ends = [t["env_steps"][-1] for t in self.tables.values() if len(t.get("env_steps", ()))]
        return float(max(ends)) if ends else float("nan")

    @property
    def status_text(self) -> str:
        """The status in words: a folder with logs but no checkpoint is 'pending' to a
        sweep (it would start over), which reads wrongly for a run that has progress."""
        return "stopped, no checkpoint" if self.status == sweep.PENDING else self.status

    def reached_text(self) -> str:
        reached = self.env_steps_reached
        return f"{reached:,.0f}" if np.isfinite(reached) else "—"

    def progress(self) -> str:
        """'<status>, <env steps reached> of <budget> env steps', e.g. for a warning."""
        return f"{self.status_text}, {self.reached_text()} of {self.total_env_steps:,} env steps"


def _read_table(path: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    columns = {}
    for key in rows[0]:
        values = [row.get(key, "") for row in rows]
        try:
            columns[key] = np.array([float(v) if v not in ("", None) else np.nan for v in values])
        except ValueError:
            continue  # a text column
    return columns


def _variant_of(path: str, root: str, algorithm: str, env_preset: str) -> str:
    """The folder holding a ``seed<k>`` run folder, below ``root``, when it names neither
    the run's algorithm nor its env preset; else 'base'.

    So the sweep layout <root>/<algorithm>/<env>/<variant>/seed<k> and the kept-runs layout
    <root>/<env>/<algorithm>/[<variant>/]seed<k> both give the variant, from the root or
    from any folder below it (e.g. <root>/<env>).
    """
    parts = os.path.relpath(path, root).split(os.sep)
    if len(parts) < 2 or not re.fullmatch(r"seed\d+", parts[-1]):
        return "base"
    parent = parts[-2]
    return "base" if parent in (algorithm, env_preset) else parent


def _run_folders(roots: Sequence[str]) -> list[tuple[str, str]]:
    """(folder, the root it was found under) for every folder holding a config.json below
    ``roots``, each folder reached once.

    Only walks the folders (reads no file), so a folder given twice is refused before
    anything is read or drawn.
    """
    folders: list[tuple[str, str]] = []
    seen: dict[str, str] = {}  # real path -> the folder as first reached
    for root in roots:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"no run folder at {root!r}")
        for dirpath, _, filenames in os.walk(root):
            if "config.json" not in filenames:
                continue
            real = os.path.realpath(dirpath)
            if real in seen:
                first = seen[real]
                where = (f"run folder {first!r} is reached twice"
                         if os.path.normpath(first) == os.path.normpath(dirpath) else
                         f"run folder {real!r} is reached twice, as {first!r} and as {dirpath!r}")
                raise DuplicateRunError(
                    f"{where}: its seed would count as two; pass each run or sweep folder "
                    "once, and no folder together with a sweep folder holding it")
            seen[real] = dirpath
            folders.append((dirpath, root))
    return folders


def find_runs(roots: Sequence[str]) -> list[Run]:
    """Every run folder (one with config.json and eval.csv or train.csv) below ``roots``,
    finished or not (``Run.finished``).

    Raises DuplicateRunError, naming the folders, when a run folder is reached twice or
    two folders hold the same experiment (config and variant) with the same seed.
    """
    runs = []
    by_seed: dict[tuple, str] = {}  # (group, seed) -> folder
    for dirpath, root in _run_folders(roots):
        tables = {name: _read_table(os.path.join(dirpath, name)) for name in ("eval.csv", "train.csv")}
        if not any(tables.values()):
            continue
        # Through the config classes, so a field a run's config.json predates compares
        # as its default, not as a difference.
        try:
            loaded = load_config(dirpath)
        except ConfigError as e:
            raise ConfigError(f"run folder {dirpath!r}: {e}") from None
        config = to_dict(loaded)
        seed = int(config["run"].pop("seed"))
        for field in BOOKKEEPING_RUN_FIELDS:
            config["run"].pop(field, None)
        run = Run(path=dirpath, algorithm=config["algorithm"],
                  env_preset=config["env"]["preset"],
                  variant=_variant_of(dirpath, root, config["algorithm"], config["env"]["preset"]),
                  seed=seed, tables=tables, config_key=json.dumps(config, sort_keys=True),
                  status=sweep.run_status(dirpath),
                  total_env_steps=int(config["run"]["total_env_steps"]),
                  eval_return_name=loaded.env.eval_return_name())
        # Refused, not warned about: the table's "± std over seeds" assumes each seed once,
        # and a warning scrolls past while results.md keeps the wrong numbers. The two
        # folders are copies or a rerun of one seed; naming both lets one be left out.
        other = by_seed.setdefault((run.group, seed), dirpath)
        if other != dirpath:
            raise DuplicateRunError(
                f"run folders {other!r} and {dirpath!r} hold the same experiment with the same "
                f"seed ({seed}): it would count as two seeds; pass only one of them")
        runs.append(run)
    return sorted(runs, key=lambda r: (r.group, r.seed))


def common_return_name(names: Iterable[str]) -> str:
    """The one name all of ``names`` share ('held-out return' when every run evaluates on
    held-out problems), else 'evaluation return'."""
    names = set(names)
    return names.pop() if len(names) == 1 else "evaluation return"


def shared_eval_return_name(runs: Sequence[Run]) -> str:
    """The name of a figure or table column drawn from all of ``runs``."""
    return common_return_name(run.eval_return_name for run in runs)


def figure_label(runs: Sequence[Run], figure: str) -> str:
    """The y label (and title) of ``figure`` drawn from ``runs``: the meta-test return is
    'held-out' only when every run's is."""
    _, _, label = FIGURES[figure]
    if figure == "meta_test_return":
        return shared_eval_return_name(runs).replace(" return", " (meta-test) return")
    return label


def group_runs(runs: Sequence[Run]) -> dict[tuple[str, str, str, str], list[Run]]:
    """Runs that differ only by seed, keyed by (algorithm, env, variant, config)."""
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return groups


BANDS = ("std", "ci95", "bootstrap")
BAND_TITLES = {"std": "mean and std over seeds", "ci95": "mean and 95% t interval",
               "bootstrap": "mean and 95% bootstrap interval"}


def mean_and_band(curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str = "std",
                  num_points: int = 100, bootstrap=None):
    """Averages (x, y) curves on a shared x grid (up to the shortest curve's end).

    Returns (grid, mean, low, high); the band is one standard deviation ("std"), a 95%
    confidence interval of the mean from Student's t ("ci95"), or a percentile-bootstrap
    95% interval of the mean at each grid point ("bootstrap", rliable, resampling the
    curves; ``bootstrap`` a ``robust_stats.Bootstrap``); zero width for one curve.
    """
    if band not in BANDS:
        raise ValueError(f"band={band!r}: expected one of {BANDS}")
    curves = [(x, y) for x, y in curves if len(x) > 0]
    if not curves:
        raise ValueError("no curve has any point")
    start = max(x[0] for x, _ in curves)
    end = min(x[-1] for x, _ in curves)
    grid = np.linspace(start, end, num_points) if end > start else np.array([end])
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])  # [curves, points]
    mean = ys.mean(axis=0)
    if len(curves) < 2:
        return grid, mean, mean, mean
    if band == "bootstrap":
        from tf_metarl.experiments import robust_stats
        low, high = robust_stats.pointwise_mean_interval(ys, bootstrap or robust_stats.Bootstrap())
        return grid, mean, low, high
    spread = ys.std(axis=0, ddof=1)
    if band == "ci95":
        spread = ci95_half_width(spread, len(curves))
    return grid, mean, mean - spread, mean + spread


def _curve(run: Run, figure: str):
    table_name, columns, _ = FIGURES[figure]
    table = run.tables.get(table_name, {})
    for column in columns:
        if column in table and "env_steps" in table:
            x, y = table["env_steps"], table[column]
            keep = np.isfinite(y)
            if keep.any():
                return x[keep], y[keep]
    return None


def _reference_lines(runs: Sequence[Run]) -> dict[str, float]:
    lines = {}
    for run in runs:
        table = run.tables.get("eval.csv", {})
        for key, label in (("optimal_return", "optimal"), ("no_information_return", "no exploration")):
            if key in table and len(table[key]):
                lines.setdefault(label, float(table[key][-1]))
    return lines


def plot_figure(runs: Sequence[Run], figure: str, out_dir: str, band: str = "std",
                formats: Sequence[str] = ("png", "svg"), bootstrap=None) -> list[str]:
    """Draws one figure for every group that logged it; returns the files written (none
    if no run has the figure's column)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ylabel = figure_label(runs, figure)
    groups = group_runs(runs)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    labels_seen: dict[str, int] = {}
    for index, ((algorithm, env_preset, variant, _), members) in enumerate(groups.items()):
        curves = [c for c in (_curve(r, figure) for r in members) if c is not None]
        if not curves:
            continue
        grid, mean, low, high = mean_and_band(curves, band, bootstrap=bootstrap)
        label = f"{algorithm}" + ("" if variant == "base" else f" [{variant}]")
        if len({g[1] for g in groups}) > 1:
            label += f" ({env_preset})"
        # Groups with the same name differ in config (e.g. preset): number them.
        labels_seen[label] = labels_seen.get(label, 0) + 1
        if labels_seen[label] > 1:
            label += f" #{labels_seen[label]}"
        label += f", {len(curves)} seed{'s' if len(curves) > 1 else ''}"
        drawn_unfinished = sum(not r.finished for r in members if _curve(r, figure) is not None)
        if drawn_unfinished:
            label += f" ({drawn_unfinished} unfinished)"
        # A group keeps its colour in every figure, whichever groups the figure draws.
        color = f"C{index % 10}"
        ax.plot(grid, mean, label=label, color=color)
        ax.fill_between(grid, low, high, color=color, alpha=0.2)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return []
    if figure.endswith("return"):
        for (label, value), style in zip(_reference_lines(runs).items(), ("--", ":")):
            ax.axhline(value, color="black", linestyle=style, linewidth=1, label=label)
    if figure in LOG_SCALE_FIGURES:
        ax.set_yscale("log")
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} ({BAND_TITLES[band]})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{figure}.{fmt}")
        fig.savefig(path, dpi=120)
        paths.append(path)
    plt.close(fig)
    return paths


def _save(fig, out_dir: str, name: str, formats: Sequence[str]) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{name}.{fmt}")
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths


def plot_performance_profiles(profiles: dict, out_dir: str, xlabel: str = "final held-out return",
                              references: dict[str, dict[str, float]] | None = None,
                              formats: Sequence[str] = ("png", "svg")) -> list[str]:
    """One panel per env: the fraction of runs whose final return exceeds tau, against tau,
    per group with its bootstrap 95% band (``results.analyze``'s profiles: env -> (taus,
    {label: (profile, band)})), and the env's optimal / no-exploration returns
    (``references``: env -> {name: return}) as vertical lines. Returns the files written
    (none without profiles)."""
    if not profiles:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(profiles), figsize=(6 * len(profiles), 4.2), squeeze=False)
    colors: dict[str, str] = {}
    for ax, (env, (taus, curves)) in zip(axes[0], profiles.items()):
        for label, (profile, band) in curves.items():
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            ax.step(taus, profile, where="post", color=color, label=label)
            ax.fill_between(taus, band[0], band[1], step="post", color=color, alpha=0.2)
        for (name, value), style in zip((references or {}).get(env, {}).items(), ("--", ":")):
            ax.axvline(value, color="black", linestyle=style, linewidth=1, label=name)
        ax.set_title(f"{env}: performance profile (95% bootstrap bands)", fontsize=10)
        ax.set_xlabel(f"{xlabel} τ")
        ax.set_ylabel("fraction of runs with final return > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths = _save(fig, out_dir, "performance_profile", formats)
    plt.close(fig)
    return paths


def plot_probability_of_improvement(improvement: dict, out_dir: str,
                                    formats: Sequence[str] = ("png", "svg")) -> list[str]:
    """P(X > dream) per group with its 95% interval, one row per (env, group)
    (``results.analyze``'s improvement: env -> [(label, algorithm, Estimate)]), against the
    0.5 of no difference. Returns the files written (none without comparisons)."""
    entries = [(f"{label} ({env})", estimate) for env, items in improvement.items()
               for label, _, estimate in items]
    if not entries:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(entries) + 1.5))
    for y, (name, estimate) in enumerate(reversed(entries)):
        ax.plot([estimate.value], [y], "o", color="C0")
        if estimate.has_interval:
            ax.hlines(y, estimate.low, estimate.high, color="C0", linewidth=3, alpha=0.6)
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(entries)), [name for name, _ in reversed(entries)], fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("P(X > dream) of the final return (95% bootstrap interval)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    paths = _save(fig, out_dir, "probability_of_improvement", formats)
    plt.close(fig)
    return paths
