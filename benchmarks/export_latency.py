"""Latency of exported policies: per-step signature calls and whole-trial evaluation.

For each network size (``--config_presets``, default the reference ``paper`` networks and
the ``tiny`` test networks) an untrained DREAM agent is exported to a temporary folder
(weights do not change the cost) and reloaded with ``tf.saved_model.load``. Measured:

* ``execute_step`` and ``explore_step`` at batch 1 and 256: median and p90 of single
  calls after a warm-up, called as the raw signature on ready tensors, and (execute only)
  through ``ExportedPolicy`` (numpy in, numpy out: what evaluation pays); the in-memory
  agent's ``execute_q_values`` (a ``tf.function``) is the reference.
* Whole-trial evaluation: ``tf_metarl.export.evaluation.play_trials`` on 256 held-out
  trials (greedy exploration, embedding, greedy execution), trials/s and env steps/s.
  Untrained agents rarely end an episode early: close to the slowest case.

Writes ``benchmarks/results/export_latency.md`` and ``.json``.

  python benchmarks/export_latency.py [--calls 2000] [--config_presets paper,tiny]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_metarl.envs import preset_layout, sample_trials  # noqa: E402
from tf_metarl.export import evaluation  # noqa: E402
from tf_metarl.export.exporter import export_agent  # noqa: E402
from tf_metarl.export.policy import load_policy  # noqa: E402
from tf_metarl.training.config import make_config  # noqa: E402
from tf_metarl.training.runner import make_agent  # noqa: E402
from tf_metarl.training.seeding import seed_everything  # noqa: E402

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
BATCH_SIZES = (1, 256)
EVAL_TRIALS = 256


def time_calls(fn, calls: int, warmup: int) -> dict[str, float]:
    """Median and p90 of ``calls`` single calls of ``fn`` (microseconds), after warm-up."""
    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return {"median_us": float(np.median(times) * 1e6), "p90_us": float(np.percentile(times, 90) * 1e6),
            "calls": calls}


def step_inputs(layout, policy, n: int, rng):
    obs = np.stack([rng.integers(b, size=n) for b in layout.observation_bounds], axis=1).astype(np.int32)
    goal = np.asarray(layout.goals, dtype=np.int32)[rng.integers(len(layout.goals), size=n)]
    z = rng.normal(size=(n, policy.embedding_size)).astype(np.float32)
    prev = rng.integers(layout.num_actions + 1, size=n).astype(np.int32)
    return obs, goal, z, prev


def measure(config_preset: str, env_preset: str, calls: int, warmup: int, eval_repeats: int,
            workdir: str) -> dict:
    config = make_config("dream", env_preset, config_preset)
    layout = preset_layout(env_preset)
    seed_everything(0)
    agent = make_agent(config, layout)
    path = os.path.join(workdir, config_preset)
    export_agent(agent, layout, path, {"algorithm": "dream", "env_preset": env_preset})
    policy = load_policy(path)
    sig = policy.loaded.signatures
    rng = np.random.default_rng(0)
    rows = []
    for n in BATCH_SIZES:
        obs, goal, z, prev = step_inputs(layout, policy, n, rng)
        t_obs, t_goal, t_z, t_prev = (tf.constant(a) for a in (obs, goal, z, prev))
        ex_state = policy.execute_initial_state(n)
        x_state = policy.explore_initial_state(n)
        agent_state = agent.execute_initial_state(n)
        per_call_calls = calls if n == 1 else max(calls // 4, 50)
        cases = {
            "execute_step (signature, tensors)": lambda: sig["execute_step"](
                observation=t_obs, goal=t_goal, embedding=t_z, h=ex_state["h"], c=ex_state["c"]),
            "execute_step (ExportedPolicy, numpy)": lambda: policy.execute_step(obs, goal, z, ex_state),
            "explore_step (signature, tensors)": lambda: sig["explore_step"](
                observation=t_obs, prev_action=t_prev, h=x_state["h"], c=x_state["c"]),
            "in-memory agent execute_q_values (reference)": lambda: agent.execute_q_values(
                obs, goal, z, agent_state),
        }
        for name, fn in cases.items():
            rows.append({"config_preset": config_preset, "call": name, "batch": n,
                         **time_calls(fn, per_call_calls, warmup)})
            print(f"  {config_preset:5s} N={n:<3d} {name:45s} median {rows[-1]['median_us']:8.0f} us")

    problems, goals = sample_trials(np.random.default_rng(1), layout.split_problem_ids("test"),
                                    len(layout.goals), EVAL_TRIALS)
    evaluation.play_trials(policy, layout, problems, goals)  # warm-up
    durations, steps = [], 0
    for _ in range(eval_repeats):
        start = time.perf_counter()
        results = evaluation.play_trials(policy, layout, problems, goals)
        durations.append(time.perf_counter() - start)
        steps = int(results.explore_length.sum() + results.execute_length.sum())
    seconds = float(np.median(durations))
    throughput = {"config_preset": config_preset, "trials": EVAL_TRIALS, "repeats": eval_repeats,
                  "median_seconds": seconds, "trials_per_second": EVAL_TRIALS / seconds,
                  "env_steps_per_trial": steps / EVAL_TRIALS, "env_steps_per_second": steps / seconds}
    print(f"  {config_preset:5s} evaluation of {EVAL_TRIALS} trials: {seconds:.2f} s "
          f"({throughput['trials_per_second']:.0f} trials/s)")
    sizes = {k: getattr(config.agent, k) for k in ("q_lstm_units", "q_hidden", "embed_hidden",
                                                   "z_dim", "decoder_lstm_units")}
    return {"config_preset": config_preset, "network_sizes": sizes, "steps": rows,
            "evaluation": throughput}


def to_markdown(results: list[dict], meta: dict) -> str:
    lines = [
        "# Exported policy latency",
        "",
        f"Date {meta['date']}; machine: {meta['nproc']} CPU cores, python {meta['python']}, "
        f"tensorflow {meta['tensorflow']}; env preset `{meta['env_preset']}`.",
        "",
        f"Load average {meta['load_before'][0]:.1f} before the measurement and "
        f"{meta['load_after'][0]:.1f} after. "
        + (f"Conditions: {meta['conditions']}" if meta["conditions"] else
           "No conditions were stated (`--conditions`)."),
        "",
        "Untrained DREAM agents exported with `tf_metarl.export.exporter.export_agent` and "
        "reloaded with `tf.saved_model.load`. Per-step rows: single calls after "
        f"{meta['warmup']} warm-up calls ({meta['calls']} timed calls at N=1, a quarter of "
        "that at N=256). *signature, tensors*: the raw signature on ready tensors; "
        "*ExportedPolicy, numpy*: numpy in and out, as `launch/evaluate.py` calls it; the "
        "in-memory agent's `execute_q_values` (a `tf.function`) is the reference.",
        "",
        "| networks | call | N | median | p90 | per trial-step at median |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for row in r["steps"]:
            lines.append(f"| {row['config_preset']} | {row['call']} | {row['batch']} | "
                         f"{row['median_us']:.0f} us | {row['p90_us']:.0f} us | "
                         f"{row['median_us'] / row['batch']:.1f} us |")
    lines += [
        "",
        f"Whole-trial evaluation (`tf_metarl.export.evaluation.play_trials`, {EVAL_TRIALS} trials "
        "in one batch, greedy; one signature call per step for all trials; median of "
        f"{meta['eval_repeats']} runs). The batch takes as many calls as its longest episode "
        "needs, and untrained agents rarely end an episode early "
        f"(horizon {meta['horizon']} + {meta['horizon']} steps):",
        "",
        "| networks | trials | seconds | trials/s | env steps/trial | env steps/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        e = r["evaluation"]
        lines.append(f"| {e['config_preset']} | {e['trials']} | {e['median_seconds']:.2f} | "
                     f"{e['trials_per_second']:.0f} | {e['env_steps_per_trial']:.1f} | "
                     f"{e['env_steps_per_second'] / 1e3:.1f} k |")
    lines += ["", "Network sizes: " + "; ".join(
        f"{r['config_preset']}: " + ", ".join(f"{k}={v}" for k, v in r["network_sizes"].items())
        for r in results), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env_preset", default="distracting_bus_map")
    parser.add_argument("--config_presets", default="paper,tiny")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per case at N=1")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--eval_repeats", type=int, default=5)
    parser.add_argument("--conditions", default="",
                        help="what else ran on the machine, written into the report")
    args = parser.parse_args()
    if args.calls < 10 or args.warmup < 1 or args.eval_repeats < 1:
        parser.error("expected --calls >= 10, --warmup >= 1, --eval_repeats >= 1")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for preset in args.config_presets.split(","):
            print(f"{preset} networks:")
            results.append(measure(preset.strip(), args.env_preset, args.calls, args.warmup,
                                   args.eval_repeats, workdir))
    meta = dict(date=datetime.date.today().isoformat(), nproc=len(os.sched_getaffinity(0)),
                python=platform.python_version(), tensorflow=tf.__version__,
                env_preset=args.env_preset, calls=args.calls, warmup=args.warmup,
                eval_repeats=args.eval_repeats, load_before=list(load_before),
                load_after=list(os.getloadavg()), conditions=args.conditions,
                horizon=preset_layout(args.env_preset).horizon)
    markdown = to_markdown(results, meta)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "export_latency.md").write_text(markdown)
    (RESULTS_DIR / "export_latency.json").write_text(
        json.dumps({**meta, "results": results}, indent=2) + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
