"""Load on the served policy: concurrent REST clients on loopback against in-process play.

Starts the Ray Serve application (``tf_metarl.serving.server``, as ``launch/serve.py``
does) in this process on a free port, serving one shipped policy. Each load level runs
``--clients`` threads (1, 8, 64), each a ``PolicyClient`` playing whole trials, one trial
(N = 1) at a time, from a fixed list of ``--trials`` held-out trials. Measured per level:
trials/s, request latency p50 / p99, the merged call sizes the batching formed, and
whether every trial's return and path equal the in-process play of the same trial.
In-process play of the same trials is timed in the same run, one batch and one trial
at a time.

Then a replica is killed mid-load (8 clients; Ray Serve starts a new one): requests
failed, time from the kill to the first success after the last failure, and the
correctness of every trial played after recovery. Clients retry a failed trial from its
start (the state is theirs, so nothing is lost on the server).

Writes ``benchmarks/results/serving.md`` and ``.json``.

  python benchmarks/serving_load.py [--trials 64] [--clients 1,8,64] [--model PATH]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import socket
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_metarl.export import evaluation  # noqa: E402
from tf_metarl.serving.client import PolicyClient  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
MODEL_NAME = "policy"


class TimedClient(PolicyClient):
    """A PolicyClient that records each request's latency and outcome."""

    def __init__(self, *args, log, **kwargs):
        self.log = log  # list of (end time, seconds, ok)
        super().__init__(*args, **kwargs)

    def predict(self, signature, inputs):
        start = time.perf_counter()
        try:
            out = super().predict(signature, inputs)
        except Exception:
            self.log.append((time.perf_counter(), time.perf_counter() - start, False))
            raise
        self.log.append((time.perf_counter(), time.perf_counter() - start, True))
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_load(url, layout, problems, goals, reference, clients: int, retry: bool = False,
             during=None):
    """``clients`` threads play the trials (one at a time each); returns the measurements.
    ``reference`` holds the in-process returns and paths; ``during(t0)`` runs alongside."""
    todo = collections.deque(range(len(problems)))
    lock = threading.Lock()
    log: list = []
    finished: dict[int, tuple[float, bool]] = {}  # trial -> (end time, correct)
    failed_trials = 0

    def worker():
        nonlocal failed_trials
        client = TimedClient(url, MODEL_NAME, log=log, timeout=120)
        while True:
            with lock:
                if not todo:
                    return
                i = todo.popleft()
            try:
                r = client.play_trials(layout, problems[i:i + 1], goals[i:i + 1])
            except Exception:  # noqa: BLE001 -- a failed request fails the attempt
                with lock:
                    failed_trials += 1
                    if retry:
                        todo.append(i)
                time.sleep(0.2)
                continue
            correct = (r.returns[0] == reference.returns[i]
                       and np.array_equal(r.explore_cells[0], reference.explore_cells[i])
                       and np.array_equal(r.execute_cells[0], reference.execute_cells[i]))
            with lock:
                finished[i] = (time.perf_counter(), bool(correct))

    start = time.perf_counter()
    side = None
    with concurrent.futures.ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(worker) for _ in range(clients)]
        if during is not None:
            side = pool.submit(during, start)
        for f in futures:
            f.result()
        side_result = side.result() if side is not None else None
    seconds = time.perf_counter() - start
    ok = np.array([t for _, t, good in log if good])
    return {"clients": clients, "trials": len(finished), "seconds": seconds,
            "trials_per_s": len(finished) / seconds, "requests": len(log),
            "requests_failed": int(sum(1 for *_, good in log if not good)),
            "failed_trial_attempts": failed_trials,
            "p50_ms": float(np.percentile(ok, 50) * 1e3), "p99_ms": float(np.percentile(ok, 99) * 1e3),
            "all_correct": all(c for _, c in finished.values()),
            "correct": int(sum(c for _, c in finished.values())),
            "_log": log, "_finished": finished, "side": side_result}


def batch_summary(stats: dict) -> dict:
    """Merged call sizes (requests per signature call) -> summary."""
    sizes = np.array([s for s, n in stats.items() for _ in range(n)], dtype=float)
    if not sizes.size:
        return {"calls": 0}
    return {"calls": int(sizes.size), "mean": float(sizes.mean()), "p50": float(np.median(sizes)),
            "max": int(sizes.max()), "histogram": {str(k): int(v) for k, v in sorted(stats.items())}}


def _replica_names() -> list[str]:
    import ray
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if "SERVE_REPLICA" in a["name"] and f"model_{MODEL_NAME}" in a["name"])


