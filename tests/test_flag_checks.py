import os
import subprocess
import sys

import pytest
from absl import flags

from tf_metarl.flag_checks import require_folder_or_new, require_new_file

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "launch")


def test_an_existing_file_is_refused_as_a_folder(tmp_path):
    flag_values = flags.FlagValues()
    flags.DEFINE_string("output", None, "x", flag_values=flag_values)
    require_folder_or_new("output", flag_values)
    flag_values(["prog", f"--output={tmp_path / 'new'}"])  # a folder to be created
    flag_values(["prog", f"--output={tmp_path}"])  # an existing folder
    a_file = tmp_path / "results.json"
    a_file.write_text("{}")
    for under_a_file in (a_file, a_file / "eval", a_file / "eval" / "deeper"):
        with pytest.raises(flags.IllegalFlagValueError, match="is, or lies under, an existing file"):
            flag_values(["prog", f"--output={under_a_file}"])


def test_evaluate_refuses_an_output_file_before_loading_anything(tmp_path):
    a_file = tmp_path / "out"
    a_file.write_text("")
    result = subprocess.run([sys.executable, os.path.join(LAUNCH, "evaluate.py"),
                             f"--saved_model={tmp_path / 'nowhere'}", f"--output={a_file}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"flag --output={a_file}: is, or lies under, an existing file" in result.stderr


def test_a_gif_path_must_be_a_writable_gif_file(tmp_path):
    flag_values = flags.FlagValues()
    flags.DEFINE_string("gif", None, "x", flag_values=flag_values)
    require_new_file("gif", ".gif", flag_values)
    flag_values(["prog", f"--gif={tmp_path / 'new' / 'trials.gif'}"])  # its folder is created
    a_file = tmp_path / "README.md"
    a_file.write_text("")
    for bad in (tmp_path, a_file / "x.gif", tmp_path / "trials.png"):
        with pytest.raises(flags.IllegalFlagValueError, match="expected a .gif file path"):
            flag_values(["prog", f"--gif={bad}"])
