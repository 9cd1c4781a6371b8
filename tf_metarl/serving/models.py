"""Finding, loading and calling the served policies.

A model is given as ``NAME=DIR``: DIR is either an export (``DIR/saved_model.pb``) or
TensorFlow Serving's layout of versions (``DIR/<version>/saved_model.pb``), whose newest
version is served. ``model_specs`` resolves them without TensorFlow; ``ServedModel`` loads
one and calls its signatures on checked numpy inputs.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Mapping

import numpy as np

from tf_metarl.export import format as fmt
from tf_metarl.export.metadata import read_metadata_file
from tf_metarl.serving import rest

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ModelSpecError(ValueError):
    """A --saved_models entry or --model_dir folder that cannot be served."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model to serve: its name in URLs, the SavedModel folder and its version."""
    name: str
    path: str
    version: int


def resolve_version(base: str) -> tuple[str, int]:
    """(SavedModel folder, version) of ``base``: itself with version 1 if it is an export,
    else its newest numeric subfolder holding ``saved_model.pb`` (TF Serving's layout)."""
    if not os.path.isdir(base):
        raise ModelSpecError(f"model folder {base!r} does not exist")
    if os.path.isfile(os.path.join(base, "saved_model.pb")):
        return base, 1
    versions = sorted(int(d) for d in os.listdir(base)
                      if d.isdigit() and os.path.isfile(os.path.join(base, d, "saved_model.pb")))
    if not versions:
        raise ModelSpecError(f"{base!r} holds neither saved_model.pb nor version folders "
                             "<base>/<version>/saved_model.pb")
    return os.path.join(base, str(versions[-1])), versions[-1]


def model_specs(saved_models: str | None = None, model_dir: str | None = None) -> list[ModelSpec]:
    """The models of ``NAME=DIR[,NAME=DIR...]`` and of every model folder inside
    ``model_dir`` (named after the folder); ModelSpecError on a bad entry or a duplicate."""
    entries: list[tuple[str, str]] = []
    for item in (saved_models or "").split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ModelSpecError(f"--saved_models entry {item!r} is not NAME=DIR")
        name, path = (s.strip() for s in item.split("=", 1))
        entries.append((name, path))
    if model_dir:
        if not os.path.isdir(model_dir):
            raise ModelSpecError(f"--model_dir {model_dir!r} is not a folder")
        for d in sorted(os.listdir(model_dir)):
            full = os.path.join(model_dir, d)
            if os.path.isdir(full) and not d.startswith("."):
                entries.append((d, full))
    if not entries:
        raise ModelSpecError("no models to serve: give --saved_models=NAME=DIR[,...] or --model_dir")
    specs, seen = [], set()
    for name, path in entries:
        if not _NAME.match(name):
            raise ModelSpecError(f"model name {name!r} must be letters, digits, '_', '-' or '.'")
        if name in seen:
            raise ModelSpecError(f"model name {name!r} is given twice")
        seen.add(name)
        folder, version = resolve_version(path)
        if read_metadata_file(folder) is None:
            raise ModelSpecError(f"{folder!r} has no assets/{fmt.METADATA_ASSET}: not a "
                                 "tf_metarl policy export")
        specs.append(ModelSpec(name, os.path.abspath(folder), version))
    return specs


class ServedModel:
    """One loaded policy: the contract's signatures, its metadata, calls on numpy inputs."""

    def __init__(self, spec: ModelSpec):
        import tensorflow as tf

        from tf_metarl.export.policy import load_policy

        self.spec = spec
        self.policy = load_policy(spec.path)
        self.metadata = self.policy.metadata
        self.signatures = rest.contract_signatures(self.metadata)
        self._functions = {n: self.policy.loaded.signatures[n] for n in fmt.POLICY_SIGNATURES}
        self._tf = tf
        self._metadata_json = np.asarray(
            open(os.path.join(spec.path, "assets", fmt.METADATA_ASSET)).read(), dtype=object)

    def call(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs ``signature`` on checked inputs; outputs as numpy arrays. ``metadata`` is
        answered from ``assets/metadata.json`` (the same text the signature returns), so it
        is callable whether or not the export's signature takes inputs."""
        if signature == fmt.METADATA_SIGNATURE:
            return {fmt.METADATA_OUTPUT: self._metadata_json}
        tf = self._tf
        info = self.signatures[signature]
        tensors = {t.name: tf.constant(inputs[t.name], getattr(tf, t.dtype)) for t in info.inputs}
        out = self._functions[signature](**tensors)
        return {n: v.numpy() for n, v in out.items()}

    def describe(self) -> dict[str, Any]:
        return {"name": self.spec.name, "version": self.spec.version, "path": self.spec.path,
                "algorithm": self.metadata.get("algorithm")}
