"""Loads an exported policy SavedModel with ``tf.saved_model.load`` and checks it.

Imports only TensorFlow, NumPy and ``tf_metarl.envs``: never the agents, networks or
training code, so an exported policy runs without them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.export import format as fmt
from tf_metarl.export import metadata as metadata_lib
from tf_metarl.export.errors import NotAPolicyError, NotASavedModelError, first_line
from tf_metarl.export.metadata import parse_metadata, read_metadata_file
from tf_metarl.export.paths import check_saved_model_path


def _read_metadata(path: str, loaded) -> dict[str, Any]:
    """``assets/metadata.json``, or the ``metadata`` signature when the asset is gone."""
    metadata = read_metadata_file(path)
    if metadata is not None:
        return metadata
    if fmt.METADATA_SIGNATURE in loaded.signatures:
        function = loaded.signatures[fmt.METADATA_SIGNATURE]
        # Exports since metadata took its ignored input need a value for it.
        args = {n: tf.zeros(v.shape, v.dtype) for n, v in function.structured_input_signature[1].items()}
        out = function(**args)
        return parse_metadata(out[fmt.METADATA_OUTPUT].numpy().decode(),
                              f"of {path!r} (signature {fmt.METADATA_SIGNATURE!r})")
    raise NotAPolicyError(f"SavedModel {path!r} has no assets/{fmt.METADATA_ASSET} and no "
                          f"{fmt.METADATA_SIGNATURE!r} signature: not a tf_metarl policy export")


class ExportedPolicy:
    """An exported explore/execute policy: numpy in, numpy out, recurrent state explicit.

    States are dicts ``{"h": tensor, "c": tensor}`` kept as tensors between steps (no copy
    to numpy unless asked). Build with ``load_policy``.
    """

    def __init__(self, path: str, loaded, metadata: dict[str, Any]):
        self.path = path
        self.loaded = loaded
        self.metadata = metadata
        sigs = loaded.signatures
        self._explore_initial_state = sigs["explore_initial_state"]
        self._explore_step = sigs["explore_step"]
        self._embed = sigs["embed_exploration"]
        self._execute_initial_state = sigs["execute_initial_state"]
        self._execute_step = sigs["execute_step"]

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

    # ---- acting ---------------------------------------------------------------------------------
    def explore_initial_state(self, batch_size: int) -> dict[str, tf.Tensor]:
        return self._explore_initial_state(batch_size=tf.constant(batch_size, tf.int32))

    def execute_initial_state(self, batch_size: int) -> dict[str, tf.Tensor]:
        return self._execute_initial_state(batch_size=tf.constant(batch_size, tf.int32))

    def explore_step(self, observation, prev_action, state):
        """observation [N, F], prev_action [N] (num_actions: none yet), state
        -> (action [N] numpy, q_values [N, A] numpy, next state)."""
        out = self._explore_step(observation=tf.constant(observation, tf.int32),
                                 prev_action=tf.constant(prev_action, tf.int32),
                                 h=state["h"], c=state["c"])
        return out["action"].numpy(), out["q_values"].numpy(), {"h": out["h"], "c": out["c"]}

    def embed_exploration(self, observations, actions, length) -> np.ndarray:
        """observations [N, T'+1, F], actions [N, T'], length [N] -> embedding [N, Z].

        Checks ``0 <= length <= T'`` here too: models exported before the signature
        checked it would silently read their internal padding (see ``format``)."""
        steps, length = np.shape(actions)[-1], np.asarray(length)
        if length.size and (length.max() > steps or length.min() < 0):
            raise ValueError(f"{fmt.LENGTH_ERROR} (or is negative): lengths {length.tolist()} "
                             f"for {steps} actions per trial; expected 0 <= length <= {steps}")
        out = self._embed(observations=tf.constant(observations, tf.int32),
                          actions=tf.constant(actions, tf.int32),
                          length=tf.constant(length, tf.int32))
        return out["embedding"].numpy()

    def execute_step(self, observation, goal, embedding, state):
        """observation [N, F], goal [N, 2], embedding [N, Z], state
        -> (action [N] numpy, q_values [N, A] numpy, next state)."""
        out = self._execute_step(observation=tf.constant(observation, tf.int32),
                                 goal=tf.constant(goal, tf.int32),
                                 embedding=tf.constant(embedding, tf.float32),
                                 h=state["h"], c=state["c"])
        return out["action"].numpy(), out["q_values"].numpy(), {"h": out["h"], "c": out["c"]}


def load_policy(path: str) -> ExportedPolicy:
    """Loads and checks an exported policy; raises a specific ExportError if it is not one."""
    path = os.fspath(path)
    check_saved_model_path(path)
    metadata = read_metadata_file(path)  # cheap: a bad metadata file fails before loading
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 -- any failure here means an unreadable model
        raise NotASavedModelError(f"cannot load the SavedModel at {path!r}: {first_line(e)}") from None
    missing = [name for name in fmt.POLICY_SIGNATURES if name not in loaded.signatures]
    if missing:
        raise NotAPolicyError(
            f"SavedModel {path!r} lacks the signature(s) {missing} (it has "
            f"{sorted(loaded.signatures) or 'none'}): not a tf_metarl policy export")
    return ExportedPolicy(path, loaded, metadata or _read_metadata(path, loaded))
