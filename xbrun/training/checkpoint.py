"""Checkpoints that cannot run code and that notice a flipped bit.

A checkpoint is read with ``torch.load(weights_only=True)``: its pickle may then build only
tensors, plain containers and numbers, never call a function, so a forged file (one with a
pickled ``exec``) is refused instead of run. Every checkpoint carries a SHA-256 ``checksum``
over its content (each tensor's dtype, shape and bytes, and every other value), written last
and checked first on resume: a damaged tensor is a one-line refusal, not a silent resume.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import torch

CHECKSUM = "checksum"


def digest(state: Any) -> str:
    """SHA-256 over ``state`` in a fixed order (dict keys sorted), the same on any device."""
    sha = hashlib.sha256()
    _feed(sha, state)
    return sha.hexdigest()


def _feed(sha, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        sha.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        sha.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(value, dict):
        sha.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            sha.update(repr(key).encode())
            _feed(sha, value[key])
    elif isinstance(value, (list, tuple)):
        sha.update(f"{type(value).__name__[0]}{len(value)}".encode())
        for item in value:
            _feed(sha, item)
    else:
        sha.update(f"{type(value).__name__}:{value!r};".encode())


def to_bytes(state: dict) -> bytes:
    """The file's bytes: ``state`` plus its checksum. Serialised in memory first, so a full
    disk fails in a plain ``write`` (``No space left on device``), not inside torch's zip
    writer (``unexpected pos``)."""
    buffer = io.BytesIO()
    torch.save({**state, CHECKSUM: digest(state)}, buffer)
    return buffer.getvalue()


def read(path: Path) -> dict:
    """The verified state in ``path``; ``ValueError`` with the reason when the file cannot
    be trusted (not loadable without running code, no checksum, checksum differs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # forged (a callable in the pickle), truncated, not a zip ...
        text = " ".join(str(err).split())
        found = re.search(r"\bGLOBAL ([\w.]+)", text)  # a callable the pickle names
        if found:
            name = found[1]
            raise ValueError(f"is refused: its pickle calls {name}, and a checkpoint holds "
                             f"only tensors and plain values (a forged or foreign file; "
                             f"nothing in it was run)") from None
        reason = text.split("WeightsUnpickler error: ")[-1][:160]
        raise ValueError(f"cannot be read ({type(err).__name__}: {reason}); it is truncated "
                         f"or not a checkpoint") from None
    if not isinstance(state, dict):
        return state  # the caller names what is missing
    if CHECKSUM not in state:
        raise ValueError("has no checksum (damaged, or not written by xbrun)")
    saved = state.pop(CHECKSUM)
    if saved != digest(state):
        raise ValueError("fails its checksum: its content changed after it was written (a "
                         "damaged checkpoint)")
    return state
