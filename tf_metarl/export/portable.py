"""Converts an exported policy SavedModel to ONNX (tf2onnx) or LiteRT (the TFLite converter).

Needs TensorFlow and, for ONNX, tf2onnx (the ``portable`` extra); the converted files
are then run by ``runtime_policy`` with onnxruntime or ``ai-edge-litert`` alone.

Layout of a converted folder (``convert_saved_model``):

  onnx:    <out>/<signature>.onnx for the five policy signatures
  litert:  <out>/policy.tflite, one model holding the five policy signatures
  both:    <out>/metadata.json (the SavedModel's, plus a ``portable`` entry: format,
           files, what differs) and <out>/README.md (the contract, then its differences)

The ``metadata`` signature (a constant string) becomes ``metadata.json``. What differs
from the SavedModel (``DIFFERENCES``) is written into both files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from typing import Any

import tensorflow as tf

from tf_metarl.export import format as fmt
from tf_metarl.export.errors import ExportError, NotAPolicyError, first_line
from tf_metarl.export.metadata import read_metadata_file
from tf_metarl.export.paths import check_saved_model_path

FORMATS = ("onnx", "litert")
LITERT_FILE = "policy.tflite"
ONNX_OPSET = 17
# ONNX tensor names are unique in a graph, so a step's recurrent state outputs, which the
# SavedModel names like its inputs (h, c), are named next_h, next_c.
ONNX_OUTPUT_PREFIX = "next_"

DIFFERENCES = {
    "common": [
        "The `metadata` signature is not converted: read `metadata.json` beside the model.",
        "The in-graph checks of `embed_exploration`'s inputs (length <= T', one action fewer "
        "than observations, at most T+1 observations) are not in the converted graph: a bad "
        "call returns a wrong embedding or a runtime error that does not name the input. "
        "tf_metarl's runtime policies (`tf_metarl.export.runtime_policy`) check them in "
        "NumPy before calling; other callers must keep to the rules themselves.",
        "Pass inputs as NumPy arrays of exactly the listed dtypes (int32, float32); "
        "`batch_size` is an int32 scalar of shape [] where a runtime allows it.",
        "Float results agree with the SavedModel to float32 rounding (the runtimes fuse and "
        "order operations differently), so a near-tied argmax can differ in rare states.",
    ],
    "onnx": [
        "One file per signature: `<signature>.onnx`; call it with an "
        "`onnxruntime.InferenceSession`: `session.run(None, {input name: array})`; output "
        "names are `session.get_outputs()`.",
        "Input names are the contract's. The step signatures' state outputs are named "
        "`next_h` and `next_c` (an ONNX graph cannot have an input and an output of one "
        "name); the other outputs keep the contract's names.",
        "A signature tf2onnx cannot convert as it is (the gradient embedder's "
        "`embed_exploration`: ReluGrad and the gradient output of "
        "SparseSoftmaxCrossEntropyWithLogits have no ONNX conversion) is frozen (weights as "
        "constants) and its backward ops are written as forward ops computing the same values "
        "(ReluGrad(g, y) = g * (y > 0); the cross-entropy gradient = softmax(logits) - "
        "one_hot(label)), then converted.",
    ],
    "litert": [
        f"One file `{LITERT_FILE}` holding the five policy signatures: "
        "`interpreter = ai_edge_litert.interpreter.Interpreter(model_path=...)`, "
        "`runner = interpreter.get_signature_runner(name)`, `runner(**inputs)` returns a "
        "dict with the contract's output names.",
        "`batch_size` of the initial-state signatures is a scalar int32 as in the contract.",
        "`tf.ensure_shape` of the padded exploration episode (not a LiteRT op) is replaced by "
        "a reshape to the same static shape before converting.",
        "The graph is frozen before converting (weights as constants) and the backward ops of "
        "in-graph gradient steps (the gradient embedder's `embed_exploration`) are written as "
        "forward ops computing the same values: ReluGrad(g, y) = g * (y > 0); the "
        "cross-entropy gradient = softmax(logits) - one_hot(label).",
    ],
}


class ConversionError(ExportError):
    """A signature could not be converted to the requested format."""


def _signature_names(name: str) -> tuple[list[str], list[str]]:
    inputs, outputs = fmt.SIGNATURES[name]
    return [n for n, _, _ in inputs], [n for n, _, _ in outputs]


def _positional(fn, name: str):
    """The signature as a tf.function of positional inputs in the contract's order."""
    _, kwargs = fn.structured_input_signature
    inputs, outputs = _signature_names(name)
    specs = [kwargs[n] for n in inputs]

    def call(*args):
        result = fn(**dict(zip(inputs, args)))
        named = {}
        for key in outputs:
            out_name = ONNX_OUTPUT_PREFIX + key if key in inputs else key
            named[out_name] = tf.identity(result[key], name=out_name)
        return named
    return tf.function(call, input_signature=specs), specs


