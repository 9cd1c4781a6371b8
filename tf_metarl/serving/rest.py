"""TensorFlow Serving's REST API as pure functions: paths, request bodies, checks, responses.

No TensorFlow and no Ray here, so every rule is unit-tested on its own. The server
(``tf_metarl.serving.server``) is a thin Ray Serve deployment around these functions.

The API (https://www.tensorflow.org/tfx/serving/api_rest), as this module speaks it:

  GET  /v1/models/<name>[/versions/<v>]            -> {"model_version_status": [...]}
  GET  /v1/models/<name>[/versions/<v>]/metadata   -> {"model_spec", "metadata": {"signature_def"}}
  POST /v1/models/<name>[/versions/<v>]:predict    {"signature_name", "inputs" | "instances"}
                                                   -> {"outputs"} | {"predictions"}

Errors are ``{"error": "..."}``: 404 for an unknown model or version, 400 for everything
wrong in a request (TF Serving's NOT_FOUND and INVALID_ARGUMENT), 405 for a wrong method.

Inputs are checked before the model runs, against the signature's dtypes and shapes and
against the policy's metadata: observation fields within ``observation_bounds``, actions in
range, goals within ``goal_bounds``, ``0 <= length <= T' <= horizon``, finite states and
embeddings. A SavedModel would index out of range or silently compute garbage otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from tf_metarl.export import format as fmt

# Metadata signature: answered from the metadata file; accepts empty inputs (or none).
METADATA_SIGNATURE = fmt.METADATA_SIGNATURE
DEFAULT_SIGNATURE = "serving_default"

_DTYPES = {"int32": np.int32, "float32": np.float32, "string": np.object_}
TF_DTYPE_NAMES = {"int32": "DT_INT32", "float32": "DT_FLOAT", "string": "DT_STRING"}


class RestError(Exception):
    """A request TF Serving would refuse: ``status`` is the HTTP code, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


# ---- paths -----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Route:
    """What a request path asks for: ``verb`` is "status", "metadata" or "predict"."""
    model: str
    version: int | None
    verb: str


_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                   r"(?:(?P<meta>/metadata)|:(?P<verb>[A-Za-z]+))?/?$")


def parse_route(method: str, path: str) -> Route:
    """The route of ``method path``; RestError 404 for an unknown path, 405 for a wrong
    method, 400 for a bad version."""
    match = _PATH.match(path)
    if not match:
        raise RestError(404, f"unknown path {path!r}: expected /v1/models/<name>"
                             "[/versions/<v>][/metadata | :predict]")
    version = match["version"]
    if version is not None:
        if not version.isdigit():
            raise RestError(400, f"version {version!r} in {path!r} is not a non-negative integer")
        version = int(version)
    if match["verb"] is not None:
        if match["verb"] != "predict":
            raise RestError(400, f"unsupported verb {match['verb']!r} in {path!r}: this "
                                 "server answers :predict (no :classify or :regress)")
        verb = "predict"
    else:
        verb = "metadata" if match["meta"] else "status"
    expected = "POST" if verb == "predict" else "GET"
    if method.upper() != expected:
        raise RestError(405, f"{method.upper()} {path!r}: {verb} takes {expected}")
    return Route(match["model"], version, verb)


# ---- signatures ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature: dtype name ("int32", "float32", "string") and
    shape (None: any size)."""
    name: str
    dtype: str
    shape: tuple[int | None, ...]


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def input(self, name: str) -> TensorInfo:
        return next(t for t in self.inputs if t.name == name)


def contract_signatures(metadata: Mapping[str, Any]) -> dict[str, SignatureInfo]:
    """The signatures of a policy with ``metadata``, from the contract ``fmt.signatures(metadata)``
    with this policy's sizes filled in (the batch and step counts stay free)."""
    dims = fmt.signature_dims(metadata)

    def infos(specs):
        return tuple(TensorInfo(n, t, tuple(d if isinstance(d, int) else dims.get(d) for d in s))
                     for n, t, s in specs)

    return {name: SignatureInfo(name, infos(ins), infos(outs))
            for name, (ins, outs) in fmt.signatures(metadata).items()}


