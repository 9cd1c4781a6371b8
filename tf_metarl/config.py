"""Configuration helpers: nested dataclasses, dotted-path overrides, JSON round trips.

Every default lives in a config dataclass. Launch scripts edit them only through
``apply_overrides`` (``"agent.learning_rate=3e-4"``), which parses the value with the
field's declared type and names the bad key or value on error. Each config class may
define ``validate()``, called by ``validate_config`` on every nested dataclass.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Sequence


class ConfigError(ValueError):
    """A configuration key or value is not valid."""


# ``Optional[X]`` and ``X | None`` annotations.
_UNION_ORIGINS = (typing.Union, types.UnionType)


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _parse_value(text: str, annotation, key: str):
    """Parses ``text`` into ``annotation`` (bool, int, float, str, Optional, tuple)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _UNION_ORIGINS:
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _parse_value(text, inner[0], key)
    if origin is tuple:
        items = [t for t in text.strip("()[] ").split(",") if t.strip()]
        item_type = args[0] if args else str
        return tuple(_parse_value(t.strip(), item_type, key) for t in items)
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"{key}={text!r}: expected a boolean (true/false)")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = None
            if value is not None and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}={text!r}: expected an integer") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected a number") from None
    if annotation is str:
        return text
    raise ConfigError(f"{key}: fields of type {annotation} cannot be overridden from text")


def apply_overrides(config, overrides: Sequence[str]):
    """Returns a copy of ``config`` with ``key.path=value`` overrides applied."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected the form key.path=value")
        key, text = item.split("=", 1)
        config = _replace_path(config, key.strip().split("."), text.strip(), key.strip())
    return config


def _replace_path(config, path: list[str], text: str, full_key: str):
    if not dataclasses.is_dataclass(config):
        raise ConfigError(f"override {full_key!r}: {path[0]!r} is not a config section")
    names = [f.name for f in dataclasses.fields(config)]
    head = path[0]
    if head not in names:
        raise ConfigError(
            f"unknown config key {full_key!r}: {type(config).__name__} has no field {head!r}; "
            f"expected one of {names}")
    current = getattr(config, head)
    if len(path) == 1:
        if dataclasses.is_dataclass(current):
            raise ConfigError(f"override {full_key!r} names a section; expected a field inside it")
        value = _parse_value(text, _field_types(type(config))[head], full_key)
    else:
        value = _replace_path(current, path[1:], text, full_key)
    return dataclasses.replace(config, **{head: value})


def _type_problem(value, annotation) -> str | None:
    """What ``value`` should be instead, or None if it is a valid ``annotation``: bools are
    not numbers, numbers are finite, tuples hold items of their declared type."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNION_ORIGINS:
        if value is None and type(None) in args:
            return None
        return _type_problem(value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        if not isinstance(value, tuple):
            return "expected a list"
        item_type = args[0] if args else str
        problems = [_type_problem(item, item_type) for item in value]
        return next((f"{p} for every item" for p in problems if p), None)
    if annotation is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected an integer"
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a finite number"
        try:
            return None if math.isfinite(value) else "expected a finite number"
        except OverflowError:  # an int too large for a float
            return "expected a finite number"
    if annotation is str:
        return None if isinstance(value, str) else "expected a string"
    return None


def check_field_types(config, prefix: str = "") -> None:
    """Raises ConfigError naming the first leaf field whose value does not have the field's
    declared type (e.g. ``agent.learning_rate='fast'`` or ``inf`` from a config file)."""
    types = _field_types(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            check_field_types(value, f"{prefix}{field.name}.")
            continue
        problem = _type_problem(value, types[field.name])
        if problem:
            raise ConfigError(f"{prefix}{field.name}={value!r}: {problem}")


def validate_config(config) -> None:
    """Checks every field's type (``check_field_types``), then calls ``validate()`` on
    ``config`` and every nested config dataclass."""
    check_field_types(config)
    _validate_values(config)


def _validate_values(config) -> None:
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            _validate_values(value)
    if hasattr(config, "validate"):
        config.validate()


def to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def differences(old, new, prefix: str = "") -> list[str]:
    """``key.path: old -> new`` for every leaf field where two configs differ."""
    out = []
    for field in dataclasses.fields(old):
        a, b = getattr(old, field.name), getattr(new, field.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b) and type(a) is type(b):
            out += differences(a, b, f"{prefix}{field.name}.")
        elif a != b:
            out.append(f"{prefix}{field.name}: {a!r} -> {b!r}")
    return out


def to_json(config) -> str:
    return json.dumps(to_dict(config), indent=2, sort_keys=True)


def from_dict(cls, data: dict[str, Any]):
    """Rebuilds a (nested) config dataclass from ``to_dict`` output."""
    types = _field_types(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value = data[field.name]
        annotation = types[field.name]
        if dataclasses.is_dataclass(annotation):
            value = from_dict(annotation, value)
        elif typing.get_origin(annotation) is tuple and value is not None:
            value = tuple(value)
        kwargs[field.name] = value
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}")
    return cls(**kwargs)


def check(condition: bool, message: str) -> None:
    """Raises ConfigError(message) unless ``condition``."""
    if not condition:
        raise ConfigError(message)


def check_layer_sizes(config, *names: str, section: str = "agent", allow_empty: bool = False) -> None:
    """Checks that each named field is a tuple of positive integers (non-empty unless
    ``allow_empty``)."""
    for name in names:
        value = getattr(config, name)
        check((allow_empty or len(value) >= 1) and all(isinstance(v, int) and v >= 1 for v in value),
              f"{section}.{name}={value!r}: expected a {'' if allow_empty else 'non-empty '}"
              "list of positive integers")
