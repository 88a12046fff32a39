"""The ``device`` config group this package registers: one dataclass per training
algorithm (``DEVICES``), each option at its defaults."""

from __future__ import annotations

from typing import Any

from . import DEVICES

#: the options of the group by name, at their defaults (``config.SCHEMAS`` gathers them)
SCHEMAS: dict[str, dict[str, Any]] = {
    "device": {name: cls(kind=name) for name, cls in DEVICES.items()}}
