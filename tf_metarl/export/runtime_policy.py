"""Runs a converted policy (``portable.convert_saved_model``) with onnxruntime or LiteRT.

Imports NumPy, ``tf_metarl.envs`` and the chosen runtime only, never TensorFlow: the same
acting interface as ``policy.ExportedPolicy`` (numpy in, numpy out, explicit recurrent
state), so ``evaluation.play_trials`` plays trials with it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tf_metarl.export import format as fmt
from tf_metarl.export.contract_policy import ContractPolicy
from tf_metarl.export.errors import NotAPolicyError, PolicyNotFoundError, first_line
from tf_metarl.export.metadata import parse_metadata

RUNTIMES = ("onnx", "litert")
LITERT_FILE = "policy.tflite"  # as portable.LITERT_FILE (that module imports TensorFlow)
ONNX_OUTPUT_PREFIX = "next_"


class RuntimePolicy(ContractPolicy):
    """A converted policy with the acting interface of ``ContractPolicy``; subclasses
    implement ``_call(signature, inputs) -> outputs`` with their runtime."""

    runtime = ""

    def __init__(self, path: str, metadata: dict[str, Any]):
        self.path = path
        self.metadata = metadata
        self.not_converted = dict(metadata.get("portable", {}).get("not_converted", {}))

    def call(self, name: str, **inputs) -> dict[str, np.ndarray]:
        """``ContractPolicy.call``, refusing a signature that did not convert by name."""
        if name in self.not_converted:
            raise NotAPolicyError(f"{self.runtime} policy {self.path!r} has no {name!r}: it did "
                                  f"not convert ({self.not_converted[name]})")
        return super().call(name, **inputs)


class OnnxPolicy(RuntimePolicy):
    """One ``onnxruntime.InferenceSession`` per signature (``<signature>.onnx``)."""

    runtime = "onnx"

    def __init__(self, path: str, metadata: dict[str, Any], threads: int | None = None):
        super().__init__(path, metadata)
        import onnxruntime as ort  # noqa: PLC0415 -- only this runtime's users need it

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._sessions = {}
        for name in fmt.POLICY_SIGNATURES:
            if name in self.not_converted:
                continue
            file = os.path.join(path, f"{name}.onnx")
            if not os.path.isfile(file):
                raise NotAPolicyError(f"ONNX policy {path!r} lacks {name}.onnx")
            session = ort.InferenceSession(file, options, providers=["CPUExecutionProvider"])
            outputs = [o.name for o in session.get_outputs()]
            self._sessions[name] = (session, outputs)

    def _call(self, name, inputs):
        session, outputs = self._sessions[name]
        values = session.run(outputs, inputs)
        return {(k[len(ONNX_OUTPUT_PREFIX):] if k.startswith(ONNX_OUTPUT_PREFIX) else k): v
                for k, v in zip(outputs, values)}


class LiteRTPolicy(RuntimePolicy):
    """One ``ai_edge_litert`` interpreter holding every signature (``policy.tflite``)."""

    runtime = "litert"

    def __init__(self, path: str, metadata: dict[str, Any], threads: int | None = None):
        super().__init__(path, metadata)
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        file = os.path.join(path, LITERT_FILE)
        if not os.path.isfile(file):
            raise NotAPolicyError(f"LiteRT policy {path!r} lacks {LITERT_FILE}")
        self._interpreter = Interpreter(model_path=file, num_threads=threads)
        available = self._interpreter.get_signature_list()
        self._runners = {name: self._interpreter.get_signature_runner(name)
                         for name in fmt.POLICY_SIGNATURES if name in available}
        missing = [n for n in fmt.POLICY_SIGNATURES if n not in available and n not in self.not_converted]
        if missing:
            raise NotAPolicyError(f"LiteRT policy {path!r} lacks the signature(s) {missing}")

    def _call(self, name, inputs):
        # Each call returns views into the interpreter's buffers: copy before the next call.
        return {k: np.array(v) for k, v in self._runners[name](**inputs).items()}


def load_runtime_policy(path: str, runtime: str, threads: int | None = None) -> RuntimePolicy:
    """Loads the policy converted to ``runtime`` (``RUNTIMES``) in folder ``path``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is not one of {list(RUNTIMES)}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PolicyNotFoundError(f"converted policy path {path!r} does not exist")
    meta_file = os.path.join(path, fmt.METADATA_ASSET)
    if not os.path.isdir(path) or not os.path.isfile(meta_file):
        raise NotAPolicyError(f"{path!r} is not a converted policy folder (no {fmt.METADATA_ASSET} "
                              "in it); convert one with launch/export.py --format=onnx|litert")
    with open(meta_file) as f:
        metadata = parse_metadata(f.read(), f"of {path!r}")
    converted = metadata.get("portable", {}).get("format")
    if converted != runtime:
        raise NotAPolicyError(f"{path!r} holds a policy converted to {converted!r}, not {runtime!r}")
    cls = OnnxPolicy if runtime == "onnx" else LiteRTPolicy
    try:
        return cls(path, metadata, threads)
    except NotAPolicyError:
        raise
    except Exception as e:  # noqa: BLE001 -- a runtime failing to read the file
        raise NotAPolicyError(f"{runtime} cannot load the policy in {path!r}: {first_line(e)}") from None
