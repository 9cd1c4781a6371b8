"""benchmarks/task_embedding_errors.py checks every run folder before its first (slow)
evaluation: a bad one is a one-line usage error naming it, not a traceback."""

import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "task_embedding_errors.py"


def test_bad_run_folders_fail_before_any_evaluation(tmp_path):
    (tmp_path / "no_config").mkdir()
    (tmp_path / "no_checkpoint").mkdir()
    (tmp_path / "no_checkpoint" / "config.json").write_text("{}")
    output = tmp_path / "report.md"
    for run_dir, message in ((tmp_path / "missing", "does not exist"),
                             (tmp_path / "no_config", "has no config.json"),
                             (tmp_path / "no_checkpoint", "has no checkpoints")):
        result = subprocess.run([sys.executable, str(SCRIPT), f"--run_dirs={run_dir}",
                                 f"--output={output}"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("task_embedding_errors.py: error: --run_dirs: ") and str(run_dir) in last
        assert message in last and "Traceback" not in result.stderr
        assert "--checkpoint" not in last  # export.py's flag, not this script's
    assert not output.exists()


def test_every_run_folder_is_checked_before_the_first_evaluation(tmp_path):
    """A folder that passes the checks but cannot be evaluated (its checkpoint is an empty
    file), then a missing one: the missing one is refused before the first is evaluated."""
    from tf_metarl.config import to_json
    from tf_metarl.training.config import run_config
    looks_trained = tmp_path / "looks_trained"
    (looks_trained / "checkpoints").mkdir(parents=True)
    (looks_trained / "config.json").write_text(to_json(run_config("dream", "small_map", "tiny", 0)))
    (looks_trained / "checkpoints" / "ckpt-1.index").write_text("")
    missing = tmp_path / "missing"
    output = tmp_path / "report.md"
    result = subprocess.run([sys.executable, str(SCRIPT), f"--run_dirs={looks_trained},{missing}",
                             f"--output={output}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("task_embedding_errors.py: error: --run_dirs: ") and str(missing) in last
    assert "Traceback" not in result.stderr and str(looks_trained) not in result.stdout
    assert not output.exists()
