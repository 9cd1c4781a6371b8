"""Checks shared by the launch scripts' flags, run while absl parses them (before any work)."""

from __future__ import annotations

import os

from absl import flags


def require_folder_or_new(flag_name: str, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Refuses ``--flag_name=<path>`` when the path is an existing file: the script would
    only fail when it first writes there, perhaps after a whole evaluation or training."""
    flags.register_validator(
        flag_name, lambda path: path is None or not os.path.isfile(path),
        message="is an existing file; expected a folder (existing or to be created)",
        flag_values=flag_values)