def _convert_onnx(loaded, out_dir: str) -> tuple[list[str], dict[str, str]]:
    """Writes ``<signature>.onnx`` for each policy signature that converts; returns (files,
    signature -> why it did not convert)."""
    import tf2onnx  # noqa: PLC0415 -- optional: the portable extra
    from tf2onnx import logging as onnx_logging  # noqa: PLC0415

    onnx_logging.set_level(onnx_logging.CRITICAL)  # failures are reported per signature below
    files, failed = [], {}
    for name in fmt.POLICY_SIGNATURES:
        function, specs = _positional(loaded.signatures[name], name)
        path = os.path.join(out_dir, f"{name}.onnx")
        try:
            model, _ = tf2onnx.convert.from_function(function, input_signature=specs,
                                                     opset=ONNX_OPSET)
        except Exception:  # noqa: BLE001 -- then with the gradient ops written as forward ops
            model = None
        if model is None:
            try:
                frozen, frozen_specs = _frozen_function(loaded, name, contract_names=False)
                model, _ = tf2onnx.convert.from_function(frozen, input_signature=frozen_specs,
                                                         opset=ONNX_OPSET)
            except Exception as e:  # noqa: BLE001 -- reported per signature
                model, error = None, e
        if model is None:
            ops = _unsupported_ops(function, _ONNX_UNSUPPORTED)
            failed[name] = (f"tf2onnx {tf2onnx.__version__} (opset {ONNX_OPSET}) has no conversion "
                            f"of the TensorFlow op(s) {ops}, and with them written as forward ops "
                            f"it fails with: {first_line(error)}" if ops
                            else f"tf2onnx: {first_line(error)}")
            continue
        _reshape_keeps_zeros(model)
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        files.append(os.path.basename(path))
    return files, failed


def _reshape_keeps_zeros(model) -> None:
    """Sets ``allowzero=1`` on every Reshape whose shape is computed in the graph.

    ONNX Reshape reads a 0 in the target shape as "keep this dimension" unless allowzero is
    set; TensorFlow's Reshape means a dimension of size 0. The exploration padding repeats
    the last observation T+1-T' times, 0 times for a full-horizon episode, and its Reshape to
    [N, 0, F] would become [N, 1, F] in ONNX without this. Constant shapes (tf2onnx's own,
    where 0 may mean "keep") are left alone."""
    constants = {init.name for init in model.graph.initializer}
    constants.update(out for node in model.graph.node if node.op_type == "Constant"
                     for out in node.output)
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] not in constants:
            for attribute in node.attribute:
                if attribute.name == "allowzero":
                    attribute.i = 1
                    break
            else:
                from onnx import helper  # noqa: PLC0415
                node.attribute.append(helper.make_attribute("allowzero", 1))


# Ops of the gradient steps that the converters lack (tf2onnx converts only the loss output
# of SparseSoftmaxCrossEntropyWithLogits, not its gradient output).
_ONNX_UNSUPPORTED = ("ReluGrad", "SparseSoftmaxCrossEntropyWithLogits")


def _unsupported_ops(function, candidates) -> list[str]:
    """The ops among ``candidates`` in ``function``'s graph and its called functions."""
    graph_def = function.get_concrete_function().graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for f in graph_def.library.function:
        ops.update(node.op for node in f.node_def)
    return sorted(ops.intersection(candidates))


