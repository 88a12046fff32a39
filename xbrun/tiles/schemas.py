"""The ``mapping`` config group this package registers: how layers are cut into tiles
and which periphery they get (``MappingConfig``)."""

from __future__ import annotations

from typing import Any

from .mapping import MappingConfig

#: the group's one option at its defaults (``config.SCHEMAS`` gathers it)
SCHEMAS: dict[str, dict[str, Any]] = {"mapping": {"base": MappingConfig()}}
