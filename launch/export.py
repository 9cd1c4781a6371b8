"""Exports a training run's explore/execute policies as one SavedModel.

Examples:
  python launch/export.py --run_dir=runs/dream_distracting_bus_map_quick_seed0
  python launch/export.py --run_dir=runs/my_run --checkpoint=runs/my_run/checkpoints/ckpt-500 \
      --output_dir=saved_models/my_run_500
  python launch/export.py --run_dir=runs/my_run --format=onnx     # SavedModel, then ONNX
  python launch/export.py --saved_model=saved_models/my_run --format=litert \
      --portable_dir=portable/my_run_litert                       # convert an existing export

The SavedModel holds the signatures explore_initial_state, explore_step,
embed_exploration, execute_initial_state, execute_step and metadata, with
assets/metadata.json and assets/README.md (the calling contract for loaders without
tf_metarl). Evaluate it with launch/evaluate.py.

--format=onnx or --format=litert also converts the SavedModel for onnxruntime or LiteRT
(pip install "tf_metarl[portable]") into --portable_dir (default: the SavedModel's folder
with _onnx or _litert appended), with metadata.json and README.md (the contract and what
differs in that format); launch/evaluate.py --runtime=onnx|litert plays it.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from tf_metarl.flag_checks import require_folder_or_new  # noqa: E402

_RUN_DIR = flags.DEFINE_string("run_dir", None, "Training run folder (holds config.json and checkpoints/).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write the SavedModel "
                                  "(default: saved_models/<run folder name>).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Checkpoint to export, e.g. "
                                  "<run_dir>/checkpoints/ckpt-500 (default: the run's latest).")
_OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing non-empty --output_dir "
                                   "or --portable_dir.")
_FORMAT = flags.DEFINE_enum("format", "savedmodel", ["savedmodel", "onnx", "litert"],
                            "savedmodel: the SavedModel only; onnx / litert: also convert it for "
                            "onnxruntime / LiteRT.")
_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "Convert this existing SavedModel export "
                                   "(with --format=onnx|litert) instead of exporting a run.")
_PORTABLE_DIR = flags.DEFINE_string("portable_dir", None, "Folder of the converted policy "
                                    "(default: the SavedModel's folder + _onnx or _litert).")
require_folder_or_new("output_dir")
require_folder_or_new("portable_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    logging.set_verbosity(logging.WARNING)
    if _SAVED_MODEL.value:
        return convert_existing()
    if not _RUN_DIR.value:
        sys.exit("error: --run_dir is required (a training run folder holding config.json and "
                 "checkpoints/), or --saved_model with --format=onnx|litert")
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.paths import check_run_dir
    try:
        check_converters()
        check_run_dir(_RUN_DIR.value, _CHECKPOINT.value)  # fails fast, before TensorFlow loads
        from tf_metarl.export.exporter import export_run
        path, metadata = export_run(_RUN_DIR.value, _OUTPUT_DIR.value, _CHECKPOINT.value,
                                    overwrite=_OVERWRITE.value)
    except ExportError as e:
        sys.exit(f"error: {e}")
    training = metadata["training"]
    last = metadata.get("last_eval_return")
    print(f"exported {metadata['algorithm']} policy for {metadata['layout']['name']} "
          f"({training.get('env_steps', '?')} env steps, {training.get('trials', '?')} trials, "
          f"checkpoint {training['checkpoint']}, last eval return "
          f"{'n/a' if last is None else f'{last:.3f}'})")
    print(f"signatures: {', '.join(metadata['signatures'])}")
    print(f"saved model: {path}")
    if _FORMAT.value != "savedmodel":
        return convert(path)
    return 0


def check_converters() -> None:
    """Fails at once (before exporting) when the converter of --format is not installed."""
    import importlib.util  # noqa: PLC0415
    needed = {"onnx": ["tf2onnx", "onnxruntime"], "litert": ["ai_edge_litert"]}.get(_FORMAT.value, [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"error: --format={_FORMAT.value} needs {missing}: pip install \"tf_metarl[portable]\"")


def convert(saved_model: str) -> int:
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.portable import convert_saved_model
    out = _PORTABLE_DIR.value or saved_model.rstrip("/") + f"_{_FORMAT.value}"
    try:
        out, metadata = convert_saved_model(saved_model, out, _FORMAT.value, overwrite=_OVERWRITE.value)
    except ExportError as e:
        sys.exit(f"error: {e}")
    portable = metadata["portable"]
    print(f"{_FORMAT.value}: {', '.join(portable['files'])} in {out}")
    for name, why in portable["not_converted"].items():
        print(f"not converted: {name}: {why}")
    print(f"{_FORMAT.value} policy: {out}")
    return 0


def convert_existing() -> int:
    if _RUN_DIR.value:
        sys.exit("error: pass either --run_dir (export a run) or --saved_model (convert an export), not both")
    if _FORMAT.value == "savedmodel":
        sys.exit("error: --saved_model converts an existing export: pass --format=onnx or --format=litert")
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.metadata import read_metadata_file
    from tf_metarl.export.paths import check_saved_model_path
    try:
        check_saved_model_path(_SAVED_MODEL.value)  # fails fast, before TensorFlow loads
        if read_metadata_file(_SAVED_MODEL.value) is None:
            sys.exit(f"error: {_SAVED_MODEL.value!r} has no assets/metadata.json: not a tf_metarl policy export")
    except ExportError as e:
        sys.exit(f"error: {e}")
    check_converters()
    return convert(_SAVED_MODEL.value)


if __name__ == "__main__":
    app.run(main)
