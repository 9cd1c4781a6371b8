"""Policies converted to ONNX and LiteRT (launch/export.py --format=onnx|litert) act like the
SavedModel: same q-values and actions on recorded inputs, same trials and returns, played by
launch/evaluate.py --runtime=onnx|litert without importing TensorFlow."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from export_helpers import EVALUATE, EXPORT, REPO, SIGNATURES, Job, last_line, run_command

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")

RUNTIMES = ("onnx", "litert")
NUM_TRIALS = 16
SHIPPED = sorted(p.parent for p in (REPO / "saved_models").glob("*/saved_model.pb"))

# Runs launch/evaluate.py as __main__, then says whether TensorFlow was imported.
RUN_AND_CHECK_TENSORFLOW = r"""
import runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    code = e.code
print("TENSORFLOW_IMPORTED", any(m.split(".")[0] == "tensorflow" for m in sys.modules))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def converted(saved_model, tmp_path_factory):
    """The tiny DREAM export converted by launch/export.py --saved_model --format=...
    (both conversions run at once); runtime -> folder."""
    root = tmp_path_factory.mktemp("portable")
    jobs = {rt: Job([sys.executable, EXPORT, f"--saved_model={saved_model}", f"--format={rt}",
                     f"--portable_dir={root / rt}"], root, f"convert_{rt}") for rt in RUNTIMES}
    out = {}
    for rt, job in jobs.items():
        result = job.result()
        assert result.returncode == 0, result.stderr[-3000:]
        assert last_line(result.stdout) == f"{rt} policy: {root / rt}"
        out[rt] = root / rt
    return out


@pytest.fixture(scope="module")
def runtime_policies(converted):
    from tf_metarl.export.runtime_policy import load_runtime_policy
    return {rt: load_runtime_policy(str(path), rt) for rt, path in converted.items()}


def test_conversion_writes_every_signature_with_the_contract(converted, saved_model):
    from tf_metarl.export.format import contract_document

    saved_meta = json.loads((saved_model / "assets" / "metadata.json").read_text())
    expected_files = {"onnx": [f"{name}.onnx" for name in SIGNATURES], "litert": ["policy.tflite"]}
    for rt, folder in converted.items():
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["portable"]["format"] == rt
        assert meta["portable"]["not_converted"] == {}
        assert meta["portable"]["files"] == expected_files[rt]
        assert all((folder / f).stat().st_size > 0 for f in expected_files[rt])
        assert {k: v for k, v in meta.items() if k != "portable"} == saved_meta
        readme = (folder / "README.md").read_text()
        assert "All five policy signatures converted." in readme
        assert all(line in readme for line in meta["portable"]["differences"])
        assert readme.endswith(contract_document(saved_meta))
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(converted["litert"] / "policy.tflite"))
    assert sorted(interpreter.get_signature_list()) == sorted(SIGNATURES)


def test_runtimes_match_the_saved_model_on_recorded_inputs(runtime_policies, policy, recorded):
    """Every exploration and execution step of the recorded trials, fed to the SavedModel
    and to each runtime with the same recurrent state: same actions, q-values to float
    rounding; the same embedding of the recorded exploration."""
    recorder, batch = recorded
    e = recorder.embedding
    z = policy.embed_exploration(e["x_obs"], e["x_actions"], e["x_length"])
    for rt, portable in runtime_policies.items():
        z_rt = portable.embed_exploration(e["x_obs"], e["x_actions"], e["x_length"])
        np.testing.assert_allclose(z_rt, z, atol=1e-4, err_msg=rt)
        n = len(batch.goal)
        for phase, steps in (("explore", recorder.explore), ("execute", recorder.execute)):
            state_tf = getattr(policy, f"{phase}_initial_state")(n)
            state_rt = getattr(portable, f"{phase}_initial_state")(n)
            np.testing.assert_array_equal(state_rt["h"], np.asarray(state_tf["h"]))
            for t, step in enumerate(steps):
                if phase == "explore":
                    a_tf, q_tf, state_tf = policy.explore_step(step["obs"], step["prev_action"], state_tf)
                    a_rt, q_rt, state_rt = portable.explore_step(step["obs"], step["prev_action"], state_rt)
                else:
                    goal = batch.goal.astype(np.int32)
                    a_tf, q_tf, state_tf = policy.execute_step(step["obs"], goal, z, state_tf)
                    a_rt, q_rt, state_rt = portable.execute_step(step["obs"], goal, z, state_rt)
                where = f"{rt} {phase} step {t}"
                np.testing.assert_allclose(q_rt, q_tf, atol=1e-4, err_msg=where)
                np.testing.assert_array_equal(a_rt, a_tf, err_msg=where)
                np.testing.assert_allclose(state_rt["c"], np.asarray(state_tf["c"]), atol=1e-4, err_msg=where)