def _without_ensure_shape(graph_def):
    """``graph_def`` with every EnsureShape node replaced by a Reshape to its static shape
    (one unknown dimension at most) or, failing that, an Identity."""
    from tensorflow.core.framework import attr_value_pb2, node_def_pb2, tensor_pb2  # noqa: PLC0415

    out = type(graph_def)()
    out.CopyFrom(graph_def)
    del out.node[:]
    for node in graph_def.node:
        if node.op != "EnsureShape":
            out.node.append(node)
            continue
        dims = [d.size for d in node.attr["shape"].shape.dim]
        replacement = node_def_pb2.NodeDef(name=node.name, device=node.device)
        replacement.input.extend(node.input)
        replacement.attr["T"].CopyFrom(node.attr["T"])
        if not node.attr["shape"].shape.unknown_rank and sum(d < 0 for d in dims) <= 1:
            const = node_def_pb2.NodeDef(name=node.name + "/static_shape", op="Const")
            tensor = tensor_pb2.TensorProto(dtype=tf.int32.as_datatype_enum)
            tensor.tensor_shape.dim.add(size=len(dims))
            tensor.int_val.extend(int(d) if d >= 0 else -1 for d in dims)
            const.attr["dtype"].CopyFrom(attr_value_pb2.AttrValue(type=tf.int32.as_datatype_enum))
            const.attr["value"].CopyFrom(attr_value_pb2.AttrValue(tensor=tensor))
            out.node.append(const)
            replacement.op = "Reshape"
            replacement.input.insert(1, const.name)
            replacement.attr["Tshape"].CopyFrom(attr_value_pb2.AttrValue(type=tf.int32.as_datatype_enum))
        else:
            replacement.op = "Identity"
        out.node.append(replacement)
    return out


def _node(name: str, op: str, inputs=(), **attrs):
    """A NodeDef; attrs are AttrValue keyword arguments (type=..., b=..., i=..., tensor=...)."""
    from tensorflow.core.framework import attr_value_pb2, node_def_pb2  # noqa: PLC0415

    node = node_def_pb2.NodeDef(name=name, op=op)
    node.input.extend(inputs)
    for key, value in attrs.items():
        node.attr[key].CopyFrom(attr_value_pb2.AttrValue(**value))
    return node


def _const(name: str, values, dtype):
    tensor = tf.make_tensor_proto(values, dtype=dtype)
    return _node(name, "Const", dtype={"type": dtype.as_datatype_enum}, value={"tensor": tensor})


def _forward_gradients(graph_def):
    """``graph_def`` with the backward ops of in-graph gradient steps, which ONNX and LiteRT
    lack, written as forward ops that compute the same values:

    * ``ReluGrad(g, y)`` -> ``g * cast(y > 0)`` (under the same name);
    * ``SparseSoftmaxCrossEntropyWithLogits(logits, labels)`` -> loss (output 0)
      ``-sum(one_hot(labels) * log_softmax(logits), -1)`` and its gradient (output 1)
      ``softmax(logits) - one_hot(labels)``, with the consumers rewired."""
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    del out.node[:]
    renamed = {}
    for node in graph_def.node:
        if node.op == "ReluGrad":
            t = {"type": node.attr["T"].type}
            dtype = tf.dtypes.as_dtype(node.attr["T"].type)
            g, y = node.input[0], node.input[1]
            out.node.extend([
                _const(f"{node.name}/fwd/zero", 0.0, dtype),
                _node(f"{node.name}/fwd/positive", "Greater", [y, f"{node.name}/fwd/zero"], T=t),
                _node(f"{node.name}/fwd/mask", "Cast", [f"{node.name}/fwd/positive"],
                      SrcT={"type": tf.bool.as_datatype_enum}, DstT=t, Truncate={"b": False}),
                _node(node.name, "Mul", [g, f"{node.name}/fwd/mask"], T=t)])
        elif node.op == "SparseSoftmaxCrossEntropyWithLogits":
            p = f"{node.name}/fwd"
            t = {"type": node.attr["T"].type}
            dtype = tf.dtypes.as_dtype(node.attr["T"].type)
            idx = {"type": tf.int32.as_datatype_enum}
            logits, labels = node.input[0], node.input[1]
            out.node.extend([
                _const(f"{p}/axis", -1, tf.int32),
                _node(f"{p}/max", "Max", [logits, f"{p}/axis"], T=t, Tidx=idx, keep_dims={"b": True}),
                _node(f"{p}/shifted", "Sub", [logits, f"{p}/max"], T=t),
                _node(f"{p}/exp", "Exp", [f"{p}/shifted"], T=t),
                _node(f"{p}/sum", "Sum", [f"{p}/exp", f"{p}/axis"], T=t, Tidx=idx, keep_dims={"b": True}),
                _node(f"{p}/log_sum", "Log", [f"{p}/sum"], T=t),
                _node(f"{p}/log_softmax", "Sub", [f"{p}/shifted", f"{p}/log_sum"], T=t),
                _node(f"{p}/softmax", "RealDiv", [f"{p}/exp", f"{p}/sum"], T=t),
                _node(f"{p}/shape", "Shape", [logits], T=t, out_type=idx),
                _const(f"{p}/begin", [1], tf.int32), _const(f"{p}/end", [2], tf.int32),
                _const(f"{p}/stride", [1], tf.int32),
                _node(f"{p}/depth", "StridedSlice", [f"{p}/shape", f"{p}/begin", f"{p}/end", f"{p}/stride"],
                      T=idx, Index=idx, begin_mask={"i": 0}, end_mask={"i": 0},
                      ellipsis_mask={"i": 0}, new_axis_mask={"i": 0}, shrink_axis_mask={"i": 1}),
                _const(f"{p}/on", 1.0, dtype), _const(f"{p}/off", 0.0, dtype),
                _node(f"{p}/one_hot", "OneHot", [labels, f"{p}/depth", f"{p}/on", f"{p}/off"],
                      T=t, TI={"type": node.attr["Tlabels"].type}, axis={"i": -1}),
                _node(f"{p}/backprop", "Sub", [f"{p}/softmax", f"{p}/one_hot"], T=t),
                _node(f"{p}/picked", "Mul", [f"{p}/one_hot", f"{p}/log_softmax"], T=t),
                _node(f"{p}/picked_sum", "Sum", [f"{p}/picked", f"{p}/axis"], T=t, Tidx=idx,
                      keep_dims={"b": False}),
                _node(f"{p}/loss", "Neg", [f"{p}/picked_sum"], T=t)])
            renamed.update({node.name: f"{p}/loss", f"{node.name}:0": f"{p}/loss",
                            f"{node.name}:1": f"{p}/backprop", f"^{node.name}": f"^{p}/loss"})
        else:
            out.node.append(node)
    if renamed:
        for node in out.node:
            for i, name in enumerate(node.input):
                if name in renamed:
                    node.input[i] = renamed[name]
    return out


