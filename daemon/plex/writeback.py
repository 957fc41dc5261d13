"""Writeback of a file while it is being written: what is written so far is flushed to disk on
a second thread, so the fsync that makes the file durable finds little left to do.

The backup of Plex's database (about 600 MB at a million plays) is written by SQLite's backup
API and must be durable before the apply commits (`daemon.plex.backup`). Copied whole and then
fsynced, the disk's work came after the copy's: the fsync alone took 0.2-0.5 s of a 1.0-1.6 s
backup. Flushed after every step of the copy, the disk writes while SQLite copies (the same
backup 1.0-1.2 s, its last fsync ~0 s).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class Writeback:
    """Flushes `path` (``fdatasync``) on a thread each time it is `kick`ed; at most one flush
    waits behind the running one. `close` flushes once more, stops, and returns the first
    flush error, which the caller must treat as its own write's: the data may not be on
    disk."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._wanted = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="plexfm-writeback", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Flush what is written so far, on the thread (returns at once)."""
        self._wanted.set()

    def close(self) -> OSError | None:
        self._closing = True
        self._wanted.set()
        self._thread.join()
        os.close(self._fd)
        return self._error

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            closing = self._closing
            try:
                getattr(os, "fdatasync", os.fsync)(self._fd)  # (macOS has no fdatasync)
            except OSError as exc:
                self._error = exc
                return
            if closing:
                return


@contextmanager
def flushed_while_written(path: Path) -> Iterator[Callable[[], None]]:
    """`Writeback` of `path` for the block, which calls the kick it is given after each step;
    the first flush error is raised (as the `OSError` it was) once the block is done."""
    writeback = Writeback(path)
    try:
        yield writeback.kick
    finally:
        failed = writeback.close()
    if failed is not None:
        raise failed


def fsync(path: Path, *, directory: bool = False) -> None:
    """fsync a file (or, with `directory`, a directory's entries)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
