"""The acting interface shared by every way of running an exported policy.

A SavedModel on TensorFlow (``policy.ExportedPolicy``), a converted file on onnxruntime or
LiteRT (``runtime_policy``) and a policy behind the REST API (``serving.PolicyClient``)
differ only in how one signature of the contract is called. ``ContractPolicy`` holds the
rest once: the metadata's facts, the acting methods the trial driver
(``evaluation.play_trials``) calls, and the length rules of ``embed_exploration``. It
imports NumPy and ``tf_metarl.envs`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.export import format as fmt
from tf_metarl.export import metadata as metadata_lib

_DTYPES = {"int32": np.int32, "float32": np.float32}


def check_exploration_lengths(observations: np.ndarray, actions: np.ndarray, length: np.ndarray,
                              horizon: int) -> None:
    """The contract's rules for ``embed_exploration``, checked in NumPy before any runtime
    reads the episode (converted graphs and models exported before the in-graph checks
    would read their padding silently)."""
    steps = actions.shape[-1]
    if observations.ndim != 3 or observations.shape[1] != steps + 1:
        raise ValueError(f"embed_exploration: expected one action fewer than observations, got "
                         f"{steps} actions and observations of shape {observations.shape}")
    if steps > horizon:
        raise ValueError(f"embed_exploration: more than horizon+1 = {horizon + 1} observations "
                         f"({observations.shape[1]})")
    if length.size and (length.max() > steps or length.min() < 0):
        raise ValueError(f"{fmt.LENGTH_ERROR} (or is negative): lengths {length.tolist()} "
                         f"for {steps} actions per trial; expected 0 <= length <= {steps}")


class ContractPolicy:
    """An exported explore/execute policy: numpy in, numpy out, recurrent state explicit
    (dicts ``{"h": [N, U], "c": [N, U]}`` the caller keeps between steps).

    Subclasses set ``path`` and ``metadata`` and implement ``_call(signature, inputs)``,
    which gets the contract's inputs as arrays of the contract's dtypes and returns the
    signature's outputs by name."""

    path: str
    metadata: dict[str, Any]

    # ---- what the policy was trained on --------------------------------------------------------
    @property
    def num_actions(self) -> int:
        return int(self.metadata["num_actions"])

    @property
    def horizon(self) -> int:
        return int(self.metadata["horizon"])

    @property
    def embedding_size(self) -> int:
        return int(self.metadata["embedding_size"])

    @property
    def algorithm(self) -> str:
        return str(self.metadata["algorithm"])

    def training_layout(self) -> BusMapLayout:
        """The layout the policy was trained on (from the metadata)."""
        return metadata_lib.training_layout(self.metadata)

    def check_layout(self, layout: BusMapLayout) -> None:
        """Raises IncompatibleLayoutError unless the policy can act on ``layout``."""
        metadata_lib.check_layout(self.metadata, layout, f"policy {self.path!r}")

    # ---- calling the contract ------------------------------------------------------------------
    def call(self, name: str, **inputs) -> dict[str, np.ndarray]:
        """Calls signature ``name`` with the contract's input names; returns its outputs as
        arrays of the contract's dtypes."""
        input_specs, output_specs = fmt.SIGNATURES[name]
        arrays = {n: np.asarray(inputs[n], dtype=_DTYPES[t]) for n, t, _ in input_specs}
        outputs = self._call(name, arrays)
        return {n: np.asarray(outputs[n], dtype=_DTYPES[t]) for n, t, _ in output_specs}

    def _call(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        raise NotImplementedError

    # ---- acting --------------------------------------------------------------------------------
    def explore_initial_state(self, batch_size: int) -> dict[str, np.ndarray]:
        return self.call("explore_initial_state", batch_size=batch_size)

    def execute_initial_state(self, batch_size: int) -> dict[str, np.ndarray]:
        return self.call("execute_initial_state", batch_size=batch_size)

    def explore_step(self, observation, prev_action, state):
        """observation [N, F], prev_action [N] (num_actions: none yet), state
        -> (action [N], q_values [N, A], next state)."""
        out = self.call("explore_step", observation=observation, prev_action=prev_action,
                        h=state["h"], c=state["c"])
        return out["action"], out["q_values"], {"h": out["h"], "c": out["c"]}

    def embed_exploration(self, observations, actions, length) -> np.ndarray:
        """observations [N, T'+1, F], actions [N, T'], length [N] -> embedding [N, Z]."""
        observations, actions, length = map(np.asarray, (observations, actions, length))
        check_exploration_lengths(observations, actions, length, self.horizon)
        return self.call("embed_exploration", observations=observations, actions=actions,
                         length=length)["embedding"]

    def execute_step(self, observation, goal, embedding, state):
        """observation [N, F], goal [N, 2], embedding [N, Z], state
        -> (action [N], q_values [N, A], next state)."""
        out = self.call("execute_step", observation=observation, goal=goal, embedding=embedding,
                        h=state["h"], c=state["c"])
        return out["action"], out["q_values"], {"h": out["h"], "c": out["c"]}
