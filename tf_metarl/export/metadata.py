"""The policy metadata (``assets/metadata.json``): reading, checking, layout compatibility.

TensorFlow-free, so launch scripts can reject a bad model folder or an incompatible
layout before TensorFlow loads, and readers of exports can inspect a policy cheaply.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tf_metarl.envs.layout import BusMapLayout, LayoutError, check_observation_compatible
from tf_metarl.export import format as fmt
from tf_metarl.export.errors import IncompatibleLayoutError, NotAPolicyError


def metadata_path(saved_model: str) -> str:
    return os.path.join(saved_model, "assets", fmt.METADATA_ASSET)


def parse_metadata(text: str, source: str) -> dict[str, Any]:
    """Parses and checks metadata JSON; ``source`` names where it came from in errors."""
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotAPolicyError(f"metadata {source} is not valid JSON: {e}") from None
    if not isinstance(metadata, dict):
        raise NotAPolicyError(f"metadata {source} is not a JSON object")
    missing = [k for k in fmt.REQUIRED_METADATA_KEYS if k not in metadata]
    if missing:
        raise NotAPolicyError(f"metadata {source} lacks {missing}: not a tf_metarl policy export")
    if metadata["format_version"] != fmt.FORMAT_VERSION:
        raise NotAPolicyError(
            f"metadata {source} has export format_version {metadata['format_version']!r}; this "
            f"version of tf_metarl reads format_version {fmt.FORMAT_VERSION}")
    return metadata


def read_metadata_file(saved_model: str) -> dict[str, Any] | None:
    """The checked ``assets/metadata.json`` of ``saved_model``, or None if it has none."""
    path = metadata_path(saved_model)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return parse_metadata(f.read(), repr(path))


def training_layout(metadata: dict[str, Any]) -> BusMapLayout:
    """The layout the policy was trained on."""
    from tf_metarl.envs.layout import layout_from_dict
    spec = metadata["layout"]
    try:
        return layout_from_dict(dict(spec), name=spec.get("name", "trained"))
    except (LayoutError, TypeError, AttributeError, ValueError) as e:
        raise NotAPolicyError(f"the policy metadata holds an invalid layout: {e}") from None


def check_layout(metadata: dict[str, Any], layout: BusMapLayout, policy_name: str = "the policy") -> None:
    """Raises IncompatibleLayoutError unless a policy with ``metadata`` can act on
    ``layout``: same observation fields, bounds no larger, same action count, goals in
    range and a horizon no longer than the training one."""
    try:
        check_observation_compatible(layout, metadata["observation_fields"],
                                     metadata["observation_bounds"], metadata["num_actions"])
    except LayoutError as e:
        raise IncompatibleLayoutError(f"{e} ({policy_name})") from None
    gw, gh = metadata["goal_bounds"]
    far = [g for g in layout.goals if g[0] >= gw or g[1] >= gh]
    if far:
        raise IncompatibleLayoutError(
            f"layout {layout.name!r}: goal {far[0]} lies outside the {gw}x{gh} goal range "
            f"of {policy_name}")
    if layout.horizon > metadata["horizon"]:
        raise IncompatibleLayoutError(
            f"layout {layout.name!r} has horizon {layout.horizon}, longer than the training "
            f"horizon {metadata['horizon']} of {policy_name}")


def select_layouts(metadata: dict[str, Any], env_preset: str | None = None,
                   layouts_file: str | None = None,
                   policy_name: str = "the policy") -> list[BusMapLayout]:
    """The layouts to evaluate on: those of ``layouts_file`` (new bus-map configurations),
    else the preset ``env_preset``, else the layout the policy was trained on; each
    checked against the policy (IncompatibleLayoutError names the mismatch)."""
    from tf_metarl.envs.layout import load_layouts, preset_layout
    if layouts_file:
        layouts = load_layouts(layouts_file)
    elif env_preset:
        layouts = [preset_layout(env_preset)]
    else:
        layouts = [training_layout(metadata)]
    for layout in layouts:
        check_layout(metadata, layout, policy_name)
    return layouts
