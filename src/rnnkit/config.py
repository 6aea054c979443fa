"""Typed run configs: nested dataclasses, read from TOML files and ``--a.b=c`` overrides.

Each component owns a dataclass of its settings (a model's, the trainer's); a run config composes them.
Unknown keys and values of the wrong type are errors that name the key, so a typo never passes silently.

>>> cfg = from_dict(TrainConfig, {"lr": 0.01})
>>> cfg = apply_overrides(cfg, ["lr=3e-4", "clip_norm=none"])
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the dataclass; the message names the key."""


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass (nested) as plain JSON-ready dicts."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build ``cls`` from ``data``, checking every key and type; nested dataclasses from nested dicts."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a table of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown setting {_join(where, unknown[0])!r}; known: {', '.join(sorted(fields))}"
        )
    values = {name: _coerce(hints[name], value, _join(where, name)) for name, value in data.items()}
    return cls(**values)


def load_toml(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Apply ``key.sub=value`` strings; values parse as TOML scalars ("3", "1e-3", "true", "'x'"),
    falling back to a bare string; ``none`` sets an optional setting to None."""
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.lstrip("-").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown setting {key!r}")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(node))}")
        node[leaf] = _parse_scalar(raw)
    return from_dict(type(cfg), data)


def _parse_scalar(raw: str) -> Any:
    if raw.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"setting {key!r} must be {_name(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, where=key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"setting {key!r} must be a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [_coerce(item, v, key) for v in value] if item is not Any else list(value)
        return origin(items)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"setting {key!r} must be one of {list(typing.get_args(hint))}, got {value!r}")
        return value
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and hint is not bool or not isinstance(value, hint):
        raise ConfigError(f"setting {key!r} must be {_name(hint)}, got {value!r}")
    return value


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
