"""Exports a training run's explore/execute policies as one SavedModel.

Examples:
  python launch/export.py --run_dir=runs/dream_distracting_bus_map_quick_seed0
  python launch/export.py --run_dir=runs/my_run --checkpoint=runs/my_run/checkpoints/ckpt-500 \
      --output_dir=saved_models/my_run_500

The SavedModel holds the signatures explore_initial_state, explore_step,
embed_exploration, execute_initial_state, execute_step and metadata, with
assets/metadata.json and assets/README.md (the calling contract for loaders without
tf_metarl). Evaluate it with launch/evaluate.py.
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
_OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing non-empty --output_dir.")
require_folder_or_new("output_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    logging.set_verbosity(logging.WARNING)
    if not _RUN_DIR.value:
        sys.exit("error: --run_dir is required (a training run folder holding config.json and checkpoints/)")
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.paths import check_run_dir
    try:
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
    return 0


if __name__ == "__main__":
    app.run(main)
