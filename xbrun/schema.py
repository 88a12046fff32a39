"""Typed configs from plain dicts: the one place where user input is checked.

Hydra composes YAML into a dict; :func:`build` turns it into dataclasses, coercing types
and rejecting unknown keys and out-of-range values with a :class:`ConfigError` whose
message is one line naming the dotted key and what is allowed. The core only ever sees
the dataclasses.

Checks that hold for every key live here: a float must be finite (``inf``, ``-inf``,
``nan`` and overflowing literals such as ``1e400`` are refused, unless the field's metadata
documents what infinity means: ``field(metadata={"inf": "no limit"})``; so are magnitudes
float32 tensors cannot hold, above 3.4e38 or below 1.2e-38) and an integer must
fit in 64 bits, or in the field's ``metadata={"range": (low, high)}``. Each dataclass's
``validate(key)`` adds its own ranges and the contradictions between its keys.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from .errors import ConfigError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38


def check(condition: bool, key: str, allowed: str, value: Any) -> None:
    """Raise a one-line ConfigError unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}: expected {allowed}, got {value!r}")


def check_int(value: int, key: str, low: int, high: int, note: str = "") -> None:
    """Raise unless ``low <= value <= high`` (the message states the range)."""
    check(low <= value <= high, key, f"an integer in [{low}, {high}]{note}", value)


def _coerce(tp: Any, value: Any, key: str, inf: bool = False,
            bounds: tuple[int, int, str] = (INT_MIN, INT_MAX, " (64 bits)")) -> Any:
    """``value`` as type ``tp``; ``inf``: infinity is a documented value of this key;
    ``bounds``: the integers it allows (low, high, note)."""
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
                return _coerce(arg, value, key, inf, bounds)
            except ConfigError as err:
                errors.append(str(err))
        finite = [e for e in errors if "a finite number" in e]
        if finite:
            raise ConfigError(finite[0])
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{key}: {value!r} is none of {' | '.join(_name(a) for a in args)}")
    if origin is Literal:
        choices = get_args(tp)
        check(value in choices, key, "one of " + ", ".join(map(str, choices)), value)
        return value
    if origin in (list, tuple):
        check(isinstance(value, (list, tuple)), key, "a list", value)
        (item,) = get_args(tp)[:1] or (Any,)
        return [_coerce(item, v, f"{key}[{i}]", inf, bounds) for i, v in enumerate(value)]
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
        number = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                pass
        check(number is not None, key, "an integer", value)
        check_int(number, key, *bounds)
        return number
    if tp is float:
        if isinstance(value, bool):
            check(False, key, "a number", value)
        number = None
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond the float range
                number = math.inf
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        check(number is not None, key, "a number", value)
        if math.isnan(number) or (math.isinf(number) and not inf):
            check(False, key, "a number (inf allowed)" if inf else "a finite number", value)
        if math.isfinite(number):  # the tensors are float32: keep what they can hold
            check(number == 0 or FLOAT32_TINY <= abs(number) <= FLOAT32_MAX, key,
                  "a finite number within float32 (0 or 1.2e-38 <= |x| <= 3.4e+38)", value)
        return number
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
    kwargs = {}
    for name in fields:
        if name in data:
            meta = fields[name].metadata
            bounds = (*meta["range"], meta.get("note", "")) if "range" in meta else (
                INT_MIN, INT_MAX, " (64 bits)")
            kwargs[name] = _coerce(hints[name], data[name], prefix + name,
                                   inf="inf" in meta, bounds=bounds)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(key)
    return obj


def pick(registry: dict[str, type], data: Any, key: str, tag: str) -> Any:
    """The dataclass ``registry[data[tag]]`` built from ``data`` (a group option picked by its
    ``kind`` or ``name``)."""
    check(isinstance(data, dict), key, f"a config group (choose one with {key}=NAME)", data)
    choice = data.get(tag)
    if choice not in registry:
        raise ConfigError(f"{key}.{tag}: expected one of {', '.join(registry)}, got {choice!r}")
    return build(registry[choice], data, key)


def to_dict(obj: Any) -> Any:
    """Plain-dict view of a config (for checkpoints, summaries and reports)."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values): configs compared key by key."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, key))
        else:
            flat[key] = value
    return flat


def covers(pattern: str, key: str) -> bool:
    """``pattern`` names ``key`` itself or a group above it (``model`` covers ``model.hidden``)."""
    return key == pattern or key.startswith(pattern + ".")
