"""Serves exported policies over TensorFlow Serving's REST API, with Ray Serve.

Each model is a Ray Serve deployment (``--replicas`` each) that merges concurrent
requests for the same signature into one call (``--max_batch_size``,
``--batch_wait_ms``). Clients keep the recurrent state, so any replica answers any request.

Examples:
  python launch/serve.py --saved_models=dream=saved_models/dream_distracting_bus_map_seed0
  python launch/serve.py --model_dir=saved_models --port=8501 --replicas=2
  curl http://127.0.0.1:8501/v1/models/dream/metadata
  curl -d '{"signature_name": "explore_initial_state", "inputs": {"batch_size": 1}}' \
      http://127.0.0.1:8501/v1/models/dream:predict

Stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

_SAVED_MODELS = flags.DEFINE_string(
    "saved_models", None, "Models to serve, NAME=DIR[,NAME=DIR...]; DIR is an export or TF "
    "Serving's layout DIR/<version>/saved_model.pb (the newest version is served).")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "A folder of model folders, each served "
                                 "under its folder name (with --saved_models or instead).")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
_PORT = flags.DEFINE_integer("port", 8501, "HTTP port (TF Serving's REST port is 8501).",
                             lower_bound=1, upper_bound=65535)
_REPLICAS = flags.DEFINE_integer("replicas", 1, "Replicas of each model.", lower_bound=1)
_MAX_BATCH = flags.DEFINE_integer("max_batch_size", 32, "Most concurrent requests merged into "
                                  "one signature call (1: no batching).", lower_bound=1)
_BATCH_WAIT = flags.DEFINE_float("batch_wait_ms", 2.0, "Longest wait for a batch to fill, in "
                                 "milliseconds.", lower_bound=0.0, upper_bound=10000.0)
_MAX_ROWS = flags.DEFINE_integer("max_request_rows", 1024, "Most trials (rows) in one request.",
                                 lower_bound=1)
_TF_THREADS = flags.DEFINE_integer("tf_threads", 1, "TensorFlow threads per replica.", lower_bound=1)
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None, "Join this Ray cluster (e.g. 'auto' or "
                                   "'10.0.0.1:6379') instead of starting a local one.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    from tf_metarl.serving.models import ModelSpecError, model_specs
    try:
        specs = model_specs(_SAVED_MODELS.value, _MODEL_DIR.value)
    except ModelSpecError as e:
        sys.exit(f"error: {e}")
    if not _RAY_ADDRESS.value:
        # Ray's HTTP proxy would keep retrying a busy port; say so at once instead.
        import socket
        with socket.socket() as probe:
            try:
                probe.bind((_HOST.value, _PORT.value))
            except OSError as e:
                sys.exit(f"error: cannot listen on {_HOST.value}:{_PORT.value}: {e.strerror}")
    from tf_metarl.serving import server
    config = server.ServingConfig(
        replicas=_REPLICAS.value, max_batch_size=_MAX_BATCH.value,
        batch_wait_timeout_s=_BATCH_WAIT.value / 1000.0, max_request_rows=_MAX_ROWS.value,
        tf_threads=_TF_THREADS.value)
    stop = threading.Event()
    try:
        server.start(specs, config, _HOST.value, _PORT.value, _RAY_ADDRESS.value)
        # After Ray's start-up, which installs handlers of its own.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        url = f"http://{_HOST.value}:{_PORT.value}"
        for s in specs:
            print(f"serving {s.name!r} (version {s.version}, {s.path}) at {url}/v1/models/{s.name}")
        print(f"health check: {url}{server.HEALTH_PATH}\nready at {url}  (Ctrl-C or SIGTERM stops)",
              flush=True)
        stop.wait()
    finally:
        print("stopping", flush=True)
        server.stop(joined_cluster=bool(_RAY_ADDRESS.value))
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    app.run(main)
