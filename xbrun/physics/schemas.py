"""The config groups the physics registers: the unit cells (``cell``), the I/O of the
analog MVM (``io``) and the cost ledger's prices (``energy``); the pulsed update's
parameters (``update``) are a key of the run without a group."""

from __future__ import annotations

from typing import Any

from .cells import CELLS
from .energy import EnergyConfig
from .io import IOConfig
from .pulses import UpdateParameters

#: the options of each group by name, at their defaults (``config.SCHEMAS`` gathers them)
SCHEMAS: dict[str, dict[str, Any]] = {
    "cell": {name: cls(kind=name) for name, cls in CELLS.items()},
    "io": {"base": IOConfig()},
    "energy": {"base": EnergyConfig()},
}

__all__ = ["SCHEMAS", "UpdateParameters"]
