"""Loads an exported policy SavedModel with ``tf.saved_model.load`` and checks it.

Imports only TensorFlow, NumPy and ``tf_metarl.envs``: never the agents, networks or
training code, so an exported policy runs without them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from tf_metarl.export import format as fmt
from tf_metarl.export.contract_policy import ContractPolicy
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


class ExportedPolicy(ContractPolicy):
    """An exported policy SavedModel run by TensorFlow: numpy in, numpy out, recurrent
    state explicit (``ContractPolicy``). Build with ``load_policy``."""

    def __init__(self, path: str, loaded, metadata: dict[str, Any]):
        self.path = path
        self.loaded = loaded
        self.metadata = metadata
        self._signatures = {name: loaded.signatures[name] for name in fmt.POLICY_SIGNATURES}

    def _call(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        outputs = self._signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}


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
