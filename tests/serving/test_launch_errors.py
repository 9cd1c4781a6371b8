"""launch/serve.py and evaluate.py --server refuse bad flags in one line, before Ray starts."""

import os
import pathlib
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DREAM = ROOT / "saved_models" / "dream_distracting_bus_map_seed0"


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "launch" / script), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("args, words", [
    ([], "no models to serve"),
    ([f"--saved_models=a={DREAM},a={DREAM}"], "'a' is given twice"),
])  # every bad entry: tests/serving/test_rest.py
def test_serve_refuses_bad_models(args, words):
    result = _run("serve.py", *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert words in result.stderr


def test_evaluate_needs_one_source_and_a_reachable_server():
    both = _run("evaluate.py", f"--saved_model={DREAM}", "--server=http://127.0.0.1:1")
    assert both.returncode != 0 and "exactly one of --saved_model" in both.stderr
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _run("evaluate.py", f"--server=http://127.0.0.1:{port}", "--model=dream")
    assert down.returncode != 0 and "Traceback" not in down.stderr
    assert "cannot reach the server" in down.stderr
