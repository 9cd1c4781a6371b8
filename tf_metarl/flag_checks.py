"""Checks shared by the launch scripts' flags, run while absl parses them (before any work)."""

from __future__ import annotations

import os

from absl import flags


def can_be_folder(path: str | None) -> bool:
    """True if ``path`` is a folder or could be created as one: the path itself and its
    nearest existing ancestor are not files."""
    if path is None:
        return True
    current = os.path.abspath(path)
    while not os.path.exists(current):
        current = os.path.dirname(current)
    return os.path.isdir(current)


def require_folder_or_new(flag_name: str, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Refuses ``--flag_name=<path>`` when the path is a file or lies under one: the
    script would only fail when it first writes there, perhaps after a whole evaluation
    or training."""
    flags.register_validator(
        flag_name, can_be_folder,
        message="is, or lies under, an existing file; expected a folder (existing or to be created)",
        flag_values=flag_values)


def _can_be_file(path: str | None, suffix: str) -> bool:
    """True if ``path`` ends in ``suffix``, is not a folder, and its folder exists or
    could be created."""
    if path is None:
        return True
    return (path.lower().endswith(suffix) and not os.path.isdir(path)
            and can_be_folder(os.path.dirname(os.path.abspath(path))))


def require_new_file(flag_name: str, suffix: str, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Refuses ``--flag_name=<path>`` unless it names a ``suffix`` file that can be written:
    not a folder, not under an existing file."""
    flags.register_validator(
        flag_name, lambda path: _can_be_file(path, suffix),
        message=f"expected a {suffix} file path whose folder exists or can be created "
                "(not a folder, not under an existing file)",
        flag_values=flag_values)