def signature_def_json(sig: SignatureInfo) -> dict[str, Any]:
    """One signature as TF Serving's metadata shows it (SignatureDef in JSON)."""

    def tensor(t: TensorInfo, prefix: str) -> dict[str, Any]:
        return {"dtype": TF_DTYPE_NAMES[t.dtype],
                "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""}
                                         for d in t.shape], "unknown_rank": False},
                "name": f"{prefix}:0"}

    return {"inputs": {t.name: tensor(t, f"{sig.name}_{t.name}") for t in sig.inputs},
            "outputs": {t.name: tensor(t, f"StatefulPartitionedCall_{i}")
                        for i, t in enumerate(sig.outputs)},
            "method_name": "tensorflow/serving/predict", "defaults": {}}


def status_response(version: int) -> dict[str, Any]:
    """``GET /v1/models/<name>``: the one loaded version, AVAILABLE."""
    return {"model_version_status": [{"version": str(version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata_response(name: str, version: int, signatures: Mapping[str, SignatureInfo],
                      metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/models/<name>/metadata``: TF Serving's signature defs, plus the export's
    ``metadata.json`` under ``"policy_metadata"``."""
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {
                "signature_def": {n: signature_def_json(s) for n, s in signatures.items()}}},
            "policy_metadata": dict(metadata)}


def check_version(requested: int | None, loaded: int, model: str) -> None:
    if requested is not None and requested != loaded:
        raise RestError(404, f"model {model!r} has no version {requested} (loaded: {loaded})")


# ---- predict requests ------------------------------------------------------------------------------
@dataclasses.dataclass
class PredictRequest:
    """A parsed ``:predict`` body: ``row_format`` is true for ``instances``."""
    signature_name: str
    inputs: dict[str, Any]
    row_format: bool


def parse_predict_body(body: bytes | str) -> PredictRequest:
    """Parses a ``:predict`` JSON body (still unchecked values); RestError 400 if malformed."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RestError(400, f"malformed JSON request body: {e}") from None
    if not isinstance(data, dict):
        raise RestError(400, f"request body must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"signature_name", "inputs", "instances"})
    if unknown:
        raise RestError(400, f"unknown request key(s) {unknown}: expected signature_name "
                             "and inputs or instances")
    signature = data.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature, str):
        raise RestError(400, f"signature_name must be a string, got {signature!r}")
    if ("inputs" in data) == ("instances" in data):
        raise RestError(400, "the request needs exactly one of \"inputs\" (columnar) and "
                             "\"instances\" (row)")
    if "inputs" in data:
        inputs = data["inputs"]
        if not isinstance(inputs, dict):
            raise RestError(400, "\"inputs\" must be an object of named inputs (this model's "
                                 "signatures all have named inputs)")
        return PredictRequest(signature, dict(inputs), False)
    instances = data["instances"]
    if not isinstance(instances, list) or not instances:
        raise RestError(400, "\"instances\" must be a non-empty list of rows")
    if not all(isinstance(row, dict) for row in instances):
        raise RestError(400, "each row of \"instances\" must be an object of named inputs")
    names = set(instances[0])
    for i, row in enumerate(instances):
        if set(row) != names:
            raise RestError(400, f"instance {i} has inputs {sorted(row)}, instance 0 has "
                                 f"{sorted(names)}: every row needs the same inputs")
    return PredictRequest(signature, {n: [row[n] for row in instances] for n in sorted(names)}, True)


def _to_array(name: str, value: Any, info: TensorInfo) -> np.ndarray:
    """A JSON value as an array of the input's dtype; RestError 400 on a wrong type."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise RestError(400, f"input {name!r} is a ragged list: every row needs the same "
                             "length") from None
    if array.dtype == np.object_:
        raise RestError(400, f"input {name!r} is a ragged or mixed list: every row needs the "
                             "same length and numbers only")
    if info.dtype == "int32":
        if array.dtype.kind == "f":
            # JSON numbers like 3.0 are integers for int32 inputs (as in TF Serving); 3.5 not.
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise RestError(400, f"input {name!r} must hold integers (int32), got "
                                     f"non-integer numbers")
        elif array.dtype.kind not in "iu":
            raise RestError(400, f"input {name!r} must hold integers (int32), got "
                                 f"{_kind(array)}")
        if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
            raise RestError(400, f"input {name!r} holds a value outside the int32 range")
        return array.astype(np.int32)
    if info.dtype == "float32":
        if array.dtype.kind not in "iuf":
            raise RestError(400, f"input {name!r} must hold numbers (float32), got {_kind(array)}")
        return array.astype(np.float32)
    raise RestError(400, f"input {name!r} has dtype {info.dtype}, which this server cannot take")


def _kind(array: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "S": "strings"}.get(array.dtype.kind, str(array.dtype))


def _shape_text(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def check_inputs(request: PredictRequest, signatures: Mapping[str, SignatureInfo],
                 metadata: Mapping[str, Any], max_batch_size: int) -> dict[str, np.ndarray]:
    """The request's inputs as arrays, each checked; RestError 400 names the first problem.

    Checks: the signature exists; the input names are exactly the signature's; dtypes and
    shapes match; all inputs share the batch size N (<= ``max_batch_size``); and the
    values lie where the policy's metadata says (``check_values``).
    """
    name = request.signature_name
    if name not in signatures:
        raise RestError(400, f"serving signature name {name!r} not found in the signature "
                             f"defs (available: {sorted(signatures)})")
    sig = signatures[name]
    if name == METADATA_SIGNATURE and not request.inputs:
        # Answered from the metadata file: callable without inputs whatever the export's
        # signature takes (older exports' takes none, which TF Serving cannot call).
        return {}
    expected = [t.name for t in sig.inputs]
    missing = [n for n in expected if n not in request.inputs]
    extra = sorted(n for n in request.inputs if n not in expected)
    if missing or extra:
        raise RestError(400, f"signature {name!r} takes inputs {expected}; "
                             + (f"missing {missing}" if missing else "")
                             + ("; " if missing and extra else "")
                             + (f"unexpected {extra}" if extra else ""))
    if request.row_format and any(len(t.shape) == 0 for t in sig.inputs):
        raise RestError(400, f"signature {name!r} has a scalar input ({[t.name for t in sig.inputs if not t.shape]}): "
                             "use the columnar \"inputs\" format, not \"instances\"")
    arrays = {}
    for info in sig.inputs:
        array = _to_array(info.name, request.inputs[info.name], info)
        ok = array.ndim == len(info.shape) and all(
            d is None or d == a for d, a in zip(info.shape, array.shape))
        if not ok:
            raise RestError(400, f"input {info.name!r} of {name!r} has shape "
                                 f"{list(array.shape)}, expected {_shape_text(info.shape)}")
        arrays[info.name] = array
    batched = [a.shape[0] for a in arrays.values() if a.ndim]
    if batched and len(set(batched)) > 1:
        sizes = {n: a.shape[0] for n, a in arrays.items() if a.ndim}
        raise RestError(400, f"inputs of {name!r} disagree on the batch size N: {sizes}")
    n = batched[0] if batched else None
    if n is not None:
        if n < 1:
            raise RestError(400, f"inputs of {name!r} hold an empty batch (N = 0)")
        if n > max_batch_size:
            raise RestError(400, f"batch of {n} rows for {name!r} is over the limit of "
                                 f"{max_batch_size} rows per request")
    check_values(name, arrays, metadata, max_batch_size)
    return arrays


def _check_range(signature: str, name: str, values: np.ndarray, low: int, high: int,
                 what: str) -> None:
    """Raises unless every value lies in low .. high (inclusive)."""
    bad = np.argwhere((values < low) | (values > high))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise RestError(400, f"input {name!r} of {signature!r}: {what} {int(values[where])} at "
                             f"index {list(where)} is outside {low}..{high}")


def _check_observation_fields(signature: str, name: str, obs: np.ndarray,
                              metadata: Mapping[str, Any]) -> None:
    fields, bounds = list(metadata["observation_fields"]), list(metadata["observation_bounds"])
    for i, (field, bound) in enumerate(zip(fields, bounds)):
        _check_range(signature, name, obs[..., i], 0, int(bound) - 1, f"observation field {field!r}")


def _check_finite(signature: str, name: str, values: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise RestError(400, f"input {name!r} of {signature!r} holds {values[where]} at index "
                             f"{list(where)}: states and embeddings must be finite")


def check_values(signature: str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any],
                 max_batch_size: int) -> None:
    """The metadata's bounds for each input of the contract's signatures (RestError 400)."""
    num_actions = int(metadata["num_actions"])
    no_action = int(metadata.get("no_action", num_actions))
    for name, values in arrays.items():
        if name == "batch_size":
            if not 1 <= int(values) <= max_batch_size:
                raise RestError(400, f"input 'batch_size' of {signature!r} is {int(values)}, "
                                     f"expected 1..{max_batch_size}")
        elif name in ("observation", "observations"):
            _check_observation_fields(signature, name, values, metadata)
        elif name == "prev_action":
            _check_range(signature, name, values, 0, no_action, "action")
        elif name == "actions":
            _check_range(signature, name, values, 0, num_actions - 1, "action")
        elif name == "goal":
            gw, gh = metadata["goal_bounds"]
            _check_range(signature, name, values[:, 0], 0, int(gw) - 1, "goal x")
            _check_range(signature, name, values[:, 1], 0, int(gh) - 1, "goal y")
        elif values.dtype == np.float32:  # h, c, embedding
            _check_finite(signature, name, values)
    if signature == "embed_exploration":
        obs, actions, length = arrays["observations"], arrays["actions"], arrays["length"]
        steps = actions.shape[1]
        if obs.shape[1] != steps + 1:
            raise RestError(400, f"'observations' of {signature!r} has {obs.shape[1]} steps, "
                                 f"expected one more than 'actions' ({steps} + 1)")
        horizon = int(metadata["horizon"])
        if steps > horizon:
            raise RestError(400, f"'actions' of {signature!r} has {steps} steps, more than the "
                                 f"horizon {horizon}")
        _check_range(signature, "length", length, 0, steps, "length")


# ---- responses -------------------------------------------------------------------------------------
def _jsonable(array: np.ndarray):
    if array.dtype == np.object_ or array.dtype.kind in "SU":
        flat = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        return flat[0] if array.ndim == 0 else np.asarray(flat, dtype=object).reshape(array.shape).tolist()
    # float32 -> float64 keeps the value; its repr reads back to the same float32.
    return array.tolist()


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """``{"outputs": ...}`` (columnar) or ``{"predictions": [...]}`` (row) as TF Serving
    writes them: a single output is given bare, several by name (rows: one object each)."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": _jsonable(np.asarray(outputs[names[0]]))}
        return {"outputs": {n: _jsonable(np.asarray(outputs[n])) for n in names}}
    columns = {n: _jsonable(np.asarray(outputs[n])) for n in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    rows = len(columns[names[0]])
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(rows)]}


def check_finite_json(value: Any) -> None:
    """Raises ValueError on a NaN or infinity anywhere (JSON has none; Python writes them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite number in the response")
    if isinstance(value, dict):
        for v in value.values():
            check_finite_json(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_finite_json(v)


# ---- batching --------------------------------------------------------------------------------------
def batch_key(signature: str, arrays: Mapping[str, np.ndarray]) -> tuple:
    """Requests with the same key merge into one call: the signature, and every input's
    shape past the batch dimension (e.g. embed_exploration's step count T')."""
    return (signature,) + tuple((n, a.shape[1:]) for n, a in sorted(arrays.items()) if a.ndim)


def merge_requests(requests: Sequence[Mapping[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Stacks same-key requests along the batch dimension; returns (inputs, rows of each).

    A scalar ``batch_size`` (the initial-state signatures) merges into the sum of the
    requests' batch sizes."""
    if not requests:
        raise ValueError("no requests to merge")
    first = requests[0]
    if not first:
        return {}, [0] * len(requests)
    merged, sizes = {}, []
    for r in requests:
        sizes.append(next(int(a) if a.ndim == 0 else a.shape[0] for a in r.values()))
    for name, array in first.items():
        if array.ndim == 0:
            merged[name] = np.asarray(sum(int(r[name]) for r in requests), dtype=array.dtype)
        else:
            merged[name] = np.concatenate([r[name] for r in requests], axis=0)
    return merged, sizes


def split_outputs(outputs: Mapping[str, np.ndarray], sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """The rows of each merged request back, in order (outputs without a batch dimension,
    like ``metadata_json``, go to every request)."""
    bounds = np.cumsum([0, *sizes])
    return [{n: (a[bounds[i]:bounds[i + 1]] if np.ndim(a) else a) for n, a in outputs.items()}
            for i in range(len(sizes))]
