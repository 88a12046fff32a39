"""A rich progress bar inside an epoch: steps, running loss, pulses per second, ETA.

Shown only on a terminal (``progress=auto``) and never in sweeps (the CLI turns it off
there): logs and captured output keep only the per-epoch lines. The bar is transient, so
each epoch's line replaces it when the epoch ends. Reading the running loss and the pulse
counters makes the host wait for the device, so it happens a few times a second, not per step.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

REFRESH_SECONDS = 0.25


class EpochProgress:
    def __init__(self, epoch: int, n_samples: int, count_pulses, console: Console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.count_pulses = count_pulses
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} pulses/s"),
            TimeRemainingColumn(), console=console, transient=True)
        self.task = self.progress.add_task("train", total=n_samples, epoch=epoch, loss="-",
                                           rate="-")
        self.began = self.last = time.perf_counter()
        self.pulses0 = count_pulses()

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, samples_done: int, loss_sum) -> None:
        now = time.perf_counter()
        fields = {}
        if now - self.last >= REFRESH_SECONDS:
            self.last = now
            rate = (self.count_pulses() - self.pulses0) / max(now - self.began, 1e-9)
            fields = {"loss": f"{float(loss_sum) / samples_done:.4f}", "rate": f"{rate:,.0f}"}
        self.progress.update(self.task, completed=samples_done, **fields)


def epoch_progress(mode: str, console: Console | None = None):
    """A factory ``(epoch, n_samples, count_pulses) -> EpochProgress``, or None when the
    bar is off: ``none``; ``auto`` when stderr is not a terminal."""
    if mode == "none" or (mode == "auto" and console is None and not _may_be_terminal()):
        return None
    from rich.console import Console

    console = console or Console(stderr=True, force_terminal=True if mode == "bar" else None)
    if not console.is_terminal:
        return None
    return lambda epoch, n, count_pulses: EpochProgress(epoch, n, count_pulses, console)


def _may_be_terminal() -> bool:
    """Whether rich could take stderr for a terminal: a tty, or the variables that make it
    one (``TTY_COMPATIBLE=1``, a non-empty ``FORCE_COLOR``). When not, ``auto`` needs no
    rich at all, whose import costs about 0.1 s of every run's start-up."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        tty = bool(isatty and isatty())
    except ValueError:  # a closed stream
        tty = False
    return tty or os.environ.get("TTY_COMPATIBLE") == "1" or bool(os.environ.get("FORCE_COLOR"))


def pulses_so_far(model) -> int:
    """Device pulses the model's tiles have counted since their counters were last taken."""
    return sum(int(buf) for name, buf in model.named_buffers()
               if name.rpartition(".")[2] == "pulses")  # the tiles' (not cell_pulses)
