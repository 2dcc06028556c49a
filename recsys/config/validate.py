"""The generic typed validator behind :mod:`recsys.config`.

A section is a frozen dataclass whose fields are made with :func:`spec` (a default, bounds and
allowed values). :func:`build` turns a nested dict into sections, refusing an unknown key, a
wrong type or a value out of range with a :class:`ConfigError` naming the dotted key;
:func:`check_sections` then runs each section's own cross-field checks. :func:`load_raw` reads
layered YAML and :func:`apply_overrides` applies ``key.path=value`` strings.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from recsys.errors import ConfigError

EXTRA = "extra"  # spark.extra: free-form Spark settings, merged key by key


def spec(
    default: Any = dataclasses.MISSING,
    *,
    factory: Any = dataclasses.MISSING,
    min: float | None = None,  # noqa: A002 - reads naturally at the call sites
    max: float | None = None,  # noqa: A002
    choices: tuple | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with its default (or ``factory``), its bounds and its allowed values."""
    meta = {"min": min, "max": max, "choices": choices, "doc": doc}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _check_value(key: str, value: Any, tp: Any, meta: dict) -> Any:
    """``value`` checked against ``tp`` and the bounds in ``meta``; raises naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp = args[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {_field_names(tp)}, got {value!r}")
        return build(tp, value, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    elif tp is str:
        if not isinstance(value, str) or value == "":
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    elif tp is list or typing.get_origin(tp) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_tp = (typing.get_args(tp) or (Any,))[0]
        if item_tp is not Any:
            value = [_check_value(f"{key}[{i}]", v, item_tp, {}) for i, v in enumerate(value)]
    elif tp is dict or typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        key_tp, item_tp = typing.get_args(tp) or (Any, Any)
        if key_tp is str and not all(isinstance(k, str) for k in value):
            bad = next(k for k in value if not isinstance(k, str))
            raise ConfigError(f"{key}: keys must be strings, got {bad!r}")
        if item_tp is not Any:
            value = {k: _check_value(f"{key}.{k}", v, item_tp, {}) for k, v in value.items()}
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(map(str, choices))
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of: {allowed}")
    if lo is not None and value < lo:
        raise ConfigError(f"{key}: {value!r} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key}: {value!r} is above the maximum {hi}")
    return value


def _field_names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def build(cls: type, data: dict, prefix: str = "") -> Any:
    """``data`` validated into the dataclass ``cls``; keys are named from ``prefix``."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{prefix}{key}: unknown key; allowed keys here are: {_field_names(cls)}"
            )
    kwargs = {}
    for name, fld in known.items():
        if name in data:
            kwargs[name] = _check_value(prefix + name, data[name], hints[name], fld.metadata)
    return cls(**kwargs)


def check_sections(section: Any, key: str = "") -> None:
    """Run the cross-field ``check(key)`` of ``section`` and of every section inside it.

    Types and ranges are checked field by field as the config is built; a section whose
    fields constrain each other defines ``check(self, key)``, called here with its dotted key
    once the whole config is built (nested sections first, then the section, in field order).
    """
    for fld in dataclasses.fields(section):
        value = getattr(section, fld.name)
        if dataclasses.is_dataclass(value):
            check_sections(value, f"{key}.{fld.name}" if key else fld.name)
    check = getattr(section, "check", None)
    if check is not None:
        check(key)


def _deep_merge(base: dict, top: dict) -> dict:
    """``top`` merged over ``base``, section by section; an ``extra`` mapping (free-form Spark
    settings) key by key, where a key set to null removes the base's setting."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            if key == EXTRA:
                merged[key] = {k: v for k, v in {**merged[key], **value}.items() if v is not None}
            else:
                merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_text(path: str) -> str:
    """A config file's text, from a local path or ``s3://``."""
    if path.startswith(("s3://", "s3a://")):
        from recsys.storage import files as storage

        return storage.read_bytes(path).decode("utf-8")
    return Path(path).read_text(encoding="utf-8")


def load_raw(path: str, _seen: tuple = ()) -> dict:
    """Read a YAML config and the ``base:`` files beneath it into one dict."""
    if path in _seen:
        raise ConfigError(f"{path}: 'base' chain loops back on itself")
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base:
        if "://" in path:
            base_path = path.rsplit("/", 1)[0] + "/" + base
        else:
            base_path = str(Path(path).parent / base)
        data = _deep_merge(load_raw(base_path, _seen + (path,)), data)
    return data


def apply_overrides(data: dict, overrides: typing.Iterable[str]) -> dict:
    """Apply ``a.b.c=value`` strings; values are parsed as YAML scalars or lists."""
    data = _deep_merge({}, data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        if parts[:2] == ["spark", EXTRA] and len(parts) > 2:
            # spark.extra.spark.jars=...: one Spark setting, whose name has dots of its own
            parts = [*parts[:2], ".".join(parts[2:])]
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        if value is None and len(parts) == 3 and parts[:2] == ["spark", EXTRA]:
            node.pop(parts[-1], None)  # spark.extra.<name>=null: drop a setting a file made
        else:
            node[parts[-1]] = value
    return data
