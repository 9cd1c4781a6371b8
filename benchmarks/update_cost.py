"""Cost of one learner update and one acting step, per algorithm, relative to DREAM.

For each algorithm a Runner with the chosen config preset is built in a temporary folder,
its replay is filled by collecting trials with its own untrained policy, and then, on
batches sampled by the runner and cut to a fixed sequence length:

* ``train_step`` with both learners, only the execution learner and only the
  exploration learner: median milliseconds per call after a warm-up (single-learner
  agents, DREAM's baselines, have one update on whole trials of two episodes of length L:
  reported as ``both``, with no execute or explore column);
* collecting rounds of ``run.num_envs`` trials (exploration, task embedding, execution;
  planning agents plan inside the execution step), after a first round that traces the
  acting functions: milliseconds per env step.

Every algorithm gets the same number of calls on batches of the same shape, so the
ratio to DREAM is the cost of the method, not of its learning progress. Run it on an idle
machine; writes ``benchmarks/results/update_cost.md``.

  python benchmarks/update_cost.py [--algorithms dream,planning] [--lengths 10,20]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_metarl.agents.registry import ALGORITHMS  # noqa: E402
from tf_metarl.config import apply_overrides  # noqa: E402
from tf_metarl.training.config import make_config  # noqa: E402
from tf_metarl.training.runner import Runner, cut_to_length  # noqa: E402

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
PREFIXES = ("", "x_", "trial_x_")


def fixed_length_batch(batch: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    """Cuts every episode kind in ``batch`` to ``length`` steps (episodes longer than that
    are shortened), so all algorithms pay for the same sequence length."""
    batch = dict(batch)
    for prefix in PREFIXES:
        if f"{prefix}obs" in batch:
            cut_to_length(batch, prefix, length)
            batch[f"{prefix}length"] = np.minimum(batch[f"{prefix}length"], length)
    return batch


def median_ms(fn, calls: int, warmup: int) -> float:
    """Median wall-clock milliseconds of ``calls`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


@contextlib.contextmanager
def untrained_runner(algorithm: str, preset: str, env_preset: str):
    """A Runner in a temporary folder, learning from the first trial on so that every kind
    of update is available once its replay holds ``fill_rounds(runner)`` rounds."""
    config = make_config(algorithm, env_preset, preset)
    starts = (["agent.learning_starts=0"] if hasattr(config.agent, "learning_starts") else
              ["agent.execute_learning_starts=0", "agent.explore_learning_starts=0"])
    config = apply_overrides(config, [*starts, "run.progress_bar=False"])
    with tempfile.TemporaryDirectory() as root:
        runner = Runner(config, root)
        try:
            yield runner
        finally:
            runner.close()


def fill_rounds(runner: Runner) -> int:
    """Collection rounds that put two batches' worth of trials in replay."""
    return max(1, -(-2 * runner.config.agent.batch_size // runner.env.num_envs))


def measure(algorithm: str, preset: str, env_preset: str, lengths, calls: int, warmup: int) -> dict:
    """Collection cost and the update costs of one algorithm (see the module docstring)."""
    with untrained_runner(algorithm, preset, env_preset) as runner:
        rounds = fill_rounds(runner)
        runner.collect()  # traces the acting functions
        start = time.perf_counter()
        steps = 0
        for _ in range(rounds):
            batch = runner.collect()
            steps += int(batch.x_length.sum() + batch.length.sum())
        collect_ms_per_step = (time.perf_counter() - start) / steps * 1e3
        result = {"algorithm": algorithm, "collect_ms_per_env_step": collect_ms_per_step}
        agent = runner.agent
        for length in lengths:
            batches = [fixed_length_batch(runner._sample(execute=True), length) for _ in range(8)]
            if runner.single_learner:  # one update of one learner on whole trials
                cycle = itertools.cycle(batches)
                result[f"both_ms_L{length}"] = median_ms(lambda: agent.train_step(next(cycle)),
                                                         calls, warmup)
                result.update({f"{kind}_ms_L{length}": float("nan") for kind in ("execute", "explore")})
                continue
            for name, execute, explore in (("both", True, True), ("execute", True, False),
                                           ("explore", False, True)):
                cycle = itertools.cycle(batches)
                result[f"{name}_ms_L{length}"] = median_ms(
                    lambda: agent.train_step(next(cycle), execute=execute, explore=explore),
                    calls, warmup)
    return result


def write_report(results: list[dict], lengths, preset: str, env_preset: str, calls: int) -> str:
    """The Markdown table of ``measure`` results, with each algorithm's ratio to DREAM."""
    base = next((r for r in results if r["algorithm"] == "dream"), results[0])
    columns = [f"{kind}_ms_L{length}" for length in lengths for kind in ("both", "execute", "explore")]
    lines = [f"# Update and acting cost per algorithm ({preset} config, {env_preset})", "",
             f"Written {datetime.datetime.now().isoformat(timespec='seconds')} on "
             f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs); median of {calls} "
             f"calls after a warm-up. `both` = one execution and one exploration update, "
             f"the runner's usual step (for the single-learner baselines e_rl2, import and "
             f"varibad: their one update, on trials of two episodes of L steps each); "
             f"L = sequence length of the batch. Ratios are to "
             f"`{base['algorithm']}`.", "",
             "| algorithm | " + " | ".join(c.replace("_ms_", " ms, ") for c in columns)
             + " | collect ms/env step | ratio (both, L=" + str(lengths[0]) + ") |",
             "|---|" + "---:|" * (len(columns) + 2)]
    for r in results:
        ratio = r[f"both_ms_L{lengths[0]}"] / base[f"both_ms_L{lengths[0]}"]
        lines.append(f"| {r['algorithm']} | " + " | ".join(f"{r[c]:.1f}" for c in columns)
                     + f" | {r['collect_ms_per_env_step']:.2f} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--config_preset", default="paper")
    parser.add_argument("--env_preset", default="distracting_bus_map")
    parser.add_argument("--lengths", default="10,20", help="sequence lengths of the batches")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    algorithms = args.algorithms.split(",")
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; expected some of {sorted(ALGORITHMS)}")
    try:
        lengths = [int(x) for x in args.lengths.split(",")]
    except ValueError:
        parser.error(f"--lengths={args.lengths!r}: expected comma-separated integers")
    if any(length < 1 for length in lengths):
        parser.error(f"--lengths={args.lengths!r}: expected lengths >= 1")
    if args.calls < 1 or args.warmup < 0:
        parser.error(f"--calls={args.calls}, --warmup={args.warmup}: expected calls >= 1 and warmup >= 0")
    results = []
    for algorithm in algorithms:
        results.append(measure(algorithm, args.config_preset, args.env_preset, lengths,
                               args.calls, args.warmup))
        print(results[-1], flush=True)
    text = write_report(results, lengths, args.config_preset, args.env_preset, args.calls)
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = "" if args.config_preset == "paper" else f"_{args.config_preset}"
    (RESULTS_DIR / f"update_cost{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