def test_runtime_policy_checks_the_length_rule(runtime_policies):
    p = runtime_policies["onnx"]
    obs = np.zeros((1, 3, len(p.metadata["observation_fields"])), np.int32)
    with pytest.raises(ValueError, match="length exceeds"):
        p.embed_exploration(obs, np.zeros((1, 2), np.int32), np.array([3]))
    with pytest.raises(ValueError, match="one action fewer"):
        p.embed_exploration(obs, np.zeros((1, 3), np.int32), np.array([1]))


def test_evaluate_with_a_runtime_plays_the_saved_models_trials_without_tensorflow(
        converted, policy, tmp_path):
    """launch/evaluate.py --runtime=onnx|litert: TensorFlow never imported; per trial the
    same returns and episode lengths as the SavedModel on the same seeded trials."""
    from tf_metarl.export import evaluation

    jobs = {rt: Job([sys.executable, "-c", RUN_AND_CHECK_TENSORFLOW, EVALUATE, f"--runtime={rt}",
                     f"--saved_model={folder}", f"--num_trials={NUM_TRIALS}", "--seed=5",
                     f"--output={tmp_path / rt}"], tmp_path, f"evaluate_{rt}")
            for rt, folder in converted.items()}
    _, expected = evaluation.evaluate(policy, evaluation.resolve_layouts(policy), "test", NUM_TRIALS, 5)
    expected_trials = expected["layouts"][0]["trials_detail"]
    for rt, job in jobs.items():
        result = job.result()
        assert result.returncode == 0, result.stderr[-3000:]
        assert "TENSORFLOW_IMPORTED False" in result.stdout, result.stdout
        report = json.loads((tmp_path / rt / "evaluation.json").read_text())
        assert report["layouts"][0]["trials_detail"] == expected_trials, rt


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_policies_play_their_recorded_trials_in_each_runtime(path, runtime):
    """The converted folders shipped beside each SavedModel replay the SavedModel's recorded
    evaluation trial by trial (the gradient embedder's embed_exploration, gradient steps
    included, as well)."""
    from tf_metarl.export import evaluation
    from tf_metarl.export.runtime_policy import load_runtime_policy

    folder = path.parent / f"{path.name}_{runtime}"
    portable = load_runtime_policy(str(folder), runtime)
    recorded = json.loads((path / "evaluation" / "evaluation.json").read_text())
    assert portable.not_converted == {}
    _, report = evaluation.evaluate(portable, evaluation.resolve_layouts(portable),
                                    recorded["split"], recorded["num_trials"], recorded["seed"])
    got = report["layouts"][0]["trials_detail"]
    want = recorded["layouts"][0]["trials_detail"]
    # Recorded with TensorFlow, possibly on another CPU: a near-tied argmax may flip one
    # trial (as test_shipped_policies allows); on the machine they were converted on, all
    # trials were identical.
    differing = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert len(got) == len(want) and len(differing) <= 1, differing
    assert report["overall"]["mean_return"] == pytest.approx(recorded["overall"]["mean_return"], abs=0.02)