def _frozen_function(loaded, name: str, contract_names: bool):
    """Signature ``name`` frozen (weights as constants, calls inlined), EnsureShape replaced
    (``_without_ensure_shape``) and gradient ops written as forward ops
    (``_forward_gradients``): a tf.function of positional inputs returning a dict with the
    contract's output names (``contract_names``) or the ONNX ones (``next_h``, ``next_c``)."""
    from tensorflow.python.framework.convert_to_constants import (  # noqa: PLC0415
        convert_variables_to_constants_v2)

    function, specs = _positional(loaded.signatures[name], name)
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    graph_def = _forward_gradients(_without_ensure_shape(frozen.graph.as_graph_def()))
    input_names = [t.name for t in frozen.inputs]
    output_names = [t.name for t in tf.nest.flatten(frozen.outputs)]
    keys = sorted(concrete.structured_outputs)  # dict keys, in the flattened outputs' order
    if contract_names:
        keys = [k[len(ONNX_OUTPUT_PREFIX):] if k.startswith(ONNX_OUTPUT_PREFIX) else k for k in keys]
    inputs, _ = _signature_names(name)
    specs = [tf.TensorSpec(s.shape, s.dtype, name=n) for s, n in zip(specs, inputs)]
    return tf.function(_importer(graph_def, input_names, output_names, keys),
                       input_signature=specs), specs


def _importer(graph_def, input_names, output_names, keys):
    """A function of the inputs that runs the frozen ``graph_def`` on them."""
    def call(*args):
        values = tf.graph_util.import_graph_def(
            graph_def, input_map=dict(zip(input_names, args)), return_elements=output_names,
            name="frozen")
        return dict(zip(keys, values))
    return call


def _frozen_module(loaded) -> tf.Module:
    """A module whose signatures are the policy's as ``_frozen_function`` writes them, with
    the contract's names, for the LiteRT converter."""
    module = tf.Module()
    signatures = {}
    for name in fmt.POLICY_SIGNATURES:
        fn, _ = _frozen_function(loaded, name, contract_names=True)
        setattr(module, name, fn)
        signatures[name] = fn.get_concrete_function()
    module.signatures_to_save = signatures
    return module