def kill_replica() -> str:
    """Kills the model's replica actor (Ray Serve's controller starts a new one)."""
    import ray
    names = _replica_names()
    if not names:
        raise RuntimeError("no replica actor found to kill")
    ray.kill(ray.get_actor(names[0], namespace="serve"), no_restart=True)
    return names[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "saved_models" / "dream_distracting_bus_map_seed0"))
    parser.add_argument("--trials", type=int, default=64, help="Trials played at each level.")
    parser.add_argument("--clients", default="1,8,64", help="Concurrent client counts.")
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_wait_ms", type=float, default=2.0)
    parser.add_argument("--kill_after_s", type=float, default=2.0,
                        help="Seconds into the 8-client load when the replica is killed.")
    parser.add_argument("--kill_trials", type=int, default=128,
                        help="Trials played by 8 clients in the replica-kill run.")
    args = parser.parse_args()

    import ray
    from ray import serve

    from tf_metarl.export.policy import load_policy
    from tf_metarl.serving import server
    from tf_metarl.serving.models import model_specs

    local = load_policy(args.model)
    layout = local.training_layout()
    seed_rng = np.random.default_rng(0)
    test_ids = layout.split_problem_ids("test")
    n_max = max(args.trials, args.kill_trials)
    problems = seed_rng.choice(test_ids, n_max)
    goals = seed_rng.integers(0, len(layout.goals), n_max)

    # In-process play of the same trials: the reference outputs and the baseline speed.
    evaluation.play_trials(local, layout, problems[:4], goals[:4])  # warm-up (tracing)
    start = time.perf_counter()
    reference = evaluation.play_trials(local, layout, problems, goals)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(args.trials):
        one = evaluation.play_trials(local, layout, problems[i:i + 1], goals[i:i + 1])
        assert one.returns[0] == reference.returns[i]
    single_s = time.perf_counter() - start

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = server.ServingConfig(max_batch_size=args.max_batch_size,
                                  batch_wait_timeout_s=args.batch_wait_ms / 1000)
    start = time.perf_counter()
    server.start(model_specs(f"{MODEL_NAME}={args.model}"), config, port=port)
    startup_s = time.perf_counter() - start
    handle = server.model_handle(MODEL_NAME)
    levels = []
    try:
        TimedClient(url, MODEL_NAME, log=[]).play_trials(layout, problems[:2], goals[:2])  # warm-up
        handle.batch_stats.remote(reset=True).result()
        for clients in (int(c) for c in args.clients.split(",")):
            result = run_load(url, layout, problems[:args.trials], goals[:args.trials], reference, clients)
            result["batches"] = batch_summary(handle.batch_stats.remote(reset=True).result())
            levels.append(result)
            print(f"{clients:3d} clients: {result['trials_per_s']:.2f} trials/s, p50 "
                  f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, mean merged "
                  f"{result['batches'].get('mean', 0):.2f}, correct {result['correct']}/{result['trials']}",
                  flush=True)

        def killer(t0):
            time.sleep(args.kill_after_s)
            killed_at = time.perf_counter()
            name = kill_replica()
            return {"killed_at": killed_at, "replica": name}

        kill = run_load(url, layout, problems[:args.kill_trials], goals[:args.kill_trials],
                        reference, 8, retry=True, during=killer)
        t_kill = kill["side"]["killed_at"]
        log = kill["_log"]
        failures = [t for t, _, good in log if not good]
        # Recovered: the first request sent after the kill (and after the last failure)
        # that succeeded; requests sent meanwhile wait in Ray Serve's queue for a replica.
        since = max([t_kill, *failures])
        after = [t for t, d, good in log if good and t - d > since]
        recovered_s = (min(after) - t_kill) if after else float("nan")
        ends = sorted(t for t, _, good in log if good)
        stall = max((b - a for a, b in zip(ends, ends[1:]) if b > t_kill), default=float("nan"))
        post = [c for t, c in kill["_finished"].values() if t > t_kill + recovered_s]
        replicas_after = _replica_names()
        kill_result = {
            "clients": 8, "trials": kill["trials"], "killed_after_s": args.kill_after_s,
            "killed_replica": kill["side"]["replica"], "replicas_after": replicas_after,
            "requests": kill["requests"], "requests_failed": kill["requests_failed"],
            "failed_trial_attempts": kill["failed_trial_attempts"],
            "seconds_to_recover": recovered_s, "longest_gap_s": stall,
            "max_latency_s": max(d for _, d, good in log if good),
            "trials_after_recovery": len(post), "correct_after_recovery": int(sum(post)),
            "all_correct": kill["all_correct"], "seconds": kill["seconds"]}
        print(f"replica killed: {kill_result}", flush=True)
    finally:
        server.stop()

    for level in levels:
        for key in ("_log", "_finished", "side"):
            level.pop(key)
    load = os.getloadavg()
    report = {
        "date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores",
        "python": platform.python_version(), "ray": ray.__version__, "model": os.path.relpath(args.model, ROOT),
        "trials": args.trials, "max_batch_size": args.max_batch_size,
        "batch_wait_ms": args.batch_wait_ms, "server_startup_s": startup_s,
        "in_process": {"one_batch_s": batched_s, "one_batch_trials": n_max, "one_batch_trials_per_s": n_max / batched_s,
                       "one_at_a_time_s": single_s, "one_at_a_time_trials_per_s": args.trials / single_s},
        "levels": levels, "replica_kill": kill_result, "load_average_after": load}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "serving.json").write_text(json.dumps(report, indent=2))
    (RESULTS_DIR / "serving.md").write_text(markdown(report))
    print(markdown(report))
    del serve


