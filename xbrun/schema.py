"""Typed configs from plain dicts: the one place where user input is checked.

Hydra composes the YAML over typed schemas derived from the dataclasses
(``composition.register_schemas``), so types are converted and unknown keys refused there;
:func:`build` turns the composed dict into the dataclasses and adds what OmegaConf cannot
express, with a :class:`ConfigError` whose message is one line naming the dotted key and
what is allowed: a Literal's choices, value ranges, and the keys added with ``+KEY=VALUE``.
The core only ever sees the dataclasses.

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

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38


def check(condition: bool, key: str, allowed: str, value: Any) -> None:
    """Raise a one-line ConfigError unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key}: expected {allowed}, got {value!r}")


def check_int(value: int, key: str, low: int, high: int, note: str = "") -> None:
    """Raise unless ``low <= value <= high`` (the message states the range)."""
    check(low <= value <= high, key, f"an integer in [{low}, {high}]{note}", value)


def _checked(tp: Any, value: Any, key: str, inf: bool = False,
             bounds: tuple[int, int, str] = (INT_MIN, INT_MAX, " (64 bits)")) -> Any:
    """``value`` checked against ``tp``. Hydra's typed schemas already converted it (the
    command line's ``"3"`` to 3); this adds what OmegaConf does not know: a Literal's
    choices, unions, finite numbers within float32, integers within ``bounds``. ``inf``:
    infinity is a documented value of this key."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in [a for a in args if a is not type(None)]:
            try:
                return _checked(arm, value, key, inf, bounds)
            except ConfigError as err:
                errors.append(str(err))
        finite = [e for e in errors if "finite" in e]
        raise ConfigError((finite or errors)[0] if finite or len(errors) == 1 else
                          f"{key}: expected {' or '.join(_WORDS.get(a, _name(a)) for a in args)}"
                          f", got {value!r}")
    if origin is Literal:
        check(value in args, key, "one of " + ", ".join(map(str, args)), value)
    elif origin in (list, tuple):
        check(isinstance(value, (list, tuple)), key, "a list", value)
        return [_checked(args[0] if args else Any, v, f"{key}[{i}]", inf, bounds)
                for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        check(isinstance(value, dict), key, "a mapping", value)
    elif dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    elif tp is bool:
        check(isinstance(value, bool), key, "true or false", value)
    elif tp is int:
        check(isinstance(value, int) and not isinstance(value, bool), key, "an integer", value)
        check_int(value, key, *bounds)
    elif tp is float:
        check(isinstance(value, (int, float)) and not isinstance(value, bool), key, "a number",
              value)
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = math.copysign(math.inf, value)
        if math.isnan(number) or (math.isinf(number) and not inf):
            check(False, key, "a number (inf allowed)" if inf else "a finite number", value)
        if math.isfinite(number):  # the tensors are float32: keep what they can hold
            check(number == 0 or FLOAT32_TINY <= abs(number) <= FLOAT32_MAX, key,
                  "a finite number within float32 (0 or 1.2e-38 <= |x| <= 3.4e+38)", value)
        return number
    elif tp is str:  # a number is text too (``analog_layers=[0]`` names layer "0")
        check(isinstance(value, (str, int, float)) and not isinstance(value, bool), key,
              "a string", value)
        return str(value)
    return value


# a union's arms in the words of the scalar checks above (``expected an integer or a number``)
_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          type(None): "null"}


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
            kwargs[name] = _checked(hints[name], data[name], prefix + name,
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
