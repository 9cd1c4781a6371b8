"""Where one learner update spends its time, op by op (TensorFlow profiler).

Builds an untrained runner as ``update_cost.py`` does, fills its replay, cuts sampled
batches to a fixed sequence length, warms ``train_step`` up, and then traces ``--calls``
updates with ``tf.profiler.experimental``. The op events on the trace's compute threads
(lines ``tf_Compute*`` of the host plane) are summed per op type, so with inter-op
parallelism the total exceeds the wall-clock time. Writes
``benchmarks/results/update_profile_<algorithm>.md``; run it on an idle machine.

  python benchmarks/update_profile.py [--algorithm dream] [--length 20] [--learners both]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import glob
import itertools
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from tf_metarl.agents.registry import ALGORITHMS  # noqa: E402
from update_cost import fill_rounds, fixed_length_batch, untrained_runner  # noqa: E402

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
LEARNERS = {"both": (True, True), "execute": (True, False), "explore": (False, True)}


def op_times(trace_dir: str) -> tuple[collections.Counter, collections.Counter]:
    """Total milliseconds and number of executions per op type in a profiler trace."""
    paths = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"no *.xplane.pb under {trace_dir}: the profiler wrote no trace")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    milliseconds, count = collections.Counter(), collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                # Ops are named "op_name:OpType"; executor events ("ExecutorState::Process",
                # spanning many ops) would count their ops twice.
                if ":" not in name or "::" in name:
                    continue
                op_type = name.rsplit(":", 1)[-1]
                milliseconds[op_type] += event.duration_ps / 1e9
                count[op_type] += 1
    return milliseconds, count


def profile(algorithm: str, preset: str, env_preset: str, length: int, learners: str,
            calls: int, warmup: int) -> tuple[collections.Counter, collections.Counter, float]:
    """Per-op totals over ``calls`` traced updates and their median wall-clock ms."""
    execute, explore = LEARNERS[learners]
    with untrained_runner(algorithm, preset, env_preset) as runner:
        for _ in range(1 + fill_rounds(runner)):
            runner.collect()
        batches = itertools.cycle(
            [fixed_length_batch(runner._sample(execute=True), length) for _ in range(8)])
        agent = runner.agent

        def update():
            metrics = agent.train_step(next(batches), execute=execute, explore=explore)
            tf.nest.map_structure(lambda t: t.numpy(), metrics)  # wait for the result

        for _ in range(warmup):
            update()
        with tempfile.TemporaryDirectory() as trace_dir:
            times = []
            tf.profiler.experimental.start(trace_dir)
            try:
                for _ in range(calls):
                    start = time.perf_counter()
                    update()
                    times.append(time.perf_counter() - start)
            finally:
                tf.profiler.experimental.stop()
            milliseconds, count = op_times(trace_dir)
    return milliseconds, count, sorted(times)[len(times) // 2] * 1e3


def write_report(args, milliseconds, count, median_ms: float) -> str:
    """The Markdown report of ``profile``'s results for the command line ``args``."""
    algorithm, calls = args.algorithm, args.calls
    total = sum(milliseconds.values()) / calls
    lines = [f"# Op profile of one `{algorithm}` update ({args.config_preset} config, "
             f"{args.env_preset})", "",
             f"Written {datetime.datetime.now().isoformat(timespec='seconds')} on "
             f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs): `{args.learners}` "
             f"learner update(s) on batches cut to length {args.length}, {calls} traced calls "
             f"after {args.warmup} warm-up calls. Median wall-clock {median_ms:.1f} ms per "
             f"update (under the profiler); op time summed over the compute threads "
             f"{total:.1f} ms per update, {sum(count.values()) / calls:.0f} ops.", "",
             "| op type | ms per update | share | ops per update | µs per op |",
             "|---|---:|---:|---:|---:|"]
    for op_type, ms in milliseconds.most_common(args.top):
        lines.append(f"| `{op_type}` | {ms / calls:.2f} | {ms / calls / total:.1%} | "
                     f"{count[op_type] / calls:.0f} | {ms / count[op_type] * 1e3:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="dream", choices=sorted(ALGORITHMS))
    parser.add_argument("--config_preset", default="paper")
    parser.add_argument("--env_preset", default="distracting_bus_map")
    parser.add_argument("--length", type=int, default=20, help="sequence length of the batches")
    parser.add_argument("--learners", default="both", choices=sorted(LEARNERS))
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--top", type=int, default=20, help="op types listed")
    args = parser.parse_args()
    if args.length < 1 or args.calls < 1 or args.warmup < 0 or args.top < 1:
        parser.error(f"--length={args.length}, --calls={args.calls}, --warmup={args.warmup}, "
                     f"--top={args.top}: expected length, calls and top >= 1 and warmup >= 0")
    milliseconds, count, median_ms = profile(args.algorithm, args.config_preset, args.env_preset,
                                             args.length, args.learners, args.calls, args.warmup)
    text = write_report(args, milliseconds, count, median_ms)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"update_profile_{args.algorithm}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
