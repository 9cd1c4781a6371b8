"""Paths and helpers of the export tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]
TRAIN = REPO / "launch" / "train.py"
EXPORT = REPO / "launch" / "export.py"
EVALUATE = REPO / "launch" / "evaluate.py"
SIGNATURES = ("explore_initial_state", "explore_step", "embed_exploration",
              "execute_initial_state", "execute_step")


# Replays recorded inputs through the signatures; imports nothing but tensorflow and numpy.
FRESH_PROCESS_SCRIPT = r"""
import json, os, sys
import numpy as np
import tensorflow as tf

saved_model, inputs, outputs = sys.argv[1:4]
d = np.load(inputs)
model = tf.saved_model.load(saved_model)
sig = model.signatures
n = d["explore_obs"].shape[1]

def run_episode(initial, step, obs_seq, extra):
    state = sig[initial](batch_size=tf.constant(n, tf.int32))
    q, actions = [], []
    for t in range(len(obs_seq)):
        out = sig[step](observation=tf.constant(obs_seq[t]), h=state["h"], c=state["c"],
                        **{k: tf.constant(v[t] if v.ndim > 2 or k == "prev_action" else v)
                           for k, v in extra.items()})
        q.append(out["q_values"].numpy())
        actions.append(out["action"].numpy())
        state = {"h": out["h"], "c": out["c"]}
    return np.stack(q), np.stack(actions)

explore_q, explore_actions = run_episode(
    "explore_initial_state", "explore_step", d["explore_obs"],
    {"prev_action": d["explore_prev_action"]})
embedding = sig["embed_exploration"](
    observations=tf.constant(d["x_obs"]), actions=tf.constant(d["x_actions"]),
    length=tf.constant(d["x_length"]))["embedding"].numpy()
execute_q, execute_actions = run_episode(
    "execute_initial_state", "execute_step", d["execute_obs"],
    {"goal": d["goal"], "embedding": embedding})
# Its input is ignored (TF Serving cannot call a signature without inputs).
metadata = json.loads(sig["metadata"](unused=tf.constant(0))["metadata_json"].numpy().decode())
with open(os.path.join(saved_model, "assets", "metadata.json")) as f:
    assert json.load(f) == metadata
np.savez(outputs, explore_q=explore_q, explore_actions=explore_actions, embedding=embedding,
         execute_q=execute_q, execute_actions=execute_actions)
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "tf_metarl")
assert not leaked, leaked
print("fresh process ok", metadata["algorithm"], metadata["horizon"])
"""

# Two new configurations: the 9x9 preset with moved stops and map, and a 7x7 world with
# three colored buses and a shorter horizon (observation bounds within the training ones).
NEW_LAYOUTS = {"layouts": [
    {"preset": "distracting_bus_map", "name": "moved_stops",
     "colored_stops": [[2, 5], [6, 4], [2, 3], [5, 2]],
     "gray_stops": [[6, 6], [2, 2], [1, 5], [6, 2]], "map_cell": [1, 7]},
    {"name": "seven_by_seven", "width": 7, "height": 7, "start": [3, 3],
     "colored_buses": [[[3, 4], [0, 1]], [[4, 3], [6, 5]], [[2, 3], [6, 1]]],
     "map_cell": [5, 2], "goals": [[0, 0], [0, 6], [6, 6], [6, 0]], "step_cost": 0.1,
     "horizon": 15},
]}
NUM_EVAL_TRIALS = 24

# Runs the real entry point as __main__, then reports which project packages it imported.
RUN_AND_LIST_MODULES = r"""
import runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    code = e.code
forbidden = sorted(m for m in sys.modules
                   if m.split(".")[:2] in (["tf_metarl", "agents"], ["tf_metarl", "networks"],
                                           ["tf_metarl", "training"], ["tf_metarl", "losses"]))
print("FORBIDDEN_MODULES", forbidden)
sys.exit(code)
"""


def run_command(args, timeout=240, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO, **kwargs)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def in_memory_trials(agent, layout, problem_ids, goal_ids, epsilon: float = 0.0):
    """``tf_metarl.training.collection.play_trials``, z from the decoder; greedy unless
    ``epsilon`` (both episodes, seeded)."""
    from tf_metarl.envs import BatchedBusMap
    from tf_metarl.training.collection import play_trials

    n = len(problem_ids)
    return play_trials(agent, BatchedBusMap(layout, n), np.asarray(problem_ids),
                       np.asarray(goal_ids), np.random.default_rng(0), epsilon, epsilon,
                       np.ones(n, dtype=bool))


class Job:
    """A subprocess started now and collected later, so independent slow commands (each
    importing TensorFlow) overlap. Output goes to files, so no pipe can fill and block."""

    def __init__(self, args, log_dir: pathlib.Path, name: str):
        self.args = [str(a) for a in args]
        self._out = open(log_dir / f"{name}.stdout", "w+")
        self._err = open(log_dir / f"{name}.stderr", "w+")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=self._err, text=True,
                                     env=env, cwd=REPO)
        self._result = None

    def result(self, timeout: float = 240) -> subprocess.CompletedProcess:
        if self._result is None:
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            outputs = []
            for f in (self._out, self._err):
                f.seek(0)
                outputs.append(f.read())
                f.close()
            self._result = subprocess.CompletedProcess(self.args, code, *outputs)
        return self._result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
