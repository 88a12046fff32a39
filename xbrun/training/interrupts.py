"""Ctrl-C and SIGTERM: the run stops, records status ``interrupted`` and resumes exactly.

While :func:`signals_raise` is active, SIGINT and SIGTERM raise :class:`Interrupted` (a
``KeyboardInterrupt``, so no ``except Exception`` on the way swallows it, and Python code
around ``xbrun.train`` sees the Ctrl-C it expects) in the main thread.
The loop catches it, writes ``summary.json`` with status ``interrupted`` and, when the signal
came at an epoch boundary, a final checkpoint; the command prints one line and exits 130
(SIGINT) or 143 (SIGTERM). The writes that finish an epoch (records, checkpoint, summary)
run :func:`shielded`: a signal arriving there waits for them, so the folder never holds an
epoch's metrics without its checkpoint. A resume continues from the last checkpoint, whose
state is exactly that of the uninterrupted run at that epoch.

A joblib worker (a sweep's job in another process) watches its parent: when the parent dies
the job interrupts itself the same way (:func:`die_with_parent`), instead of training on
for no one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_state = {"depth": 0, "pending": None}


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``signal_name`` says which (``SIGINT``, ...)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.run_dir = None  # set by the run it stopped
        self.epoch = None


def _handler(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _state["depth"]:
        _state["pending"] = _state["pending"] or name
        return
    raise Interrupted(name)


@contextlib.contextmanager
def signals_raise():
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only;
    elsewhere signals cannot be handled and the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def shielded():
    """Defer a signal that arrives inside the block to its end."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending = _state["pending"]
        if not _state["depth"] and pending:
            _state["pending"] = None
            raise Interrupted(pending)


def interruption(err: BaseException) -> Interrupted | None:
    """``err`` as an :class:`Interrupted` (a ``KeyboardInterrupt`` is a SIGINT), or None."""
    if isinstance(err, Interrupted):
        return err
    if isinstance(err, KeyboardInterrupt):
        return Interrupted("SIGINT")
    return None


def die_with_parent(parent: int, interval: float = 0.5) -> None:
    """In a worker process: once its parent (pid ``parent``) is gone (the worker is then
    re-parented), SIGTERM the job running here, so it stops recorded as interrupted, and end
    the worker when no job runs (an idle pool worker would otherwise wait forever). Raises
    :class:`Interrupted` at once when the parent is already gone."""
    if os.getppid() != parent:
        raise Interrupted("SIGTERM")
    if _state.get("watching") == os.getpid():
        return
    _state["watching"] = os.getpid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(interval)
        if _state.get("job"):
            os.kill(os.getpid(), signal.SIGTERM)
        while _state.get("job"):  # the job records its interruption
            threading.Event().wait(interval)
        os._exit(0)

    threading.Thread(target=watch, name="xbrun-parent-watch", daemon=True).start()


@contextlib.contextmanager
def worker_job():
    """Mark a job running in this worker (what :func:`die_with_parent` interrupts)."""
    _state["job"] = True
    try:
        yield
    finally:
        _state["job"] = False
