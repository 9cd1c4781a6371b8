"""Helpers of the hybrid 2 and 3 tests: tiny agents, replay-shaped batches, and a tiny
launch/train.py run started in the background so it overlaps the in-process tests."""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from tf_metarl.agents.registry import ALGORITHMS
from tf_metarl.config import validate_config
from tf_metarl.training.config import make_config

TRAIN = pathlib.Path(__file__).resolve().parents[2] / "launch" / "train.py"


def make_agent(algorithm, seed=0, **overrides):
    """A tiny eager agent of ``algorithm`` on small_map (tiny preset + ``overrides``)."""
    config = make_config(algorithm, "small_map", "tiny")
    agent_config = dataclasses.replace(config.agent, **overrides)
    validate_config(agent_config)
    layout = config.env.make_layout()
    tf.keras.utils.set_random_seed(seed)
    return ALGORITHMS[algorithm].agent_class(agent_config, layout, seed=seed, use_tf_function=False)


def random_batch(agent, batch_size=3, seed=0):
    """Execution episodes (obs, goal, actions, rewards, length, problem_id) and
    exploration episodes (x_*), shaped and typed as replay samples them."""
    rng = np.random.default_rng(seed)
    T, B = agent.horizon, batch_size

    def episode():
        obs = np.stack([rng.integers(0, b, size=(B, T + 1)) for b in agent.observation_bounds], -1)
        return (obs.astype(np.int16), rng.integers(0, agent.num_actions, size=(B, T)).astype(np.int8),
                rng.integers(1, T + 1, size=B).astype(np.int16))

    (obs, actions, length), (x_obs, x_actions, x_length) = episode(), episode()
    return dict(obs=obs, actions=actions, length=length,
                goal=rng.integers(0, 5, size=(B, 2)).astype(np.int16),
                rewards=rng.normal(size=(B, T)).astype(np.float32),
                problem_id=rng.integers(0, agent.num_problems, size=B).astype(np.int32),
                x_obs=x_obs, x_actions=x_actions, x_length=x_length,
                x_problem_id=rng.integers(0, agent.num_problems, size=B).astype(np.int32))


def tensors(batch):
    return {k: tf.constant(v) for k, v in batch.items()}


class LaunchRun:
    """``launch/train.py --algorithm=... --config_preset=tiny --env_preset=small_map
    --override=run.total_env_steps=300`` started in the background."""

    def __init__(self, algorithm, root, *overrides):
        self.root = pathlib.Path(root)
        self.algorithm = algorithm
        self.log = open(self.root.parent / f"{self.root.name}.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, str(TRAIN), f"--algorithm={algorithm}", "--config_preset=tiny",
             "--env_preset=small_map", "--override=run.total_env_steps=300",
             *[f"--override={o}" for o in overrides], f"--root_dir={self.root}"],
            stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout=400):
        code = self.process.wait(timeout=timeout)
        self.log.seek(0)
        output = self.log.read()
        assert code == 0, output[-3000:]
        return output

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def check_files(self, loss_keys):
        """The run wrote its config, checkpoint, CSVs (with ``loss_keys`` logged) and summary."""
        root = self.root
        assert json.loads((root / "config.json").read_text())["algorithm"] == self.algorithm
        assert (root / "checkpoints" / "checkpoint").exists()
        with open(root / "train.csv", newline="") as f:
            train_rows = list(csv.DictReader(f))
        with open(root / "eval.csv", newline="") as f:
            eval_rows = list(csv.DictReader(f))
        assert int(train_rows[-1]["env_steps"]) >= 300 and eval_rows
        logged = [row for row in train_rows if row.get("execute/td_loss")]
        assert logged, "no execution update was logged"
        for key in loss_keys:
            assert np.isfinite(float(logged[-1][key])), key
        summary = json.loads((root / "summary.json").read_text())
        assert summary["env_steps"] == int(train_rows[-1]["env_steps"])
        return train_rows, eval_rows

    def checkpointed_agent_attributes(self):
        """Names of the agent's attributes in the run's latest checkpoint (its object graph)."""
        reader = tf.train.load_checkpoint(str(self.root / "checkpoints"))
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
        agent = next(c.node_id for c in graph.nodes[0].children if c.local_name == "agent")
        return {c.local_name for c in graph.nodes[agent].children}