def _convert_litert(loaded, out_dir: str) -> tuple[list[str], dict[str, str]]:
    """Writes ``policy.tflite`` with the policy signatures that convert; returns (files,
    signature -> why it did not convert)."""
    module = _frozen_module(loaded)
    keys, failed = list(fmt.POLICY_SIGNATURES), {}
    with tempfile.TemporaryDirectory() as staging:
        tf.saved_model.save(module, staging, signatures=module.signatures_to_save)
        while True:
            converter = tf.lite.TFLiteConverter.from_saved_model(staging, signature_keys=keys)
            try:
                data = converter.convert()
                break
            except Exception as e:  # noqa: BLE001 -- the converter names the failing signature
                text = str(e)
                bad = re.findall(r"failed while converting: '(\w+)'", text)
                if not bad or bad[0] not in keys:
                    raise ConversionError(f"the LiteRT converter cannot convert the policy: "
                                          f"{first_line(e)}") from None
                ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
                failed[bad[0]] = (f"the LiteRT converter (TensorFlow {tf.__version__}) has no "
                                  f"builtin LiteRT op for the TensorFlow op(s) {ops}" if ops else
                                  f"the LiteRT converter: {first_line(e)}")
                keys.remove(bad[0])
    with open(os.path.join(out_dir, LITERT_FILE), "wb") as f:
        f.write(data)
    return [LITERT_FILE], failed


def _converter_version(format_name: str) -> str:
    if format_name == "onnx":
        import tf2onnx  # noqa: PLC0415
        return f"tf2onnx {tf2onnx.__version__}, TensorFlow {tf.__version__}"
    return f"TFLite converter of TensorFlow {tf.__version__}"


def portable_document(metadata: dict[str, Any], format_name: str) -> str:
    """README.md of a converted policy: what differs in ``format_name``, then the contract."""
    header = [
        f"# This policy in {'ONNX' if format_name == 'onnx' else 'LiteRT (TFLite)'}",
        "",
        f"Converted by tf_metarl from the SavedModel export; `metadata.json` is its metadata, "
        f"with `portable` describing this folder. The calling contract below (written for the "
        f"SavedModel) holds, with these differences:",
        "",
        *[f"- {line}" for line in DIFFERENCES[format_name] + DIFFERENCES["common"]],
        "",
        *_not_converted_lines(metadata),
        "---",
        "",
    ]
    return "\n".join(header) + fmt.contract_document(metadata)


def _not_converted_lines(metadata: dict[str, Any]) -> list[str]:
    failed = metadata.get("portable", {}).get("not_converted", {})
    if not failed:
        return ["All five policy signatures converted.", ""]
    lines = ["## Signatures that did NOT convert", ""]
    lines += [f"- `{name}`: {why}." for name, why in failed.items()]
    if "embed_exploration" in failed:
        lines += ["", "Without `embed_exploration` this folder cannot play a trial by itself: "
                  "compute the embedding with the SavedModel and pass it to `execute_step`."]
    return lines + [""]


def check_output_folder(out_dir: str, overwrite: bool) -> None:
    if os.path.isfile(out_dir):
        raise ExportError(f"output {out_dir!r} is a file, expected a folder")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise ExportError(f"output folder {out_dir!r} exists and is not empty (pass overwrite)")


def convert_saved_model(saved_model: str, out_dir: str, format_name: str,
                        overwrite: bool = False) -> tuple[str, dict[str, Any]]:
    """Converts the policy SavedModel at ``saved_model`` to ``format_name`` (``FORMATS``)
    in ``out_dir``; returns (out_dir, metadata written)."""
    if format_name not in FORMATS:
        raise ExportError(f"format {format_name!r} is not one of {list(FORMATS)}")
    saved_model, out_dir = os.fspath(saved_model), os.fspath(out_dir)
    check_saved_model_path(saved_model)
    metadata = read_metadata_file(saved_model)
    if metadata is None:
        raise NotAPolicyError(f"SavedModel {saved_model!r} has no assets/{fmt.METADATA_ASSET}: "
                              "not a tf_metarl policy export")
    check_output_folder(out_dir, overwrite)
    loaded = tf.saved_model.load(saved_model)
    missing = [n for n in fmt.POLICY_SIGNATURES if n not in loaded.signatures]
    if missing:
        raise NotAPolicyError(f"SavedModel {saved_model!r} lacks the signature(s) {missing}")
    staging = out_dir.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        files, failed = (_convert_onnx if format_name == "onnx" else _convert_litert)(loaded, staging)
        metadata = dict(metadata, portable={
            "format": format_name, "files": files, "converted_from": os.path.basename(os.path.abspath(saved_model)),
            "converter": _converter_version(format_name),
            "not_converted": failed,
            "onnx_opset": ONNX_OPSET if format_name == "onnx" else None,
            "differences": DIFFERENCES[format_name] + DIFFERENCES["common"]})
        with open(os.path.join(staging, fmt.METADATA_ASSET), "w") as f:
            json.dump(metadata, f, indent=2)
        with open(os.path.join(staging, fmt.CONTRACT_ASSET), "w") as f:
            f.write(portable_document(metadata, format_name))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return out_dir, metadata
