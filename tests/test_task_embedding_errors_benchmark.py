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
