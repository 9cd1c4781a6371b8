"""Sweeps: a grid of algorithms x env presets x config variants x seeds, each run resumable.

Every run is one ``launch/train.py`` process in its own folder
``<root>/<algorithm>/<env_preset>/<variant>/seed<k>``, so a sweep inherits the runner's
checkpointing: running the same sweep again skips finished runs and resumes interrupted
ones. Runs execute one after another (``run_sequential``) or as Ray tasks
(``run_on_ray``: a local Ray instance sized to the machine, or an existing cluster).
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from typing import Callable, Iterable, Sequence

TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "launch", "train.py")

FINISHED, RUNNING, INTERRUPTED, PENDING, FAILED = "finished", "running", "interrupted", "pending", "failed"


class SweepError(ValueError):
    """A sweep specification is not valid."""


RunEnded = Callable[["RunSpec", int], None]
"""Called with a run and its process's exit code as soon as the run ends."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a sweep."""
    algorithm: str
    env_preset: str
    seed: int
    variant_overrides: tuple[str, ...] = ()

    @property
    def variant(self) -> str:
        """A folder-safe name of the variant: its overrides, or 'base'."""
        if not self.variant_overrides:
            return "base"
        return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", ",".join(self.variant_overrides))

    def run_dir(self, root: str) -> str:
        return os.path.join(root, self.algorithm, self.env_preset, self.variant, f"seed{self.seed}")

    def overrides(self, common_overrides: Sequence[str]) -> list[str]:
        """Every ``--override`` of this run's train.py command, in order."""
        return ["run.progress_bar=false", *common_overrides, *self.variant_overrides]

    def command(self, root: str, config_preset: str, common_overrides: Sequence[str]) -> list[str]:
        return ([sys.executable, TRAIN_SCRIPT, f"--algorithm={self.algorithm}",
                 f"--env_preset={self.env_preset}", f"--config_preset={config_preset}",
                 f"--seed={self.seed}", f"--root_dir={self.run_dir(root)}"]
                + [f"--override={o}" for o in self.overrides(common_overrides)])

    def logs_dir(self, logs_root: str) -> str:
        """Where ``keep_logs`` files this run's logs: ``<logs_root>/<env>/<algorithm>/seed<k>``,
        with the variant between algorithm and seed unless it is 'base'."""
        variant = () if self.variant == "base" else (self.variant,)
        return os.path.join(logs_root, self.env_preset, self.algorithm, *variant, f"seed{self.seed}")

    def config(self, config_preset: str, common_overrides: Sequence[str]):
        """The validated config this run trains with (raises ConfigError)."""
        from tf_metarl.training.config import run_config
        return run_config(self.algorithm, self.env_preset, config_preset, self.seed,
                          self.overrides(common_overrides))


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """``["agent.learning_rate=1e-4,3e-4"]`` -> {"agent.learning_rate": ["1e-4", "3e-4"]}.

    Values of list-valued fields are separated by ';' (``agent.q_hidden=64,64;128,128``);
    a single list value ends with one (``agent.q_hidden=64,32;``), since without any ';'
    the commas separate values. An empty list is ``()`` (``agent.explore_q_hidden=();256,64``)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"grid axis {item!r}: expected key.path=value1,value2")
        key, values = item.split("=", 1)
        # Tuple-valued fields use ';' between grid values since ',' separates tuple items.
        separator = ";" if ";" in values else ","
        parsed = [v.strip() for v in values.split(separator) if v.strip()]
        if not parsed:
            raise SweepError(f"grid axis {item!r} has no values")
        if key.strip() in grid:
            raise SweepError(f"grid axis {key.strip()!r} is given twice; put all its values "
                             "in one --grid (key=value1,value2)")
        grid[key.strip()] = parsed
    return grid


def expand(algorithms: Sequence[str], env_presets: Sequence[str], seeds: Sequence[int],
           grid: dict[str, list[str]] | None = None) -> list[RunSpec]:
    """Every combination of algorithm x env preset x grid variant x seed."""
    if not algorithms or not env_presets or not seeds:
        raise SweepError("a sweep needs at least one algorithm, env preset and seed")
    negative = [s for s in seeds if int(s) < 0]
    if negative:
        raise SweepError(f"seed {negative[0]}: expected integers >= 0")
    grid = grid or {}
    keys = sorted(grid)
    variants = [tuple(f"{k}={v}" for k, v in zip(keys, values))
                for values in itertools.product(*(grid[k] for k in keys))]
    specs = [RunSpec(a, e, int(s), v)
             for a, e, v, s in itertools.product(algorithms, env_presets, variants, seeds)]
    # Two runs in one folder would overwrite each other's checkpoints. Distinct grid
    # values can share a folder name too, once unsafe characters become '_'.
    seen = set()
    for spec in specs:
        folder = spec.run_dir("")
        if folder in seen:
            raise SweepError(f"run {spec.algorithm}/{spec.env_preset}/{spec.variant}/seed{spec.seed} "
                             "appears twice: an algorithm, env preset, seed or grid value is "
                             "repeated, or two grid values differ only in characters a folder "
                             "name cannot hold")
        seen.add(folder)
    return specs


def check_run_configs(specs: Sequence[RunSpec], root: str, config_preset: str,
                      common_overrides: Sequence[str]) -> None:
    """Raises ConfigError for a run whose config is invalid, or SweepError for one whose
    folder holds a run (finished or not) that this config cannot continue."""
    from tf_metarl.training.config import load_config, resume_conflicts
    for spec in specs:
        config = spec.config(config_preset, common_overrides)
        path = os.path.join(spec.run_dir(root), "config.json")
        if os.path.exists(path):
            conflicts = resume_conflicts(load_config(path), config)
            if conflicts:
                raise SweepError(
                    f"run folder {spec.run_dir(root)!r} holds a run with a different config "
                    f"({'; '.join(conflicts)}); use another --root_dir or that sweep's flags")


def run_status(run_dir: str) -> str:
    """finished (summary.json written), running (a live process holds its training lock,
    e.g. another sweep on the same folder), interrupted (has a checkpoint) or pending."""
    from tf_metarl.training.run_lock import live_holder
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return FINISHED
    if live_holder(run_dir) is not None:
        return RUNNING
    if os.path.exists(os.path.join(run_dir, "checkpoints", "checkpoint")):
        return INTERRUPTED
    return PENDING


# The files of a finished run that describe it completely without its checkpoints.
KEPT_LOG_FILES = ("config.json", "train.csv", "eval.csv", "summary.json")


def keep_logs(spec: RunSpec, root: str, logs_root: str) -> str | None:
    """Copies a finished run's ``KEPT_LOG_FILES`` to ``spec.logs_dir(logs_root)`` (e.g. a
    folder in the repository, which outlives run folders and checkpoints); returns that
    folder, or None when the run is not finished."""
    run_dir = spec.run_dir(root)
    if run_status(run_dir) != FINISHED:
        return None
    target = spec.logs_dir(logs_root)
    os.makedirs(target, exist_ok=True)
    for name in KEPT_LOG_FILES:
        shutil.copyfile(os.path.join(run_dir, name), os.path.join(target, name))
    return target


def _run_command(command: list[str], log_path: str) -> int:
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode


def _taken(run_dir: str) -> bool:
    """The run is finished or another process trains it (e.g. another sweep on the folder)."""
    return run_status(run_dir) in (FINISHED, RUNNING)


def _run_unless_taken(run_dir: str, command: list[str], log_path: str) -> int:
    """Runs ``command`` unless its run is taken by the time it would start; then returns 0."""
    return 0 if _taken(run_dir) else _run_command(command, log_path)


def unfinished(specs: Sequence[RunSpec], root: str) -> list[RunSpec]:
    """The runs of ``specs`` whose folder under ``root`` is not taken (``_taken``)."""
    return [s for s in specs if not _taken(s.run_dir(root))]


def run_sequential(specs: Sequence[RunSpec], root: str, config_preset: str,
                   common_overrides: Sequence[str],
                   on_run_end: RunEnded | None = None) -> dict[RunSpec, int]:
    """Runs every unfinished run on this machine, one at a time. Each run's status is
    read again just before it starts, so sweeps sharing a folder split the runs."""
    codes = {}
    for spec in unfinished(specs, root):
        if _taken(spec.run_dir(root)):
            continue  # finished or claimed by another sweep meanwhile
        codes[spec] = _run_command(spec.command(root, config_preset, common_overrides),
                                   os.path.join(spec.run_dir(root), "sweep.log"))
        if on_run_end:
            on_run_end(spec, codes[spec])
    return codes


def run_on_ray(specs: Sequence[RunSpec], root: str, config_preset: str,
               common_overrides: Sequence[str], address: str | None = None,
               cpus_per_run: float = 1.0,
               on_run_end: RunEnded | None = None) -> dict[RunSpec, int]:
    """Runs every unfinished run as a Ray task (one training process each).

    ``address=None`` starts a local Ray instance sized to this machine's cores;
    otherwise connects to that cluster (the project must be installed on its nodes and
    ``root`` reachable from them, e.g. a shared file system).
    """
    try:
        import ray
    except ImportError:
        raise SweepError("Ray is not installed: pip install -e '.[distributed]' "
                         "(or run the sweep with --mode=sequential)") from None
    todo = unfinished(specs, root)
    if not todo:
        return {}
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        # Tasks may wait for a free CPU; each checks its run again when it starts.
        task = ray.remote(num_cpus=cpus_per_run)(_run_unless_taken)
        running = {task.remote(spec.run_dir(root), spec.command(root, config_preset, common_overrides),
                               os.path.join(spec.run_dir(root), "sweep.log")): spec
                   for spec in todo}
        codes = {}
        while running:  # report runs in the order they end, not the order they started
            (ended,), _ = ray.wait(list(running), num_returns=1)
            spec = running.pop(ended)
            codes[spec] = ray.get(ended)
            if on_run_end:
                on_run_end(spec, codes[spec])
        return codes
    finally:
        if started_here:
            ray.shutdown()


def summarize(specs: Sequence[RunSpec], root: str,
              return_codes: dict[RunSpec, int] | None = None) -> list[dict]:
    """One row per run: status, env steps and the latest evaluation return."""
    rows = []
    for spec in specs:
        run_dir = spec.run_dir(root)
        status = run_status(run_dir)
        if status not in (FINISHED, RUNNING) and (return_codes or {}).get(spec, 0) != 0:
            status = FAILED
        row = {"algorithm": spec.algorithm, "env_preset": spec.env_preset,
               "variant": spec.variant, "seed": spec.seed, "status": status,
               "env_steps": "", "eval_return": "", "wall_time": "", "run_dir": run_dir}
        eval_path = os.path.join(run_dir, "eval.csv")
        if os.path.exists(eval_path):
            with open(eval_path, newline="") as f:
                evals = list(csv.DictReader(f))
            if evals:
                last = evals[-1]
                row.update(env_steps=int(last["env_steps"]),
                           eval_return=round(float(last["eval_return"]), 4),
                           wall_time=round(float(last["wall_time"]), 1))
        rows.append(row)
    return rows


def write_summary(rows: list[dict], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def format_summary(rows: list[dict]) -> str:
    header = f"{'algorithm':<22} {'env':<20} {'variant':<24} {'seed':>4} {'status':<12} {'env steps':>10} {'return':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['algorithm']:<22} {r['env_preset']:<20} {r['variant'][:24]:<24} {r['seed']:>4} "
                     f"{r['status']:<12} {str(r['env_steps']):>10} {str(r['eval_return']):>8}")
    return "\n".join(lines)


def write_spec(specs: Sequence[RunSpec], root: str, config_preset: str,
               common_overrides: Sequence[str]) -> None:
    """Adds the sweep's definition to ``<root>/sweep.json``: ``{"sweeps": [...]}``, one
    entry per distinct sweep started on the folder (a folder may gain seeds or variants
    later, or be shared by two sweeps), each recorded once. A file of the earlier form (a
    single definition) becomes the first entry."""
    os.makedirs(root, exist_ok=True)
    # Through JSON, so it compares equal to a recorded entry (tuples become lists).
    entry = json.loads(json.dumps({"config_preset": config_preset,
                                   "common_overrides": list(common_overrides),
                                   "runs": [dataclasses.asdict(s) for s in specs]}))
    path = os.path.join(root, "sweep.json")
    # Sweeps started together on one folder each add their entry: read, add and replace
    # (atomically, so a crash never leaves a cut file) under an exclusive lock on the folder.
    folder = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        sweeps = _recorded_sweeps(path)
        if entry not in sweeps:
            sweeps.append(entry)
        with open(path + ".tmp", "w") as f:
            json.dump({"sweeps": sweeps}, f, indent=2)
        os.replace(path + ".tmp", path)
    finally:
        os.close(folder)  # releases the lock


def recorded_specs(root: str) -> list[RunSpec]:
    """Every run of every sweep recorded in ``<root>/sweep.json``, each once, in the order
    the sweeps were recorded (none without a record)."""
    specs = {}  # a dict keeps the first occurrence's order
    for entry in _recorded_sweeps(os.path.join(root, "sweep.json")):
        for run in entry["runs"]:
            specs.setdefault(RunSpec(run["algorithm"], run["env_preset"], int(run["seed"]),
                                     tuple(run.get("variant_overrides", ()))))
    return list(specs)


def _recorded_sweeps(path: str) -> list:
    """The sweep definitions in ``path`` (none if it does not exist); raises SweepError
    for a file that is not a sweep record."""
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            recorded = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SweepError(f"{path!r} cannot be read as a sweep record ({e}); move it aside to "
                         "start a new record") from None
    if isinstance(recorded, dict) and isinstance(recorded.get("sweeps"), list):
        sweeps = recorded["sweeps"]
    elif isinstance(recorded, dict) and {"config_preset", "runs"} <= recorded.keys():
        sweeps = [recorded]  # the earlier form: one definition
    else:
        sweeps = None
    # Every entry is read again whenever a run ends (recorded_specs), so check them now.
    if sweeps is None or not all(_is_sweep_entry(entry) for entry in sweeps):
        raise SweepError(f"{path!r} is not a sweep record (expected {{\"sweeps\": [...]}}, each "
                         "entry with its runs); move it aside to start a new record")
    return sweeps


def _is_sweep_entry(entry) -> bool:
    """A recorded sweep: a dict whose "runs" are RunSpec fields."""
    fields = {"algorithm", "env_preset", "seed"}
    return (isinstance(entry, dict) and isinstance(entry.get("runs"), list)
            and all(isinstance(run, dict) and fields <= run.keys() for run in entry["runs"]))
