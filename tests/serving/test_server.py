"""launch/serve.py end to end: one server for the module, on a free port.

The server serves the shipped DREAM policy from TF Serving's version layout (versions 1
and 3, the newest served), with at most 64 rows per request. Checked through HTTP:
status, metadata, predictions equal to the local SavedModel's (also under concurrency,
when requests are merged into one call), every bad request answered with a 4xx between
good ones that keep succeeding, launch/evaluate.py --server giving the local returns,
and a clean stop on SIGTERM that leaves no process behind.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("ray.serve")

ROOT = pathlib.Path(__file__).resolve().parents[2]
DREAM = ROOT / "saved_models" / "dream_distracting_bus_map_seed0"
GRADIENT = ROOT / "saved_models" / "gradient_embedder_distracting_bus_map_seed2"
MAX_ROWS = 64
START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "dream"
    base.mkdir()
    os.symlink(GRADIENT, base / "1")
    os.symlink(DREAM, base / "3")
    port = _free_port()
    log = tmp_path_factory.mktemp("log") / "serve.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "launch" / "serve.py"), f"--saved_models=dream={base}",
             f"--port={port}", f"--max_request_rows={MAX_ROWS}", "--max_batch_size=16",
             "--batch_wait_ms=20"], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_TIMEOUT_S
    while "ready at" not in log.read_text():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"launch/serve.py did not start:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    info = {"url": url, "proc": proc, "log": log, "children": _descendants(proc.pid)}
    yield info
    if proc.poll() is None:  # test_sigterm_stops_cleanly did not run
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def local():
    from tf_metarl.export.policy import load_policy
    return load_policy(str(DREAM))


def _predict(url, signature, inputs, model="dream", key="inputs"):
    return requests.post(f"{url}/v1/models/{model}:predict",
                         json={"signature_name": signature, key: inputs}, timeout=60)


def _step_request(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    obs = np.stack([rng.integers(0, b, n) for b in (9, 9, 2, 25)], axis=1)
    return {"observation": obs.tolist(), "prev_action": rng.integers(0, 8, n).tolist(),
            "h": rng.normal(size=(n, 64)).astype(np.float32).tolist(),
            "c": rng.normal(size=(n, 64)).astype(np.float32).tolist()}


def _local_step(local, inputs):
    action, q, state = local.explore_step(
        np.asarray(inputs["observation"]), np.asarray(inputs["prev_action"]),
        {"h": np.asarray(inputs["h"], np.float32), "c": np.asarray(inputs["c"], np.float32)})
    return action, q, state["h"]


def test_health_status_and_metadata(server):
    url = server["url"]
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok", "models": {"dream": 3}}
    status = requests.get(f"{url}/v1/models/dream", timeout=30).json()
    assert status["model_version_status"][0]["version"] == "3"
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    meta = requests.get(f"{url}/v1/models/dream/versions/3/metadata", timeout=30).json()
    assert meta["model_spec"]["version"] == "3"
    assert meta["policy_metadata"] == json.loads((DREAM / "assets" / "metadata.json").read_text())
    step = meta["metadata"]["signature_def"]["signature_def"]["explore_step"]
    assert sorted(step["inputs"]) == ["c", "h", "observation", "prev_action"]
    # The metadata signature answers through :predict too, with the file's text.
    out = _predict(url, "metadata", {}).json()["outputs"]
    assert json.loads(out) == meta["policy_metadata"]


def test_predictions_equal_the_local_savedmodel(server, local):
    url = server["url"]
    inputs = _step_request(5, seed=1)
    out = _predict(url, "explore_step", inputs).json()["outputs"]
    action, q, h = _local_step(local, inputs)
    np.testing.assert_array_equal(out["action"], action)
    np.testing.assert_allclose(out["q_values"], q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["h"], h, rtol=1e-5, atol=1e-6)
    # Row format: one object per trial, the same numbers.
    rows = [{k: v[i] for k, v in inputs.items()} for i in range(5)]
    preds = _predict(url, "explore_step", rows, key="instances").json()["predictions"]
    assert [p["action"] for p in preds] == action.tolist()
    init = _predict(url, "execute_initial_state", {"batch_size": 2}).json()["outputs"]
    assert np.asarray(init["h"]).shape == (2, 64)


def test_concurrent_requests_get_their_own_rows(server, local):
    """Requests sent together are merged into one call and split back correctly."""
    url = server["url"]
    requests_ = [_step_request(1 + i % 3, seed=100 + i) for i in range(24)]
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda r: _predict(url, "explore_step", r), requests_))
    for inputs, answer in zip(requests_, answers):
        assert answer.status_code == 200, answer.text
        out = answer.json()["outputs"]
        action, q, _ = _local_step(local, inputs)
        np.testing.assert_array_equal(out["action"], action)
        np.testing.assert_allclose(out["q_values"], q, rtol=1e-5, atol=1e-5)


def _bad_requests(url):
    """(description, request thunk, status, words in the error)."""
    good = _step_request(2, seed=7)
    post = lambda body, model="dream", path=":predict": requests.post(  # noqa: E731
        f"{url}/v1/models/{model}{path}", data=body, timeout=60)

    def step(**change):
        return _predict(url, "explore_step", {**good, **change})

    nan_h = np.zeros((2, 64))
    nan_h[1, 3] = np.nan
    big_h = np.zeros((2, 64))
    big_h[0, 1] = 1e39  # finite in JSON, infinite as float32
    return [
        ("malformed JSON", lambda: post(b'{"inputs": '), 400, "malformed JSON"),
        ("unknown model", lambda: _predict(url, "explore_step", good, model="nope"), 404, "'nope'"),
        ("unknown version", lambda: post(json.dumps({"signature_name": "explore_step", "inputs": good}),
                                         path="/versions/2:predict"), 404, "no version 2"),
        ("unknown signature", lambda: _predict(url, "explore", good), 400, "'explore' not found"),
        ("missing input", lambda: _predict(url, "explore_step", {k: v for k, v in good.items() if k != "h"}),
         400, "missing ['h']"),
        ("extra input", lambda: step(goal=[[0, 0], [0, 0]]), 400, "unexpected ['goal']"),
        ("wrong dtype", lambda: step(prev_action=[1.5, 2]), 400, "integers"),
        ("wrong shape", lambda: step(h=np.zeros((2, 3)).tolist()), 400, "shape [2, 3]"),
        ("over the row limit", lambda: _predict(url, "explore_step", _step_request(MAX_ROWS + 1, 3)),
         400, f"limit of {MAX_ROWS}"),
        ("observation out of bounds", lambda: step(observation=[[0, 0, 0, 25], [0, 0, 0, 0]]),
         400, "'map_info' 25"),
        ("action out of range", lambda: _predict(url, "embed_exploration", {
            "observations": [[[0, 0, 0, 0]] * 2], "actions": [[7]], "length": [1]}), 400, "action 7"),
        ("goal out of bounds", lambda: _predict(url, "execute_step", {
            "observation": [[0, 0, 0, 0]], "goal": [[0, -1]], "embedding": [[0.0] * 64],
            "h": [[0.0] * 64], "c": [[0.0] * 64]}), 400, "goal y -1"),
        ("state overflowing float32", lambda: step(h=big_h.tolist()), 400, "inf"),
        ("NaN literal in JSON", lambda: post(json.dumps({"signature_name": "explore_step",
                                                         "inputs": {**good, "c": nan_h.tolist()}})),
         400, "nan"),
        ("wrong method", lambda: requests.get(f"{url}/v1/models/dream:predict", timeout=30), 405, "POST"),
    ]


def test_bad_requests_get_4xx_and_good_ones_keep_working(server, local):
    url = server["url"]
    good = _step_request(3, seed=11)
    expected_action, expected_q, _ = _local_step(local, good)

    def check_good():
        answer = _predict(url, "explore_step", good)
        assert answer.status_code == 200, answer.text
        out = answer.json()["outputs"]
        np.testing.assert_array_equal(out["action"], expected_action)
        np.testing.assert_allclose(out["q_values"], expected_q, rtol=1e-5, atol=1e-6)

    check_good()
    for description, send, status, words in _bad_requests(url):
        answer = send()
        assert answer.status_code == status, (description, answer.status_code, answer.text)
        assert words in answer.json()["error"], (description, answer.text)
        check_good()


def test_evaluate_through_the_server_gives_the_local_returns(server, local, tmp_path):
    from tf_metarl.export import evaluation
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, str(ROOT / "launch" / "evaluate.py"), f"--server={server['url']}",
         "--model=dream", "--num_trials=12", "--seed=5", f"--output={tmp_path}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = json.loads((tmp_path / "evaluation.json").read_text())
    _, report = evaluation.evaluate(local, [local.training_layout()], "test", 12, 5)
    assert served["layouts"][0]["trials_detail"] == report["layouts"][0]["trials_detail"]
    assert served["overall"]["mean_return"] == pytest.approx(report["overall"]["mean_return"])
    assert served["saved_model"] == f"{server['url']}/v1/models/dream"


def test_client_plays_the_same_trials(server, local):
    from tf_metarl.export.evaluation import play_trials
    from tf_metarl.serving import PolicyClient, ServingError
    client = PolicyClient(server["url"], "dream")
    layout = client.training_layout()
    problems, goals = np.array([1, 2, 3, 5]), np.array([0, 1, 2, 0])
    served, ref = client.play_trials(layout, problems, goals), play_trials(local, layout, problems, goals)
    np.testing.assert_array_equal(served.returns, ref.returns)
    np.testing.assert_array_equal(served.explore_cells, ref.explore_cells)
    with pytest.raises(ServingError, match="HTTP 404"):
        PolicyClient(server["url"], "dream", version=2)


def test_sigterm_stops_cleanly(server):
    proc = server["proc"]
    children = server["children"] | _descendants(proc.pid)
    assert children, "the server started no Ray processes?"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0, server["log"].read_text()[-2000:]
    assert "stopped" in server["log"].read_text()
    deadline = time.time() + 30
    while any(_alive(p) for p in children) and time.time() < deadline:
        time.sleep(1)
    assert not [p for p in children if _alive(p)], "Ray processes left behind"
