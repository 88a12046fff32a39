"""``xbrun presets``: the ``preset`` group - aihwkit's tuned configurations, one line each.

A preset is a ``# @package _global_`` file in ``conf/preset/`` that picks the device and the
cell and sets the I/O, update and transfer parameters aihwkit publishes for that pair; its
second line says what it is.
"""

from __future__ import annotations

from pathlib import Path

from .config import options


def list_presets(conf: Path) -> list[tuple[str, str]]:
    """(name, one-line description) of every preset, sorted by name."""
    found = []
    for name in options("preset"):
        path = conf / "preset" / f"{name}.yaml"
        lines = [line[1:].strip() for line in path.read_text().splitlines()
                 if line.startswith("#") and not line.startswith("# @package")]
        found.append((name, lines[0] if lines else ""))
    return found


def presets_command(conf: Path) -> None:
    presets = list_presets(conf)
    width = max((len(name) for name, _ in presets), default=0)
    for name, text in presets:
        print(f"{name:<{width}}  {text}")
    print(f"\n{len(presets)} presets; use one with `xbrun train preset=NAME` and override any "
          f"key after it (e.g. `preset=chopped_ttv2_reram_sb lr=0.1`).")