def markdown(r: dict) -> str:
    ip = r["in_process"]
    k = r["replica_kill"]
    lines = [
        "# Serving load: REST clients against in-process play",
        "",
        f"Date {r['date']}; machine: {r['machine']}, python {r['python']}, ray {r['ray']}; model "
        f"`{r['model']}`; one replica, dynamic batching up to {r['max_batch_size']} requests, "
        f"wait {r['batch_wait_ms']} ms. Server start-up {r['server_startup_s']:.1f} s.",
        "",
        "**Shared machine**: two training runs occupied both CPU cores during the measurement "
        f"(load average {r['load_average_after'][0]:.1f} after it), and the load-generating "
        "clients ran on the same two cores as the server: the numbers are contended, upper "
        "bounds on latency and lower bounds on throughput.",
        "",
        "Command: `python benchmarks/serving_load.py --trials "
        f"{r['trials']}` (writes this file and `serving.json`).",
        "",
        f"Each level: that many client threads on loopback, each a `PolicyClient` playing "
        f"whole trials one at a time (N = 1 per request) from the same {r['trials']} held-out "
        "trials. Latency is per HTTP request; *merged* is how many requests one signature "
        "call served (Ray Serve's batching). *correct*: trials whose return and paths equal "
        "the in-process play of the same trial.",
        "",
        "| clients | trials | trials/s | requests | p50 latency | p99 latency | merged mean | merged max | correct |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in r["levels"]:
        b = lv["batches"]
        lines.append(f"| {lv['clients']} | {lv['trials']} | {lv['trials_per_s']:.2f} | {lv['requests']} | "
                     f"{lv['p50_ms']:.1f} ms | {lv['p99_ms']:.1f} ms | {b.get('mean', 0):.2f} | "
                     f"{b.get('max', 0)} | {lv['correct']}/{lv['trials']} |")
    lines += [
        f"| in-process, one trial at a time | {r['trials']} | {ip['one_at_a_time_trials_per_s']:.2f} | | | | | | |",
        f"| in-process, all trials in one batch | {ip['one_batch_trials']} "
        f"| {ip['one_batch_trials_per_s']:.2f} | | | | | | |",
        "",
        "Merged call sizes (requests per call: calls), per level: "
        + "; ".join(f"{lv['clients']} clients {lv['batches'].get('histogram', {})}" for lv in r["levels"]),
        "",
        "## A replica killed mid-load",
        "",
        f"8 clients playing {k['trials']} trials; the replica's actor is killed "
        f"{k['killed_after_s']:.0f} s in and Ray Serve's controller starts a new one (loading "
        "the SavedModel again). Clients retry a failed trial from its start.",
        "",
        "| requests | failed | failed trial attempts | seconds to recover | longest gap between answers | slowest request | trials after recovery | correct after recovery | all trials correct |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {k['requests']} | {k['requests_failed']} | {k['failed_trial_attempts']} | "
        f"{k['seconds_to_recover']:.1f} s | {k['longest_gap_s']:.1f} s | {k['max_latency_s']:.1f} s | "
        f"{k['trials_after_recovery']} | "
        f"{k['correct_after_recovery']}/{k['trials_after_recovery']} | {k['all_correct']} |",
        "",
        f"Killed `{k['killed_replica']}`; replicas after the run: {k['replicas_after']}. "
        "Seconds to recover: from the kill to the answer of the first request sent after it "
        "(and after the last failed request) that succeeded. Requests that reach Ray Serve "
        "while no replica is alive wait in its queue for the new one instead of failing.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