def test_bad_paths_and_formats_fail_with_one_line(tmp_path, saved_model):
    from tf_metarl.export.errors import ExportError, NotAPolicyError, PolicyNotFoundError
    from tf_metarl.export.portable import convert_saved_model
    from tf_metarl.export.runtime_policy import load_runtime_policy

    with pytest.raises(PolicyNotFoundError, match="does not exist"):
        load_runtime_policy(str(tmp_path / "missing"), "onnx")
    with pytest.raises(NotAPolicyError, match="not a converted policy folder"):
        load_runtime_policy(str(saved_model), "litert")
    with pytest.raises(ValueError, match="runtime 'tflite' is not one of"):
        load_runtime_policy(str(saved_model), "tflite")
    with pytest.raises(ExportError, match="format 'tflite' is not one of"):
        convert_saved_model(str(saved_model), str(tmp_path / "out"), "tflite")

    result = run_command([sys.executable, EXPORT, f"--saved_model={tmp_path / 'missing'}",
                          "--format=onnx"], timeout=60)
    assert result.returncode != 0
    assert last_line(result.stderr) == f"error: saved model path {str(tmp_path / 'missing')!r} does not exist"
    result = run_command([sys.executable, EXPORT, f"--saved_model={saved_model}"], timeout=60)
    assert last_line(result.stderr) == ("error: --saved_model converts an existing export: pass "
                                        "--format=onnx or --format=litert")
    result = run_command([sys.executable, EVALUATE, "--runtime=litert", f"--saved_model={saved_model}"],
                         timeout=60)
    assert result.returncode != 0
    assert last_line(result.stderr).startswith(f"error: {str(saved_model)!r} is a SavedModel and ")


def test_gradient_ops_are_rewritten_as_forward_ops_of_the_same_values():
    """ReluGrad and both outputs of SparseSoftmaxCrossEntropyWithLogits, hand-computed:
    logits [0, ln 3] -> softmax [1/4, 3/4]; label 0: loss ln 4, gradient [-3/4, 3/4]."""
    import tensorflow as tf
    from tensorflow.python.ops import gen_nn_ops

    from tf_metarl.export.portable import _forward_gradients

    graph = tf.Graph()
    with graph.as_default():
        logits = tf.constant([[0.0, np.log(3.0)], [2.0, 2.0]], tf.float32)
        loss, backprop = gen_nn_ops.sparse_softmax_cross_entropy_with_logits(logits, tf.constant([0, 1]))
        tf.identity(loss, name="loss")
        tf.identity(backprop * 2.0, name="backprop")
        tf.identity(gen_nn_ops.relu_grad(tf.constant([1.0, 2.0, 3.0]), tf.constant([-1.0, 0.0, 5.0])),
                    name="relu_grad")
    rewritten = _forward_gradients(graph.as_graph_def())
    assert not {n.op for n in rewritten.node} & {"ReluGrad", "SparseSoftmaxCrossEntropyWithLogits"}
    check = tf.Graph()
    with check.as_default():
        tf.graph_util.import_graph_def(rewritten, name="")
        with tf.compat.v1.Session(graph=check) as session:
            loss, backprop, relu_grad = session.run(["loss:0", "backprop:0", "relu_grad:0"])
    np.testing.assert_allclose(loss, [np.log(4.0), np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(backprop, 2.0 * np.array([[-0.75, 0.75], [0.5, -0.5]]), atol=1e-6)
    np.testing.assert_array_equal(relu_grad, [0.0, 0.0, 3.0])


def test_a_signature_that_did_not_convert_fails_by_name(converted, tmp_path):
    import shutil

    from tf_metarl.export.errors import NotAPolicyError
    from tf_metarl.export.portable import portable_document
    from tf_metarl.export.runtime_policy import load_runtime_policy

    folder = tmp_path / "onnx"
    shutil.copytree(converted["onnx"], folder)
    (folder / "embed_exploration.onnx").unlink()
    meta = json.loads((folder / "metadata.json").read_text())
    meta["portable"]["not_converted"] = {"embed_exploration": "no op for X"}
    (folder / "metadata.json").write_text(json.dumps(meta))
    portable = load_runtime_policy(str(folder), "onnx")
    state = portable.explore_initial_state(2)  # the others still run
    assert state["h"].shape == (2, meta["state_sizes"]["explore"])
    with pytest.raises(NotAPolicyError, match=r"has no 'embed_exploration': it did not convert \(no op for X\)"):
        portable.embed_exploration(np.zeros((1, 1, 4), np.int32), np.zeros((1, 0), np.int32),
                                   np.zeros(1, np.int32))
    assert "- `embed_exploration`: no op for X." in portable_document(meta, "onnx")
    meta["portable"]["not_converted"] = {}
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(NotAPolicyError, match="lacks embed_exploration.onnx"):
        load_runtime_policy(str(folder), "onnx")
