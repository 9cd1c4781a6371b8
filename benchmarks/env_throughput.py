"""Environment throughput: env steps per second with uniformly random actions.

Measures the gymnasium ``BusMapEnv`` (one trial at a time, called directly and through
``gymnasium.make``'s default wrappers) and the batched numpy core at N = 1, 16, 256, 4096
(and at N = 16, 256 with actions that never end an episode, so trials run longer).
Actions are pre-generated; the gymnasium env is reset whenever its trial terminates, the
core starts new trials every two episodes and a new episode whenever all its trials are
done (at most every horizon steps). Each configuration is timed ``--repeats`` times and
the best kept; ``--merge`` also keeps the best of this run and the results file already
written (the machine is shared, so the best run is the least disturbed one).

Writes ``benchmarks/results/env_throughput.md`` and ``.json``.

  python benchmarks/env_throughput.py [--seconds 1.0] [--repeats 3] [--merge]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import time

import gymnasium as gym
import numpy as np

from tf_metarl.envs import ENV_ID, BatchedBusMap, BusMapEnv, Phase, preset_layout, sample_trials
from tf_metarl.envs.layout import END_EPISODE

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
BATCH_SIZES = (1, 16, 256, 4096)
NO_END_BATCH_SIZES = (16, 256)  # also timed with actions that never end an episode early
# Targets from the environment spec (env steps/s); None: no target.
TARGETS = {"gymnasium": 100_000, "core N=16": 1_000_000, "core N=256": 10_000_000}
_ACTION_ROWS = 2_000  # pre-generated action rows per batch size


@dataclasses.dataclass
class Row:
    """One measured configuration."""
    name: str
    num_envs: int
    steps_per_second: float
    active_steps_per_second: float
    target: float | None = None

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.steps_per_second >= self.target


def time_gym(env: gym.Env, actions: list[int], seconds: float) -> float:
    """Steps ``env`` with ``actions`` (cycled) for about ``seconds``; returns steps/s."""
    env.reset(seed=0)
    step, reset = env.step, env.reset
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions:
            if step(action)[2]:
                reset()
        steps += len(actions)
    return steps / (time.perf_counter() - start)


def time_core(layout, num_envs: int, seconds: float, seed: int = 0,
              end_episode: bool = True) -> tuple[float, float]:
    """Steps the batched core for about ``seconds``; returns (slot steps/s, active steps/s).

    Slot steps count every trial a call steps (a finished trial waiting for the others
    costs the same); active steps count only steps of unfinished trials. With uniformly
    random actions 1 in 7 ends the episode, so most trials finish long before the slowest
    one; ``end_episode=False`` draws from the other actions, so trials run until they
    reach a goal or the horizon, as a policy that does not give up does.
    """
    rng = np.random.default_rng(seed)
    if end_episode:
        actions = rng.integers(layout.num_actions, size=(_ACTION_ROWS, num_envs))
    else:  # uniform over the other actions: skip END_EPISODE's index
        actions = rng.integers(layout.num_actions - 1, size=(_ACTION_ROWS, num_envs))
        actions = np.where(actions >= END_EPISODE, actions + 1, actions)
    problem_ids = layout.split_problem_ids("train")
    env = BatchedBusMap(layout, num_envs)
    calls = active = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.start_trials(*sample_trials(rng, problem_ids, len(layout.goals), num_envs))
        for phase in (Phase.EXPLORE, Phase.EXECUTE):
            env.reset(phase)
            while not env.all_done:
                env.step(actions[calls % _ACTION_ROWS])
                calls += 1
            active += int(env.steps.sum())
    elapsed = time.perf_counter() - start
    return calls * num_envs / elapsed, active / elapsed


def measure(preset: str, seconds: float, repeats: int) -> list[Row]:
    """Best-of-``repeats`` rates of every configuration."""
    layout = preset_layout(preset)
    actions = np.random.default_rng(0).integers(layout.num_actions, size=100_000).tolist()
    gym_envs = {"gymnasium": BusMapEnv(layout=layout),
                "gymnasium.make (wrapped)": gym.make(ENV_ID, layout=layout)}
    rows = []
    for name, env in gym_envs.items():
        rate = max(time_gym(env, actions, seconds) for _ in range(repeats))
        rows.append(Row(name, 1, rate, rate, TARGETS.get(name)))
    for n in BATCH_SIZES:
        slot, active = max(time_core(layout, n, seconds, seed) for seed in range(repeats))
        name = f"core N={n}"
        rows.append(Row(name, n, slot, active, TARGETS.get(name)))
    for n in NO_END_BATCH_SIZES:
        slot, active = max(time_core(layout, n, seconds, seed, end_episode=False)
                           for seed in range(repeats))
        rows.append(Row(f"core N={n}, no end_episode", n, slot, active))
    return rows


def merge_previous(rows: list[Row], path: pathlib.Path) -> tuple[list[Row], int]:
    """Keeps, per configuration, the better of ``rows`` and the results in ``path``."""
    if not path.exists():
        return rows, 1
    previous = json.loads(path.read_text())
    old = {r["name"]: r for r in previous["rows"]}
    merged = []
    for row in rows:
        prev = old.get(row.name)
        if prev is not None and prev["steps_per_second"] > row.steps_per_second:
            row = dataclasses.replace(row, steps_per_second=prev["steps_per_second"],
                                      active_steps_per_second=prev["active_steps_per_second"])
        merged.append(row)
    return merged, previous.get("runs", 1) + 1


def _format_rate(rate: float) -> str:
    return f"{rate / 1e6:.2f} M" if rate >= 1e6 else f"{rate / 1e3:.0f} k"


def to_markdown(rows: list[Row], meta: dict) -> str:
    lines = [
        "# Environment throughput",
        "",
        f"Date {meta['date']}; machine: {meta['nproc']} CPU cores (nproc), load average "
        f"{meta['load_before']:.1f} at the start of the last run; python {meta['python']}, numpy "
        f"{meta['numpy']}, gymnasium {meta['gymnasium']}; preset `{meta['preset']}`, uniformly "
        "random pre-generated actions.",
        f"Conditions: {meta['conditions'] or 'not stated (--conditions)'}.",
        "",
        f"Numbers are best-of-runs: the best of {meta['runs']} run(s) of "
        f"`benchmarks/env_throughput.py`, each timing every configuration {meta['repeats']} "
        f"times for ~{meta['seconds']} s. *env steps/s* counts every trial a call steps "
        "(a finished trial waiting for the others costs the same); *active* counts only "
        "steps of unfinished trials. The targets are on env steps/s (one call steps all N "
        "trials); with uniform actions 1 in 7 ends the episode, so most trials wait for the "
        "slowest one and active steps are a third of that. The *no end_episode* rows draw "
        "from the other actions, as a policy that does not give up would act.",
        "",
        "| env | N | env steps/s | active steps/s | target | met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        target = "" if r.target is None else f">= {_format_rate(r.target)}"
        met = {None: "", True: "yes", False: "**no**"}[r.meets_target]
        lines.append(f"| {r.name} | {r.num_envs} | {_format_rate(r.steps_per_second)} | "
                     f"{_format_rate(r.active_steps_per_second)} | {target} | {met} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="distracting_bus_map")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per configuration")
    parser.add_argument("--conditions", default="",
                        help="what else ran on the machine, written into the report")
    parser.add_argument("--merge", action="store_true",
                        help="keep the best of this run and the existing results file")
    args = parser.parse_args()
    if args.seconds <= 0 or args.repeats < 1:
        parser.error(f"--seconds={args.seconds} and --repeats={args.repeats}: expected > 0 and >= 1")

    load_before = os.getloadavg()[0]
    rows = measure(args.preset, args.seconds, args.repeats)
    json_path = RESULTS_DIR / "env_throughput.json"
    runs = 1
    if args.merge:
        rows, runs = merge_previous(rows, json_path)
    meta = dict(date=datetime.date.today().isoformat(), nproc=len(os.sched_getaffinity(0)),
                python=platform.python_version(), numpy=np.__version__,
                gymnasium=gym.__version__, preset=args.preset, seconds=args.seconds,
                repeats=args.repeats, runs=runs, load_before=load_before,
                conditions=args.conditions)
    markdown = to_markdown(rows, meta)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "env_throughput.md").write_text(markdown)
    json_path.write_text(json.dumps(
        {**meta, "rows": [dict(dataclasses.asdict(r), meets_target=r.meets_target) for r in rows]},
        indent=2) + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
