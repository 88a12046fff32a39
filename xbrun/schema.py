"""Typed configs from plain dicts: the one place where user input is checked.

Hydra composes YAML into a dict; :func:`build` turns it into dataclasses, coercing types
and rejecting unknown keys and out-of-range values with a :class:`ConfigError` whose
message is one line naming the dotted key and what is allowed. The core only ever sees
the dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from .errors import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def check(condition: bool, key: str, allowed: str, value: Any) -> None:
    """Raise a one-line ConfigError unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}: expected {allowed}, got {value!r}")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{key}: {value!r} is none of {' | '.join(_name(a) for a in args)}")
    if origin is Literal:
        choices = get_args(tp)
        check(value in choices, key, "one of " + ", ".join(map(str, choices)), value)
        return value
    if origin in (list, tuple):
        check(isinstance(value, (list, tuple)), key, "a list", value)
        (item,) = get_args(tp)[:1] or (Any,)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        check(isinstance(value, dict), key, "a mapping", value)
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        check(False, key, "true or false", value)
    if tp is int:
        if isinstance(value, bool):
            check(False, key, "an integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        check(False, key, "an integer", value)
    if tp is float:
        if isinstance(value, bool):
            check(False, key, "a number", value)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        check(False, key, "a number", value)
    if tp is str:
        check(isinstance(value, (str, int, float)) and not isinstance(value, bool), key,
              "a string", value)
        return str(value)
    return value


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def build(cls: type, data: Any, key: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, checking names, types and ranges."""
    if isinstance(data, cls):
        return data
    prefix = f"{key}." if key else ""
    check(isinstance(data, dict), key or cls.__name__, "a mapping", data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key; allowed keys are "
                          + ", ".join(sorted(fields)))
    kwargs = {name: _coerce(hints[name], data[name], prefix + name)
              for name in fields if name in data}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(key)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-dict view of a config (for checkpoints, summaries and reports)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
