"""Bad input gives one clear error naming the problem: a specific exception in the
library, ``error: ...`` and a non-zero exit (no traceback) from the launch scripts."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from export_helpers import EVALUATE, EXPORT, last_line, run_command


# ---- loading SavedModels ------------------------------------------------------------------------
def test_missing_path(tmp_path):
    from tf_metarl.export import PolicyNotFoundError
    from tf_metarl.export.policy import load_policy
    with pytest.raises(PolicyNotFoundError, match="does not exist"):
        load_policy(str(tmp_path / "nowhere"))


def test_paths_that_are_not_saved_models(tmp_path):
    from tf_metarl.export import NotASavedModelError
    from tf_metarl.export.policy import load_policy
    a_file = tmp_path / "policy.json"
    a_file.write_text("{}")
    with pytest.raises(NotASavedModelError, match="is a file"):
        load_policy(str(a_file))
    with pytest.raises(NotASavedModelError, match="no saved_model.pb"):
        load_policy(str(tmp_path))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(NotASavedModelError, match="cannot load the SavedModel"):
        load_policy(str(corrupt))


def test_a_saved_model_without_our_signatures(tmp_path):
    import tensorflow as tf

    from tf_metarl.export import NotAPolicyError
    from tf_metarl.export.policy import load_policy
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.double = tf.function(lambda x: {"y": x * module.scale},
                                input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "plain"),
                        signatures={"serving_default": module.double.get_concrete_function()})
    with pytest.raises(NotAPolicyError, match=r"lacks the signature\(s\) \['explore_initial_state'"):
        load_policy(str(tmp_path / "plain"))


def test_metadata_of_another_format_version_is_refused(saved_model, tmp_path):
    from tf_metarl.export import NotAPolicyError
    from tf_metarl.export.policy import load_policy
    copy = tmp_path / "copy"
    shutil.copytree(saved_model, copy)
    path = copy / "assets" / "metadata.json"
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps(dict(metadata, format_version=99)))
    with pytest.raises(NotAPolicyError, match="format_version 99"):
        load_policy(str(copy))
    path.write_text(json.dumps({k: v for k, v in metadata.items() if k != "horizon"}))
    with pytest.raises(NotAPolicyError, match=r"lacks \['horizon'\]"):
        load_policy(str(copy))


def test_metadata_signature_stands_in_for_a_lost_asset(saved_model, policy, tmp_path):
    from tf_metarl.export.policy import load_policy
    copy = tmp_path / "copy"
    shutil.copytree(saved_model, copy)
    (copy / "assets" / "metadata.json").unlink()
    assert load_policy(str(copy)).metadata == policy.metadata


# ---- layouts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, overrides, message", [
    ("distracting_bus", {}, r"observation fields \('x', 'y', 'status'\), but the policy expects"),
    ("distracting_bus_map", {"width": 12, "height": 12, "goals": ((0, 0), (11, 11))},
     "observation field 'x' takes values up to 11, but the policy was trained on values below 9"),
    ("distracting_bus_map", {"num_actions": 9}, "has 9 actions, the policy expects 7"),
    ("distracting_bus_map", {"horizon": 30}, "horizon 30, longer than the training horizon 20"),
])
def test_incompatible_layouts(policy, preset, overrides, message):
    from tf_metarl.envs import preset_layout
    from tf_metarl.export import IncompatibleLayoutError
    from tf_metarl.export.evaluation import play_trials
    layout = preset_layout(preset, **overrides)
    with pytest.raises(IncompatibleLayoutError, match=message):
        policy.check_layout(layout)
    with pytest.raises(IncompatibleLayoutError, match=message):
        play_trials(policy, layout, [1], [0])


def test_unknown_preset(policy):
    from tf_metarl.envs import LayoutError
    from tf_metarl.export.evaluation import resolve_layouts
    with pytest.raises(LayoutError, match="unknown env preset 'big_map'"):
        resolve_layouts(policy, env_preset="big_map")


# ---- exporting run folders ------------------------------------------------------------------------
def test_run_folders_that_cannot_be_exported(trained_run, tmp_path):
    from tf_metarl.export import ExportError, RunDirError
    from tf_metarl.export.exporter import export_run
    with pytest.raises(RunDirError, match="does not exist"):
        export_run(str(tmp_path / "no_run"))
    with pytest.raises(RunDirError, match="has no config.json"):
        export_run(str(tmp_path))
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    shutil.copy(trained_run / "config.json", untrained / "config.json")
    with pytest.raises(RunDirError, match="has no checkpoints"):
        export_run(str(untrained), str(tmp_path / "out"))
    with pytest.raises(RunDirError, match="checkpoint .*ckpt-999.* not found"):
        export_run(str(trained_run), str(tmp_path / "out"),
                   checkpoint=str(trained_run / "checkpoints" / "ckpt-999"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_run(str(trained_run), str(tmp_path / "taken"))


# ---- launch scripts -------------------------------------------------------------------------------
def _incompatible_layout_file(tmp_path):
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({"preset": "distracting_bus_map", "name": "wide", "width": 12,
                                "goals": [[0, 0], [11, 8]]}))
    return path


@pytest.mark.parametrize("script, flags, message", [
    (EVALUATE, lambda p, m: [f"--saved_model={p / 'nowhere'}"], "does not exist"),
    (EVALUATE, lambda p, m: [f"--saved_model={m}", "--env_preset=big_map"], "unknown env preset 'big_map'"),
    (EVALUATE, lambda p, m: [f"--saved_model={m}", f"--layouts={_incompatible_layout_file(p)}"],
     "layout 'wide': observation field 'x' takes values up to 11"),
], ids=["missing_saved_model", "unknown_preset", "incompatible_layout"])
def test_launch_scripts_print_one_error_line(script, flags, message, saved_model, tmp_path):
    result = run_command([sys.executable, script, *flags(tmp_path, saved_model)], timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = last_line(result.stderr)
    assert line.startswith("error: ") and message in line, result.stderr[-2000:]


def test_export_script_names_a_run_without_checkpoints(trained_run, tmp_path):
    shutil.copy(trained_run / "config.json", tmp_path / "config.json")
    result = run_command([sys.executable, EXPORT, f"--run_dir={tmp_path}"], timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert last_line(result.stderr) == (
        f"error: run folder {str(tmp_path)!r} has no checkpoints (nothing in "
        f"{str(tmp_path / 'checkpoints')!r}); train it first")
