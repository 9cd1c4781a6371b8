"""Evaluates an exported policy SavedModel on bus-map layouts, greedy, batched.

Loads the policy with tf.saved_model.load only: the agents, networks and training code
are not imported. Reports per layout and pooled: mean execution return with a 95%
confidence interval, success rate, mean exploration length, the fraction of the
oracle's optimum on the same trials, and the informed return: the best execution return
knowing only what each exploration episode revealed (the map read, the buses ridden), with
explore gap = optimal - informed (the explorer's shortfall) and execute gap = informed -
return (the executor's). evaluation.json's per-trial records carry informed_return too.

Examples:
  python launch/evaluate.py --saved_model=saved_models/my_run
  python launch/evaluate.py --saved_model=saved_models/my_run --layouts=new_layouts.json \
      --num_trials=500 --output=results/my_run --gif=results/my_run/trials.gif
  python launch/evaluate.py --server=http://127.0.0.1:8501 --model=dream   # launch/serve.py's
  python launch/evaluate.py --runtime=onnx --saved_model=saved_models/my_run_onnx

--runtime=onnx|litert plays a policy converted by launch/export.py --format=onnx|litert
with onnxruntime or LiteRT alone: TensorFlow is not imported. --saved_model is then the
converted folder (or the SavedModel, whose <folder>_onnx / <folder>_litert is used).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from tf_metarl.flag_checks import require_folder_or_new, require_new_file  # noqa: E402

_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "Exported policy (a SavedModel folder; with "
                                   "--runtime=onnx|litert the converted folder).")
_RUNTIME = flags.DEFINE_enum("runtime", "tensorflow", ["tensorflow", "onnx", "litert"],
                             "What runs the policy: TensorFlow (SavedModel), onnxruntime or LiteRT "
                             "(a folder written by launch/export.py --format=onnx|litert).")
_SERVER = flags.DEFINE_string("server", None, "Evaluate the policy served at this URL (launch/"
                              "serve.py, TF Serving's REST API) instead of --saved_model.")
_MODEL = flags.DEFINE_string("model", None, "With --server: the served model's name.")
_VERSION = flags.DEFINE_integer("model_version", None, "With --server: the model version "
                                "(default: the served one).", lower_bound=0)
_ENV_PRESET = flags.DEFINE_string("env_preset", None, "Bus-map preset to evaluate on (default: "
                                  "the layout the policy was trained on, from its metadata).")
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "test", "all"], "Problems to draw trials from.")
_LAYOUTS = flags.DEFINE_string("layouts", None, "JSON file of one or more layouts (new bus-map "
                               "configurations); replaces --env_preset.")
_NUM_TRIALS = flags.DEFINE_integer("num_trials", 200, "Trials per layout.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the trials (problems and goals).", lower_bound=0)
_OUTPUT = flags.DEFINE_string("output", None, "Folder for evaluation.json and evaluation.csv "
                              "(default: print only).")
_GIF = flags.DEFINE_string("gif", None, "Optional GIF of the first trials of the first layout.")
_GIF_TRIALS = flags.DEFINE_integer("gif_trials", 3, "Trials animated in --gif.", lower_bound=1)
require_folder_or_new("output")
require_new_file("gif", ".gif")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    logging.set_verbosity(logging.WARNING)
    if bool(_SAVED_MODEL.value) == bool(_SERVER.value):
        sys.exit("error: give exactly one of --saved_model (a folder written by launch/export.py) "
                 "and --server (with --model)")
    if _SERVER.value:
        if _RUNTIME.value != "tensorflow":
            sys.exit(f"error: --runtime={_RUNTIME.value} plays a converted policy file; with "
                     "--server the server runs the policy (leave --runtime out)")
        return _evaluate_served()
    from tf_metarl.envs.layout import LayoutError
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.metadata import read_metadata_file, select_layouts
    from tf_metarl.export.paths import check_saved_model_path
    try:
        if _RUNTIME.value == "tensorflow":
            # Checks that need no TensorFlow first, so these mistakes fail at once.
            check_saved_model_path(_SAVED_MODEL.value)
            metadata = read_metadata_file(_SAVED_MODEL.value)
            if metadata is not None:
                select_layouts(metadata, _ENV_PRESET.value, _LAYOUTS.value, f"policy {_SAVED_MODEL.value!r}")
            from tf_metarl.export.policy import load_policy
            policy = load_policy(_SAVED_MODEL.value)
        else:
            policy = load_converted(_SAVED_MODEL.value, _RUNTIME.value)
        from tf_metarl.export import evaluation
        layouts = evaluation.resolve_layouts(policy, _ENV_PRESET.value, _LAYOUTS.value)
        results, report = evaluation.evaluate(policy, layouts, _SPLIT.value, _NUM_TRIALS.value,
                                              _SEED.value)
    except (ExportError, LayoutError) as e:
        sys.exit(f"error: {e}")
    _print_report(policy, report, results)
    return 0


def _evaluate_served():
    """--server: the same trials through the REST API (PolicyClient)."""
    if not _MODEL.value:
        sys.exit("error: --server needs --model, the served model's name")
    from tf_metarl.envs.layout import LayoutError
    from tf_metarl.export import evaluation
    from tf_metarl.export.errors import ExportError
    from tf_metarl.export.metadata import select_layouts
    from tf_metarl.serving.client import PolicyClient, ServingError
    import requests
    try:
        policy = PolicyClient(_SERVER.value, _MODEL.value, _VERSION.value)
        layouts = select_layouts(policy.metadata, _ENV_PRESET.value, _LAYOUTS.value,
                                 f"policy {policy.path!r}")
        results, report = evaluation.evaluate(policy, layouts, _SPLIT.value, _NUM_TRIALS.value,
                                              _SEED.value)
    except (ExportError, LayoutError, ServingError) as e:
        sys.exit(f"error: {e}")
    except requests.RequestException as e:
        sys.exit(f"error: cannot reach the server {_SERVER.value!r}: {type(e).__name__}")
    _print_report(policy, report, results)
    return 0


def _print_report(policy, report, results) -> None:
    from tf_metarl.export import evaluation
    m = policy.metadata
    steps = m.get("training_env_steps")
    runner = "served" if _SERVER.value else _RUNTIME.value
    print(f"{m['algorithm']} policy ({runner}: {policy.path}) trained on {m['layout']['name']} "
          f"({'?' if steps is None else steps} env steps); split {_SPLIT.value}, "
          f"{_NUM_TRIALS.value} greedy trials per layout, seed {_SEED.value}\n")
    print(evaluation.format_table(report))
    if _OUTPUT.value:
        json_path, csv_path = evaluation.write_report(report, _OUTPUT.value)
        print(f"\nwrote {json_path} and {csv_path}")
    if _GIF.value:
        frames = evaluation.write_gif(results[0], _GIF.value, _GIF_TRIALS.value)
        print(f"wrote {_GIF.value} ({frames} frames)")
    print("\ntrain a policy of your own: python launch/train.py --config_preset=quick "
          "--env_preset=small_map   (then launch/export.py; --help on each lists every flag)")


def load_converted(path: str, runtime: str):
    """The policy converted to ``runtime`` at ``path``, or beside the SavedModel ``path``."""
    import importlib.util

    from tf_metarl.export.runtime_policy import load_runtime_policy
    module = {"onnx": "onnxruntime", "litert": "ai_edge_litert"}[runtime]
    if importlib.util.find_spec(module) is None:
        sys.exit(f"error: --runtime={runtime} needs {module}: pip install \"tf_metarl[portable]\"")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        converted = path.rstrip("/") + f"_{runtime}"
        if not os.path.isdir(converted):
            sys.exit(f"error: {path!r} is a SavedModel and {converted!r} does not exist: convert "
                     f"it with launch/export.py --saved_model={path} --format={runtime}")
        path = converted
    return load_runtime_policy(path, runtime)


if __name__ == "__main__":
    app.run(main)
