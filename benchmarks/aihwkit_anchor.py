"""aihwkit's seconds per epoch on the bench task, measured now, beside xbrun's.

xbrun never imports aihwkit: this runs the anchor script (``aihwkit_epoch_bench.py``, the
same task as ``bench_training``) with the Python of a separate aihwkit venv, in a subprocess,
when one is there (``XBRUN_AIHWKIT_PYTHON``, default ``/tmp/aihwkit-venv/bin/python`` as
``build-aihwkit`` makes it; ``XBRUN_AIHWKIT_BENCH``, default ``../shared/anchors/`` beside
the repo). Without them the bench prints the figures quoted in the issues instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _paths() -> tuple[Path, Path] | None:
    python = Path(os.environ.get("XBRUN_AIHWKIT_PYTHON", "/tmp/aihwkit-venv/bin/python"))
    script = Path(os.environ.get("XBRUN_AIHWKIT_BENCH",
                                 REPO.parent / "shared" / "anchors" / "aihwkit_epoch_bench.py"))
    return (python, script) if python.exists() and script.exists() else None


def available() -> bool:
    return _paths() is not None


def measure(where: str, batches: tuple[int, ...], devices: tuple[str, ...],
            timeout: float = 1800) -> dict[tuple[str, int], float]:
    """``{(device, batch): seconds per epoch}`` from the anchor, ``fp`` included."""
    paths = _paths()
    if paths is None:
        return {}
    python, script = paths
    cmd = [str(python), str(script), "--where", where,
           "--batches", ",".join(str(b) for b in batches), "--devices", ",".join(devices)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = {}
    for line in done.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "seconds" in row:
            seconds[(row["device"], int(row["batch"]))] = float(row["seconds"])
    return seconds
