"""Typed run configs: nested dataclasses, read from TOML files and ``--a.b=c`` overrides.

Each component owns a dataclass of its settings (a model's, the trainer's); a run config composes them.
Unknown keys and values of the wrong type are errors that name the key, so a typo never passes silently.

>>> cfg = from_dict(TrainConfig, {"lr": 0.01})
>>> cfg = apply_overrides(cfg, ["lr=3e-4", "clip_norm=none"])
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
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


# --- printing a config as commented TOML -------------------------------------------------------------

_WIDTH = 100  # comment lines wrap here
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PRAGMA = re.compile(r"(noqa|type:|pragma|fmt:)")
# a sentence ends at . ! or ? followed by a capital or a ``name`` ("Grave et al. choose" does not end one)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"])")


def field_help(cls: type) -> dict[str, str]:
    """The description of each field of the dataclass ``cls``, by name ("" where none is found).

    Looked up in this order: ``field(metadata={"help": ...})``; the comment on the field's line and the
    comment lines directly above it (joined); the sentences of the class docstring that name the field as
    ``name``; for a nested dataclass, the first sentence of its own docstring. Fields of dataclass bases
    are read from the base that defines them.

    >>> field_help(TrainConfig)["lr"]
    'the learning rate after warmup, before the schedule scales it down'
    """
    return dict(_field_help(cls))


@functools.cache
def _field_help(cls: type) -> dict[str, str]:
    hints = typing.get_type_hints(cls)
    found = {}
    for f in dataclasses.fields(cls):
        found[f.name] = (
            str(f.metadata.get("help", ""))
            or _own_help(cls, f.name)
            or next((_summary(t) for t in _dataclasses_in(hints[f.name])), "")
        )
    return found


def to_toml(cfg: Any) -> str:
    """The dataclass instance ``cfg`` (nested) as TOML text, with a ``# `` comment above every key and table.

    Each level writes its own settings first, then its nested dataclasses as tables (``[data]``,
    ``[data.codec]``, ``[model.encoder]``), both in field order, as TOML requires. Lists and tuples become
    arrays. A setting that is None is written commented out with a note (``# top_k = none  (unset; ...)``),
    since TOML has no null. ``load_toml(type(cfg), path)`` of the text gives ``cfg`` back, except where a
    field set to None defaults to something else: a file cannot unset it, and the note says so.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_toml needs a dataclass instance, got {cfg!r}")
    lines: list[str] = []
    _write_table(cfg, "", lines)
    return "\n".join(lines).strip("\n") + "\n"


def _write_table(cfg: Any, path: str, lines: list[str]) -> None:
    cls = type(cfg)
    helps = field_help(cls)
    tables = []
    for f in dataclasses.fields(cls):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            tables.append(f)
            continue
        lines.extend(_comment(helps[f.name]))
        if value is None:
            lines.append(f"# {_key(f.name)} = none  ({_unset_note(cls, f, _join(path, f.name))})")
        else:
            lines.append(f"{_key(f.name)} = {_toml_value(value, _join(path, f.name))}")
    for f in tables:
        value, where = getattr(cfg, f.name), _join(path, f.name)
        own = _own_help(cls, f.name)
        lines.append("")
        lines.extend(_comment(_summary(type(value))))
        if own and own != _summary(type(value)):
            lines.extend(_comment(own))
        lines.append(f"[{'.'.join(_key(part) for part in where.split('.'))}]")
        _write_table(value, where, lines)


def _toml_value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # "1e-06", "inf", "-inf" and "nan" are TOML floats too
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, key) for v in value) + "]"
    raise ConfigError(f"setting {key!r}: cannot write {type(value).__name__} {value!r} as TOML")


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = (escapes.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _toml_string(name)


def _comment(text: str) -> list[str]:
    text = text.replace("``", "`")
    return textwrap.wrap(text, _WIDTH, initial_indent="# ", subsequent_indent="# ", break_long_words=False,
                         break_on_hyphens=False) if text else []


def _unset_note(cls: type, f: dataclasses.Field, key: str) -> str:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        return f"unset, but a file must give it: {_kind(typing.get_type_hints(cls)[f.name])}"
    if default is None:
        return f"unset; give {_kind(typing.get_type_hints(cls)[f.name])} to set it"
    # TOML has no null: a file that leaves the key out gets the default back
    return f"unset; a file cannot unset it (left out, it is {_toml_value(default, key)}): override {key}=none"


def _kind(hint: Any) -> str:
    """What a value of type ``hint`` looks like, in words: "a number", "one of "a", "b"", ..."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(h) for h in typing.get_args(hint) if h is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(_toml_value(v, "") for v in typing.get_args(hint))
    if origin in (list, tuple):
        return "a list"
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string"}
    return names.get(hint) or ("a table" if dataclasses.is_dataclass(hint) else "a value")


def _dataclasses_in(hint: Any) -> list[type]:
    """The dataclasses ``hint`` names: itself, or the options of a union such as ``X | None``."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return [t for t in options if isinstance(t, type) and dataclasses.is_dataclass(t)]


def _own_help(cls: type, name: str) -> str:
    """A field's description from comments or the docstring of the first class in the MRO that has one."""
    for klass in cls.__mro__:
        if dataclasses.is_dataclass(klass) and (text := _class_notes(klass).get(name)):
            return text
    return ""


def _summary(cls: type) -> str:
    """The first sentence of a class's docstring ("" without one)."""
    doc = _class_source(cls)[1]
    return _sentences(doc.split("\n\n")[0])[0] if doc else ""


@functools.cache
def _class_notes(cls: type) -> dict[str, str]:
    """The descriptions that ``cls``'s own source gives its fields: comments first, then the docstring."""
    tree, doc, comments = _class_source(cls)
    notes = {}
    for node in tree.body if tree else ():
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            notes[node.target.id] = _comments_of(node, comments)
    parts = [part for sentence in _sentences(doc) for part in _clauses(sentence)]
    for name in vars(cls).get("__annotations__", {}):
        if not notes.get(name):
            notes[name] = " ".join(part for part in parts if f"``{name}``" in part)
    return notes


@functools.cache
def _class_source(cls: type) -> tuple[ast.ClassDef | None, str, dict[int, tuple[bool, str]]]:
    """``cls``'s parsed body, docstring, and comments by line: (whole line?, text)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # built at run time, or no source file
        doc = cls.__doc__ or ""
        return None, "" if doc.startswith(f"{cls.__name__}(") else doc, {}  # dataclass's made-up doc
    tree = ast.parse(source).body[0]
    assert isinstance(tree, ast.ClassDef)
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            if not _PRAGMA.match(text):
                comments[tok.start[0]] = (not tok.line[: tok.start[1]].strip(), text)
    return tree, ast.get_docstring(tree) or "", comments


def _comments_of(node: ast.AnnAssign, comments: dict[int, tuple[bool, str]]) -> str:
    """The comment lines directly above ``node``, then any comment on its own lines, joined."""
    above = []
    line = node.lineno - 1
    while line in comments and comments[line][0]:
        above.insert(0, comments[line][1])
        line -= 1
    trailing = [comments[n][1] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
    text = " ".join(above)
    if text and trailing and not text.endswith((".", ":", ";", ",")):
        text += "."  # "# what" above, "# why" on the line: two sentences
    return " ".join([text, *trailing]).strip()


def _sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    return _SENTENCE_END.split(text) if text else []


def _clauses(sentence: str) -> list[str]:
    """A sentence cut into the parts that describe different fields: at each top-level "; " that starts a
    new ``name`` ("``size``: ...; ``theta``: ..."), and a list after a colon whose every item names a field
    ("The dropouts ...: ``a`` drops ..., ``b`` is ..., and ``c`` is ...") into its items, each after the
    lead-in. Other clauses stay with the one before them."""
    parts = []
    for clause in _split_top(sentence, "; ", lambda rest: rest.startswith("``")):
        lead, *after = _split_top(clause, ": ", lambda _: True)
        items = _split_top(": ".join(after), ", ", lambda _: True) if after else []
        if len(items) >= 3 and all("``" in item for item in items):
            parts += [f"{lead}: {item.removeprefix('and ').removeprefix('or ').rstrip('.')}." for item in items]
        else:
            parts.append(clause if clause.endswith((".", "?", "!")) else clause + ".")
    return [part[:1].upper() + part[1:] for part in parts]


def _split_top(text: str, sep: str, starts: Callable[[str], bool]) -> list[str]:
    """``text`` cut at each ``sep`` outside parentheses where ``starts(what follows)``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(sep, i) and starts(text[i + len(sep):]):
            parts.append(text[start:i])
            start = i + len(sep)
    return [*parts, text[start:]]
