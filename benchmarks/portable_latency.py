"""Latency of the shipped policies in TensorFlow, ONNX Runtime and LiteRT; file and install sizes.

For each shipped SavedModel in saved_models/ with its converted folders ``<name>_onnx``
and ``<name>_litert`` (launch/export.py --format=onnx|litert): every policy signature at
batch 1 and 256, called through the policy classes with numpy in and numpy out
(``ExportedPolicy`` for TensorFlow, ``runtime_policy.OnnxPolicy`` / ``LiteRTPolicy``), as
``launch/evaluate.py`` calls them; median and p90 of single calls after a warm-up. Inputs
are valid random observations, actions and states (values do not change the cost);
``embed_exploration`` gets full-horizon episodes. Each runtime uses its default threads.

Also: the size of each format's files, and the installed size of each runtime's own
package folder (numpy, shared by all, not counted).

Writes ``benchmarks/results/portable.md`` and ``.json``.

  python benchmarks/portable_latency.py [--calls 300]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tf_metarl.export.policy import load_policy  # noqa: E402
from tf_metarl.export.runtime_policy import load_runtime_policy  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
BATCH_SIZES = (1, 256)
RUNTIMES = ("tensorflow", "onnx", "litert")
PACKAGES = {"tensorflow": "tensorflow", "onnx": "onnxruntime", "litert": "ai_edge_litert"}
DISTRIBUTIONS = {"tensorflow": "tensorflow", "onnx": "onnxruntime", "litert": "ai-edge-litert"}


def time_calls(fn, calls: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return {"median_us": float(np.median(times) * 1e6),
            "p90_us": float(np.percentile(times, 90) * 1e6), "calls": calls}


def folder_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def installed_bytes(runtime: str) -> int:
    spec = importlib.util.find_spec(PACKAGES[runtime])
    return sum(folder_bytes(pathlib.Path(p)) for p in spec.submodule_search_locations)


def signature_calls(policy, metadata: dict, n: int, rng) -> dict:
    """Signature name -> a zero-argument call at batch ``n`` with valid random inputs."""
    bounds = np.asarray(metadata["observation_bounds"])
    horizon, num_actions = int(metadata["horizon"]), int(metadata["num_actions"])
    sizes = metadata["state_sizes"]
    obs = (rng.integers(0, 1 << 30, size=(n, len(bounds))) % bounds).astype(np.int32)
    prev = rng.integers(0, num_actions, size=n).astype(np.int32)
    goal = (rng.integers(0, 1 << 30, size=(n, 2)) % np.asarray(metadata["goal_bounds"])).astype(np.int32)
    z = rng.normal(size=(n, int(metadata["embedding_size"]))).astype(np.float32)
    x_state = {k: rng.normal(size=(n, sizes["explore"])).astype(np.float32) for k in ("h", "c")}
    e_state = {k: rng.normal(size=(n, sizes["execute"])).astype(np.float32) for k in ("h", "c")}
    episode = (rng.integers(0, 1 << 30, size=(n, horizon + 1, len(bounds))) % bounds).astype(np.int32)
    actions = rng.integers(0, num_actions, size=(n, horizon)).astype(np.int32)
    length = rng.integers(1, horizon + 1, size=n).astype(np.int32)
    return {
        "explore_initial_state": lambda: policy.explore_initial_state(n),
        "explore_step": lambda: policy.explore_step(obs, prev, x_state),
        "embed_exploration": lambda: policy.embed_exploration(episode, actions, length),
        "execute_initial_state": lambda: policy.execute_initial_state(n),
        "execute_step": lambda: policy.execute_step(obs, goal, z, e_state),
    }


def measure(saved_model: pathlib.Path, calls: int) -> dict:
    rng = np.random.default_rng(0)
    out = {"policy": saved_model.name, "files": {}, "latency": []}
    for runtime in RUNTIMES:
        if runtime == "tensorflow":
            policy, folder = load_policy(str(saved_model)), saved_model
            skipped = {}
        else:
            folder = saved_model.parent / f"{saved_model.name}_{runtime}"
            policy = load_runtime_policy(str(folder), runtime)
            skipped = policy.not_converted
        out["files"][runtime] = folder_bytes(folder)
        for n in BATCH_SIZES:
            for name, call in signature_calls(policy, policy.metadata, n, rng).items():
                row = {"runtime": runtime, "signature": name, "batch": n}
                if name in skipped:
                    row["not_converted"] = skipped[name]
                else:
                    row.update(time_calls(call, calls if n == 1 else max(calls // 4, 20)))
                out["latency"].append(row)
    return out


def fmt_us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} us"


def write_markdown(report: dict, path: pathlib.Path) -> None:
    lines = [
        "# Portable policies: TensorFlow vs ONNX Runtime vs LiteRT",
        "",
        f"Date {report['date']}; machine: {report['cpus']} CPU cores, python {report['python']}; "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".",
        "",
        f"**Contended numbers**: two training runs occupied both CPU cores while this was "
        f"measured (load average {report['load_before']:.1f} before, {report['load_after']:.1f} "
        "after), so these are upper bounds on latency; p90 is inflated most. Compare the "
        "runtimes with each other, not with an idle machine.",
        "",
        "Single calls through the policy classes (numpy in, numpy out: what "
        "`launch/evaluate.py --runtime=...` pays), median (p90) after 20 warm-up calls; "
        f"{report['calls']} timed calls at N=1, a quarter at N=256. `embed_exploration` gets "
        "full-horizon episodes. Produced by `python benchmarks/portable_latency.py`.",
        "",
    ]
    for policy in report["policies"]:
        lines += [f"## {policy['policy']}", "",
                  "| signature | N | " + " | ".join(RUNTIMES) + " |",
                  "|---|---:|" + "---:|" * len(RUNTIMES)]
        rows = {}
        for r in policy["latency"]:
            cell = ("not converted" if "not_converted" in r
                    else f"{fmt_us(r['median_us'])} ({fmt_us(r['p90_us'])})")
            rows.setdefault((r["batch"], r["signature"]), {})[r["runtime"]] = cell
        for (n, name), cells in sorted(rows.items()):
            lines.append(f"| {name} | {n} | " + " | ".join(cells[rt] for rt in RUNTIMES) + " |")
        lines += ["", "Files: " + ", ".join(f"{rt} {policy['files'][rt] / 1e6:.2f} MB" for rt in RUNTIMES)
                  + " (the SavedModel folder including variables and assets; the converted "
                  "folders including README.md and metadata.json).", ""]
    lines += ["## Installed size of each runtime", "",
              "The runtime's own package folder in site-packages (numpy, needed by all, not "
              "counted; TensorFlow also pulls in keras, tensorboard, ml-dtypes, h5py and more, "
              "not counted either).", "",
              "| runtime | package | version | installed |", "|---|---|---|---:|"]
    for rt in RUNTIMES:
        lines.append(f"| {rt} | {PACKAGES[rt]} | {report['versions'][DISTRIBUTIONS[rt]]} | "
                     f"{report['installed'][rt] / 1e6:.0f} MB |")
    path.write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    shipped = sorted(p.parent for p in (REPO / "saved_models").glob("*/saved_model.pb"))
    load_before = os.getloadavg()[0]
    report = {
        "date": datetime.date.today().isoformat(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "calls": args.calls,
        "versions": {d: importlib.metadata.version(d) for d in DISTRIBUTIONS.values()},
        "installed": {rt: installed_bytes(rt) for rt in RUNTIMES},
        "policies": [measure(p, args.calls) for p in shipped],
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "portable.json").write_text(json.dumps(report, indent=2))
    write_markdown(report, RESULTS_DIR / "portable.md")
    print((RESULTS_DIR / "portable.md").read_text())


if __name__ == "__main__":
    main()
