"""One writer per run folder: an exclusive lock held for the life of the run.

Two runs writing into one folder would interleave their checkpoints, metrics and summaries
and leave a folder that holds neither run. A run (new, resumed, a sweep's job, or from
``xbrun.train``) therefore takes ``<folder>/.xbrun.lock`` with ``fcntl.flock`` before it
reads or writes anything there; a second writer gets :class:`FolderInUse` (a one-line
``ConfigError``, exit 2) naming the holder's pid and host, which the file records. The
kernel drops the lock when its process ends, however it ends (a ``kill -9`` too), so a lock
file left behind by a dead run is stale by construction and the next run simply takes it.
Locks are counted per process: the CLI and the loop inside it may both hold one folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from ..errors import ConfigError

LOCK = ".xbrun.lock"

#: resolved folder -> [file descriptor, holds] of the locks this process holds
_held: dict[Path, list[int]] = {}


class FolderInUse(ConfigError):
    """Another live process holds the folder's lock."""

    def __init__(self, message: str, folder: Path):
        super().__init__(message)
        self.folder = folder


def acquire(folder: Path, key: str) -> Path:
    """Lock ``folder`` (which must exist) for this process; returns its resolved path."""
    folder = Path(folder).expanduser().resolve()
    if folder in _held:
        _held[folder][1] += 1
        return folder
    path = folder / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise ConfigError(f"{key}: cannot lock {folder} ({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUse(f"{key}: {folder} is in use by another xbrun run ({holder}); "
                              f"wait for it to end or choose another folder", folder) from None
        try:  # the previous holder may have removed the file between our open and lock
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    _held[folder] = [fd, 1]
    return folder


def release(folder: Path) -> None:
    folder = Path(folder).expanduser().resolve()
    entry = _held.get(folder)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[folder]
    with contextlib.suppress(OSError):  # removed while still held: no one can take a stale one
        (folder / LOCK).unlink()
    os.close(entry[0])


@contextlib.contextmanager
def run_lock(folder: Path, key: str):
    """Hold ``folder``'s lock inside the ``with`` block."""
    held = acquire(folder, key)
    try:
        yield held
    finally:
        release(held)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
