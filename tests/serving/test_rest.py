"""The REST rules without Ray or TensorFlow: paths, bodies, checks, responses, batching."""

import json
import os
import pathlib

import numpy as np
import pytest

from tf_metarl.serving import rest
from tf_metarl.serving.models import ModelSpecError, model_specs, resolve_version

ROOT = pathlib.Path(__file__).resolve().parents[2]
DREAM = ROOT / "saved_models" / "dream_distracting_bus_map_seed0"


@pytest.fixture(scope="module")
def metadata():
    return json.loads((DREAM / "assets" / "metadata.json").read_text())


@pytest.fixture(scope="module")
def signatures(metadata):
    return rest.contract_signatures(metadata)


def _check(signatures, metadata, signature, inputs, row=False, limit=8):
    request = rest.PredictRequest(signature, inputs, row)
    return rest.check_inputs(request, signatures, metadata, limit)


def _step_inputs(n=2):
    # bounds [9, 9, 2, 25]; 7 actions, no_action 7; state size 64
    return {"observation": [[0, 0, 0, 0], [8, 8, 1, 24]][:n] * (n // 2 or 1),
            "prev_action": [7, 6][:n] * (n // 2 or 1),
            "h": np.zeros((max(n, 1), 64)).tolist(), "c": np.zeros((max(n, 1), 64)).tolist()}


# ---- paths -----------------------------------------------------------------------------------------
def test_routes_follow_tf_serving_paths():
    assert rest.parse_route("GET", "/v1/models/dream") == rest.Route("dream", None, "status")
    assert rest.parse_route("GET", "/v1/models/dream/versions/3/metadata") == rest.Route("dream", 3, "metadata")
    assert rest.parse_route("POST", "/v1/models/dream:predict") == rest.Route("dream", None, "predict")
    assert rest.parse_route("POST", "/v1/models/d/versions/12:predict") == rest.Route("d", 12, "predict")


@pytest.mark.parametrize("method, path, status, words", [
    ("GET", "/v2/models/dream", 404, "unknown path"),
    ("GET", "/v1/models/dream:predict", 405, "takes POST"),
    ("POST", "/v1/models/dream/metadata", 405, "takes GET"),
    ("POST", "/v1/models/dream:classify", 400, "'classify'"),
    ("GET", "/v1/models/dream/versions/x1", 400, "'x1'"),
])
def test_bad_routes_name_the_problem(method, path, status, words):
    with pytest.raises(rest.RestError, match=words) as e:
        rest.parse_route(method, path)
    assert e.value.status == status


# ---- bodies ----------------------------------------------------------------------------------------
def test_columnar_and_row_bodies_parse_to_the_same_columns():
    col = rest.parse_predict_body(b'{"signature_name": "s", "inputs": {"a": [1, 2], "b": [[3], [4]]}}')
    row = rest.parse_predict_body('{"signature_name": "s", "instances": [{"a": 1, "b": [3]}, {"a": 2, "b": [4]}]}')
    assert (col.row_format, row.row_format) == (False, True)
    assert col.inputs == row.inputs == {"a": [1, 2], "b": [[3], [4]]}
    assert rest.parse_predict_body(b'{"inputs": {}}').signature_name == rest.DEFAULT_SIGNATURE


@pytest.mark.parametrize("body, words", [
    (b'{"inputs": {', "malformed JSON"),
    (b'[1, 2]', "JSON object"),
    (b'{"signature_name": "s"}', "exactly one of"),
    (b'{"inputs": {}, "instances": [{}]}', "exactly one of"),
    (b'{"inputs": [1]}', "object of named inputs"),
    (b'{"instances": []}', "non-empty list"),
    (b'{"instances": [{"a": 1}, {"b": 2}]}', "same inputs"),
    (b'{"signature_name": 3, "inputs": {}}', "must be a string"),
    (b'{"inputs": {}, "extra": 1}', "unknown request key"),
])
def test_malformed_bodies_are_400(body, words):
    with pytest.raises(rest.RestError, match=words) as e:
        rest.parse_predict_body(body)
    assert e.value.status == 400


# ---- checks against the signatures and the metadata ------------------------------------------------
def test_good_inputs_come_back_as_typed_arrays(signatures, metadata):
    arrays = _check(signatures, metadata, "explore_step", _step_inputs())
    assert arrays["observation"].dtype == np.int32 and arrays["observation"].shape == (2, 4)
    assert arrays["h"].dtype == np.float32 and arrays["h"].shape == (2, 64)
    # JSON 3.0 is an integer for an int32 input, as TF Serving reads it.
    arrays = _check(signatures, metadata, "explore_initial_state", {"batch_size": 3.0})
    assert arrays["batch_size"].dtype == np.int32 and int(arrays["batch_size"]) == 3
    emb = _check(signatures, metadata, "embed_exploration",
                 {"observations": [[[0, 0, 0, 0]] * 3], "actions": [[1, 4]], "length": [2]})
    assert emb["observations"].shape == (1, 3, 4)
    assert _check(signatures, metadata, "metadata", {}) == {}
    # New exports' metadata signature takes an ignored input, as TF Serving needs.
    new = rest.contract_signatures({**metadata, "metadata_takes_input": True})
    assert _check(new, metadata, "metadata", {"unused": 0}) == {"unused": np.int32(0)}
    assert _check(new, metadata, "metadata", {}) == {}


def _replace(inputs, **changes):
    out = dict(inputs)
    out.update(changes)
    return out


def _bad_cases():
    good = _step_inputs()
    h = np.zeros((2, 64))
    h_nan, h_inf = h.copy(), h.copy()
    h_nan[1, 5], h_inf[0, 0] = np.nan, np.inf
    emb_ok = {"observations": [[[0, 0, 0, 0]] * 3], "actions": [[1, 4]], "length": [2]}
    ex = {"observation": [[0, 0, 0, 0]], "goal": [[2, 3]], "embedding": [[0.0] * 64],
          "h": [[0.0] * 64], "c": [[0.0] * 64]}
    return [
        ("nope", good, "'nope' not found"),
        ("explore_step", {k: v for k, v in good.items() if k != "c"}, r"missing \['c'\]"),
        ("explore_step", _replace(good, goal=[[0, 0]]), r"unexpected \['goal'\]"),
        ("explore_step", _replace(good, observation=[[0.5, 0, 0, 0], [0, 0, 0, 0]]), "integers"),
        ("explore_step", _replace(good, prev_action=["a", "b"]), "strings"),
        ("explore_step", _replace(good, observation=[[0, 0, 0], [0, 0, 0]]), r"shape \[2, 3\], expected \[\?, 4\]"),
        ("explore_step", _replace(good, h=np.zeros((2, 63)).tolist()), r"shape \[2, 63\]"),
        ("explore_step", _replace(good, observation=[[0, 0, 0, 0], [0, 0]]), "ragged"),
        ("explore_step", _replace(good, prev_action=[7]), "batch size"),
        ("explore_step", _replace(good, observation=[[0, 9, 0, 0], [0, 0, 0, 0]]), "field 'y' 9 at index \\[0\\] is outside 0..8"),
        ("explore_step", _replace(good, observation=[[0, 0, 0, 0], [0, 0, 0, -1]]), "field 'map_info' -1"),
        ("explore_step", _replace(good, prev_action=[8, 0]), "action 8 .* outside 0..7"),
        ("explore_step", _replace(good, h=h_nan.tolist()), "nan at index \\[1, 5\\]"),
        ("explore_step", _replace(good, h=h_inf.tolist()), "inf at index \\[0, 0\\]"),
        ("explore_initial_state", {"batch_size": 9}, "is 9, expected 1..8"),
        ("explore_initial_state", {"batch_size": 0}, "is 0"),
        ("explore_initial_state", {"batch_size": [1]}, "shape \\[1\\], expected \\[\\]"),
        ("embed_exploration", _replace(emb_ok, actions=[[1, 7]]), "action 7 .* outside 0..6"),
        ("embed_exploration", _replace(emb_ok, length=[3]), "length 3 .* outside 0..2"),
        ("embed_exploration", _replace(emb_ok, observations=[[[0, 0, 0, 0]] * 2]), "one more than"),
        ("embed_exploration", {"observations": [[[0, 0, 0, 0]] * 22], "actions": [[0] * 21],
                               "length": [1]}, "more than the horizon 20"),
        ("execute_step", _replace(ex, goal=[[9, 0]]), "goal x 9"),
        ("execute_step", _replace(ex, embedding=[[float("nan")] * 64]), "'embedding'.*nan"),
        ("execute_step", _replace(ex, embedding=[[0.0] * 65]), r"shape \[1, 65\]"),
        ("metadata", {"x": [1]}, r"takes inputs \[\]; unexpected \['x'\]"),
    ]


@pytest.mark.parametrize("signature, inputs, words", _bad_cases())
def test_bad_inputs_are_400_naming_the_problem(signatures, metadata, signature, inputs, words):
    with pytest.raises(rest.RestError, match=words) as e:
        _check(signatures, metadata, signature, inputs)
    assert e.value.status == 400


def test_batches_over_the_limit_and_scalar_rows_are_refused(signatures, metadata):
    nine = {"observation": [[0, 0, 0, 0]] * 9, "prev_action": [7] * 9,
            "h": np.zeros((9, 64)).tolist(), "c": np.zeros((9, 64)).tolist()}
    with pytest.raises(rest.RestError, match="9 rows .* limit of 8"):
        _check(signatures, metadata, "explore_step", nine)
    with pytest.raises(rest.RestError, match="columnar"):
        _check(signatures, metadata, "explore_initial_state", {"batch_size": [2]}, row=True)


def test_version_must_be_the_loaded_one():
    rest.check_version(None, 3, "m")
    rest.check_version(3, 3, "m")
    with pytest.raises(rest.RestError, match="no version 2") as e:
        rest.check_version(2, 3, "m")
    assert e.value.status == 404


# ---- responses -------------------------------------------------------------------------------------
def test_responses_have_tf_serving_shapes():
    outs = {"action": np.array([1, 2], np.int32), "q": np.array([[0.5], [0.25]], np.float32)}
    assert rest.predict_response(outs, False) == {"outputs": {"action": [1, 2], "q": [[0.5], [0.25]]}}
    assert rest.predict_response(outs, True) == {
        "predictions": [{"action": 1, "q": [0.5]}, {"action": 2, "q": [0.25]}]}
    # A single output is given bare, in both formats.
    assert rest.predict_response({"e": np.array([[1.5]], np.float32)}, False) == {"outputs": [[1.5]]}
    assert rest.predict_response({"e": np.array([[1.5]], np.float32)}, True) == {"predictions": [[1.5]]}
    assert rest.predict_response({"m": np.asarray("{}", dtype=object)}, False) == {"outputs": "{}"}
    # float32 values survive the JSON round trip bit for bit.
    x = np.float32(0.1) / np.float32(3)
    back = json.loads(json.dumps(rest.predict_response({"x": np.array([x])}, False)))["outputs"]
    assert np.float32(back[0]) == x


def test_metadata_response_lists_the_signature_defs(signatures, metadata):
    out = rest.metadata_response("dream", 3, signatures, metadata)
    assert out["model_spec"] == {"name": "dream", "signature_name": "", "version": "3"}
    defs = out["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == sorted(["explore_initial_state", "explore_step", "embed_exploration",
                                   "execute_initial_state", "execute_step", "metadata"])
    obs = defs["explore_step"]["inputs"]["observation"]
    assert obs["dtype"] == "DT_INT32"
    assert [d["size"] for d in obs["tensor_shape"]["dim"]] == ["-1", "4"]
    assert defs["embed_exploration"]["outputs"]["embedding"]["dtype"] == "DT_FLOAT"
    assert defs["metadata"]["inputs"] == {}
    assert out["policy_metadata"]["num_actions"] == 7
    assert rest.status_response(3)["model_version_status"][0] == {
        "version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


# ---- batching --------------------------------------------------------------------------------------
def test_merge_and_split_round_trip():
    a = {"x": np.array([[1, 2]]), "n": np.array([5])}
    b = {"x": np.array([[3, 4], [5, 6]]), "n": np.array([7, 8])}
    merged, sizes = rest.merge_requests([a, b])
    assert sizes == [1, 2]
    np.testing.assert_array_equal(merged["x"], [[1, 2], [3, 4], [5, 6]])
    parts = rest.split_outputs({"y": merged["x"] * 10, "m": np.asarray("meta", dtype=object)}, sizes)
    np.testing.assert_array_equal(parts[0]["y"], [[10, 20]])
    np.testing.assert_array_equal(parts[1]["y"], [[30, 40], [50, 60]])
    assert parts[1]["m"] == "meta"
    # Initial states: batch sizes 2 and 3 merge into one call for 5 rows.
    merged, sizes = rest.merge_requests([{"batch_size": np.asarray(2)}, {"batch_size": np.asarray(3)}])
    assert int(merged["batch_size"]) == 5 and sizes == [2, 3]


def test_batch_keys_separate_signatures_and_step_counts():
    e2 = {"observations": np.zeros((1, 3, 4)), "actions": np.zeros((1, 2)), "length": np.zeros(1)}
    e3 = {"observations": np.zeros((4, 4, 4)), "actions": np.zeros((4, 3)), "length": np.zeros(4)}
    e2b = {k: np.repeat(v, 3, axis=0) for k, v in e2.items()}
    assert rest.batch_key("embed_exploration", e2) == rest.batch_key("embed_exploration", e2b)
    assert rest.batch_key("embed_exploration", e2) != rest.batch_key("embed_exploration", e3)
    assert rest.batch_key("explore_initial_state", {"batch_size": np.asarray(2)}) != \
        rest.batch_key("execute_initial_state", {"batch_size": np.asarray(2)})


# ---- which folders -----------------------------------------------------------------------------
def test_model_specs_read_exports_and_tf_serving_version_folders(tmp_path):
    base = tmp_path / "dream"
    base.mkdir()
    os.symlink(DREAM, base / "1")
    os.symlink(DREAM, base / "10")
    (base / "7").mkdir()  # no saved_model.pb: not a version
    assert resolve_version(str(base)) == (str(base / "10"), 10)
    specs = model_specs(f"a={DREAM}, b={base}")
    assert [(s.name, s.version) for s in specs] == [("a", 1), ("b", 10)]
    for bad, words in [("a", "not NAME=DIR"), (f"a={DREAM},a={DREAM}", "given twice"),
                       (f"a b={DREAM}", "letters"), (f"a={tmp_path}", "neither saved_model.pb"),
                       (f"a={tmp_path}/none", "does not exist"), ("", "no models")]:
        with pytest.raises(ModelSpecError, match=words):
            model_specs(bad)
