"""Cheap checks of user-given paths, without TensorFlow.

Launch scripts run these before importing TensorFlow, so a mistyped path fails at once
with one line; the loaders run them again, so library callers get the same errors.
"""

from __future__ import annotations

import glob
import os

from tf_metarl.export.errors import NotASavedModelError, PolicyNotFoundError, RunDirError

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def check_saved_model_path(path: str) -> None:
    """Raises unless ``path`` is a folder holding a SavedModel protobuf."""
    if not os.path.exists(path):
        raise PolicyNotFoundError(f"saved model path {path!r} does not exist")
    if not os.path.isdir(path):
        raise NotASavedModelError(f"{path!r} is a file, not a SavedModel folder")
    if not any(os.path.isfile(os.path.join(path, name)) for name in _SAVED_MODEL_FILES):
        raise NotASavedModelError(f"{path!r} is not a SavedModel folder (no saved_model.pb in it)")


def check_run_dir(run_dir: str, checkpoint: str | None = None) -> None:
    """Raises unless ``run_dir`` is a training run folder with config.json and either a
    checkpoint in checkpoints/ or the explicit ``checkpoint`` (prefix or folder)."""
    if not os.path.isdir(run_dir):
        raise RunDirError(f"run folder {run_dir!r} does not exist")
    if not os.path.isfile(os.path.join(run_dir, "config.json")):
        raise RunDirError(f"run folder {run_dir!r} has no config.json: not a training run folder")
    if checkpoint:
        if os.path.isdir(checkpoint):
            if not glob.glob(os.path.join(checkpoint, "*.index")):
                raise RunDirError(f"checkpoint folder {checkpoint!r} holds no checkpoint")
        elif not os.path.isfile(checkpoint + ".index"):
            raise RunDirError(f"checkpoint {checkpoint!r} not found (no file {checkpoint + '.index'!r}; "
                              "pass a prefix such as <run_dir>/checkpoints/ckpt-20)")
        return
    folder = os.path.join(run_dir, "checkpoints")
    if not glob.glob(os.path.join(folder, "*.index")):
        raise RunDirError(f"run folder {run_dir!r} has no checkpoints (nothing in {folder!r}); "
                          "train it first")
