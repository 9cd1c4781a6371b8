"""A client of the REST API: a served policy that plays trials like a local one.

``PolicyClient(url, model)`` has the acting interface of ``ExportedPolicy`` (numpy in,
numpy out, the recurrent state ``{"h", "c"}`` kept by the caller), so
``tf_metarl.export.evaluation`` plays and evaluates trials through it unchanged. It needs
only ``requests`` and NumPy: no TensorFlow.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tf_metarl.envs.layout import BusMapLayout
from tf_metarl.export.contract_policy import ContractPolicy


class ServingError(RuntimeError):
    """The server answered with an error: ``status`` and its message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class PolicyClient(ContractPolicy):
    """A policy served at ``url`` (e.g. ``http://127.0.0.1:8501``) under the name ``model``."""

    def __init__(self, url: str, model: str, version: int | None = None, timeout: float = 60.0,
                 session=None):
        import requests
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.timeout = timeout
        self.session = session or requests.Session()
        base = f"{self.url}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")
        self._predict_url = base + ":predict"
        self._metadata_url = base + "/metadata"
        self.path = base  # where the policy lives, as ExportedPolicy.path names its folder
        self.metadata: dict[str, Any] = self._get(self._metadata_url)["policy_metadata"]

    # ---- HTTP --------------------------------------------------------------------------------------
    def _answer(self, response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise ServingError(response.status_code, response.text[:200]) from None
        if response.status_code != 200:
            raise ServingError(response.status_code, body.get("error", str(body)))
        return body

    def _get(self, url: str) -> dict[str, Any]:
        return self._answer(self.session.get(url, timeout=self.timeout))

    def predict(self, signature: str, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Calls ``signature`` with columnar inputs; its outputs by name, as arrays."""
        body = {"signature_name": signature,
                "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
        outputs = self._answer(self.session.post(self._predict_url, json=body,
                                                 timeout=self.timeout))["outputs"]
        if not isinstance(outputs, dict):  # a single output comes bare
            outputs = {"embedding" if signature == "embed_exploration" else "output": outputs}
        return {k: np.asarray(v) for k, v in outputs.items()}

    def _call(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.predict(name, inputs)

    # ---- trials ------------------------------------------------------------------------------------
    def play_trials(self, layout: BusMapLayout, problem_ids, goal_ids):
        """Plays one greedy trial per (problem, goal) pair through the server."""
        from tf_metarl.export.evaluation import play_trials
        return play_trials(self, layout, problem_ids, goal_ids)

    def evaluate(self, layouts=None, split: str = "test", num_trials: int = 200, seed: int = 0):
        """``evaluation.evaluate`` through the server: (results, report)."""
        from tf_metarl.export import evaluation
        layouts = layouts if layouts is not None else [self.training_layout()]
        return evaluation.evaluate(self, layouts, split, num_trials, seed)
