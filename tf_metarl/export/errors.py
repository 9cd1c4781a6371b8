"""Errors of exporting and loading policies: each names the problem in one line."""

from __future__ import annotations


def first_line(error: Exception) -> str:
    """The first line of an underlying error's message (TensorFlow's run to pages)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ExportError(ValueError):
    """Base class: a policy could not be exported, loaded or evaluated."""


class RunDirError(ExportError):
    """The training run folder (or its checkpoint) is missing or unusable."""


class PolicyNotFoundError(ExportError):
    """The SavedModel path does not exist."""


class NotASavedModelError(ExportError):
    """The path exists but holds no readable SavedModel."""


class NotAPolicyError(ExportError):
    """A SavedModel, but not a tf_metarl policy export (signatures or metadata missing)."""


class IncompatibleLayoutError(ExportError):
    """A layout's observations, goals, actions or horizon do not fit the policy."""
