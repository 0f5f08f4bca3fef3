"""Turn plain config mappings into typed dataclasses, or fail with one line naming the key.

One validator serves every group (data, trainer, the arch's own ``ArchArgs``): it walks the
dataclass fields, converts values to the annotated types, enforces bounds given in field
``metadata`` (``ge``, ``gt``, ``le``, ``lt``, ``choices``, ``length``) and calls the dataclass's
optional ``check()`` for rules that span several fields.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from knowit.errors import KnowItConfigError


class FieldError(ValueError):
    """Raised by a dataclass ``check()``: ``key`` is relative to the dataclass."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def unknown_key_message(path: str, key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{_join(path, key)}: unknown key{hint}; allowed keys: {', '.join(sorted(allowed))}"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Return ``value`` as type ``tp`` or raise KnowItConfigError naming ``path``."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None:
            if type(None) in arms:
                return None
        else:
            for arm in arms:
                if arm is type(None):
                    continue
                try:
                    return _convert(arm, value, path)
                except KnowItConfigError:
                    continue
        raise KnowItConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        return _choose(value, list(typing.get_args(tp)), path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise KnowItConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        return [_convert(item_tp, v, _join(path, i)) for i, v in enumerate(value)]
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise KnowItConfigError(f"{path}: expected a mapping, got {_describe(value)}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise KnowItConfigError(f"{path}: expected {_type_name(tp)}, got {_describe(value)}")


def _choose(value: Any, choices: list[Any], path: str) -> Any:
    """Match ``value`` against ``choices`` (strings case-insensitively) and return the canonical one."""
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
        if isinstance(value, str) and isinstance(choice, str) and value.lower() == choice.lower():
            return choice
        if isinstance(choice, str) and isinstance(value, int) and not isinstance(value, bool) and str(value) == choice:
            return choice  # precision=32 from the command line arrives as an int
    shown = ", ".join("null" if c is None else str(c) for c in choices)
    close = difflib.get_close_matches(str(value), [str(c) for c in choices if c is not None], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise KnowItConfigError(f"{path}: {_describe(value)} is not a valid choice{hint}; choose one of: {shown}")


def _check_bounds(value: Any, meta: Mapping[str, Any], path: str) -> Any:
    if value is None:
        return value
    if "choices" in meta:
        value = _choose(value, list(meta["choices"]), path)
    if "length" in meta and len(value) != meta["length"]:
        raise KnowItConfigError(f"{path}: expected {meta['length']} values, got {len(value)}")
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        for op, ok, word in (
            ("ge", lambda a, b: a >= b, ">="),
            ("gt", lambda a, b: a > b, ">"),
            ("le", lambda a, b: a <= b, "<="),
            ("lt", lambda a, b: a < b, "<"),
        ):
            if op in meta and not ok(item, meta[op]):
                raise KnowItConfigError(f"{path}: {item} is out of range; it must be {word} {meta[op]}")
    return value


def build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data``; every error names ``path.<key>``."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise KnowItConfigError(f"{path}: expected a mapping of {cls.__name__} keys, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise KnowItConfigError(unknown_key_message(path, str(key), list(fields)))
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            key_path = _join(path, name)
            value = _convert(hints[name], data[name], key_path)
            kwargs[name] = _check_bounds(value, f.metadata, key_path)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        try:
            check()
        except FieldError as err:
            raise KnowItConfigError(f"{_join(path, err.key)}: {err}") from None
    return obj


def to_plain(obj: Any) -> Any:
    """A dataclass instance as plain dicts/lists (for YAML, JSON and checkpoint hyperparameters)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if hasattr(obj, "tolist"):  # tensors and arrays given through the API
        return obj.tolist()
    return obj
