"""aihwkit's seconds per epoch on the bench tasks, measured now, beside xbrun's.

xbrun never imports aihwkit: this runs the anchor script (``aihwkit_epoch_bench.py`` beside
this file, the same tasks as ``bench_training``: the bench MLP, the 784-4096-4096-10 shape and
the CIFAR ResNet) with the Python of an aihwkit install, in a subprocess, when one is there:

- ``XBRUN_AIHWKIT_PYTHON``: that Python (default ``/tmp/aihwkit-venv/bin/python``, where
  ``../shared/anchors/build-aihwkit`` puts the CPU build);
- ``XBRUN_AIHWKIT_PATH``: prepended to the subprocess's ``PYTHONPATH`` only (an unpacked CUDA
  build, ``scripts/build-aihwkit-cuda.sh``, used with the GPU machine's own Python and torch);
- ``XBRUN_AIHWKIT_BENCH``: another anchor script;
- ``XBRUN_AIHWKIT_TIMEOUT``: seconds one shape's subprocess may take (default 1800; the rows
  it finished are kept);
- ``XBRUN_AIHWKIT_RESULTS``: instead of measuring, read the rows from files of that script's
  JSON lines (``os.pathsep``-separated; ``scripts/anchor-gpu.sh`` writes
  ``$OUT/anchor/aihwkit.jsonl`` on the GPU machine, so xbrun's rows that follow in the same call
  sit beside them without a second aihwkit run).

Without them the bench prints the figures quoted in the issues instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _paths() -> tuple[Path, Path] | None:
    python = Path(os.environ.get("XBRUN_AIHWKIT_PYTHON", "/tmp/aihwkit-venv/bin/python"))
    script = Path(os.environ.get("XBRUN_AIHWKIT_BENCH", HERE / "aihwkit_epoch_bench.py"))
    return (python, script) if python.exists() and script.exists() else None


def _result_files() -> list[Path]:
    files = os.environ.get("XBRUN_AIHWKIT_RESULTS", "")
    return [Path(f) for f in files.split(os.pathsep) if f]


def available() -> bool:
    return bool(_result_files()) or _paths() is not None


def source() -> str:
    """How the rows came: measured by this run, or read from the files a run wrote."""
    files = _result_files()
    if files:
        return "read from " + ", ".join(f.name for f in files)
    return "measured now, same machine"


def measure(where: str, batches: tuple[int, ...], devices: tuple[str, ...],
            timeout: float | None = None, shape: str = "bench",
            repeats: int | None = None) -> dict[tuple[str, int], float]:
    """``{(device, batch): seconds per epoch}`` from the anchor on ``shape`` (``bench``,
    ``large`` or ``resnet``), ``fp`` included; rows that failed or ran out of time are absent
    (their error lines go to stderr)."""
    if _result_files():
        return _read(_result_files(), where, shape, batches, devices)
    paths = _paths()
    if paths is None:
        return {}
    python, script = paths
    if timeout is None:
        timeout = float(os.environ.get("XBRUN_AIHWKIT_TIMEOUT", 1800))
    cmd = [str(python), str(script), "--where", where, "--shape", shape,
           "--batches", ",".join(str(b) for b in batches), "--devices", ",".join(devices)]
    if repeats is not None:
        cmd += ["--repeats", str(repeats)]
    env = dict(os.environ)
    extra = os.environ.get("XBRUN_AIHWKIT_PATH")
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=env)
        out = done.stdout
    except subprocess.TimeoutExpired as expired:  # keep the rows it finished
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
    return _rows(out.splitlines(), shape)


def _read(files: list[Path], where: str, shape: str, batches: tuple[int, ...],
          devices: tuple[str, ...]) -> dict[tuple[str, int], float]:
    """The rows of ``files`` measured on ``where`` and ``shape`` for ``batches`` and
    ``devices`` (``fp`` included); a later row of the same key wins."""
    keep = set(devices) | {"fp"}
    lines = []
    for path in files:
        if not path.exists():
            print(f"aihwkit results: no file {path}", file=sys.stderr)
            continue
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (isinstance(row, dict) and row.get("where", where) == where
                    and row.get("shape", "bench") == shape and row.get("device") in keep
                    and int(row.get("batch", -1)) in batches):
                lines.append(line)
    return _rows(lines, shape)


def _rows(lines, shape: str) -> dict[tuple[str, int], float]:
    seconds = {}
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "seconds" in row:
            seconds[(row["device"], int(row["batch"]))] = float(row["seconds"])
        elif "error" in row:
            print(f"aihwkit {shape} {row.get('device')} b{row.get('batch')}: {row['error']}",
                  file=sys.stderr)
    return seconds
