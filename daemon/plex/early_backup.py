"""The apply's backup of Plex's database, started ahead of the write: beside the plan.

The backup must be the state the write starts from, and durable before the write commits
(DESIGN Invariant 1). `backup_beside` takes it under the write lock, beside the write, where
it competes with the write for the disk (a revert of 100,000 plays: the copy of a 600 MB
database beside the deletes). This one starts when the apply begins, while the ledger is
checked and the plan made, and is offered to the writer, which uses it only if nothing was
committed to Plex's database from before the copy began until the writer holds the write
lock: a connection opened before the copy reads ``PRAGMA data_version`` then and again under
the lock, and SQLite changes that value for a connection whenever another one (of any
process) commits. Otherwise (a commit in between, a journal mode other than WAL, a failed
copy) the copy is deleted and the writer takes its own backup, as before. An apply that
writes nothing stops the copy and deletes it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from daemon.errors import PlexWriteError
from daemon.plex.backup import Copy, copy_database, open_plex_db, publish

log = logging.getLogger(__name__)

STEP_PAGES = 4096  # pages copied between two looks at `discard` (16 MiB of 4 KiB pages)


class _DiscardedError(Exception):
    """Raised from the copy's progress hook to stop it."""


class EarlyBackup:
    """A copy of `source` into `dest_dir` on a thread, kept under its hidden name until the
    writer `claim`s it (published) or the apply `discard`s it (deleted)."""

    def __init__(self, source: Path, dest_dir: Path, *, busy_timeout_ms: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._source, self._dest = source, dest_dir
        self._stop = threading.Event()
        self._copy: Copy | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._watch: sqlite3.Connection | None = open_plex_db(
            source, busy_timeout_ms=busy_timeout_ms, any_thread=True)
        wal = self._watch.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        self._version = self._watch.execute("PRAGMA data_version").fetchone()[0]
        self._thread: threading.Thread | None = None
        if wal:  # (another journal mode: the writer backs up first, as it always did)
            self._thread = threading.Thread(
                target=self._run, args=(busy_timeout_ms, clock), name="plexfm-early-backup",
                daemon=True)
            self._thread.start()

    @classmethod
    def start(cls, source: Path, dest_dir: Path, *, busy_timeout_ms: int = 15000
              ) -> EarlyBackup | None:
        """An early backup, or None when Plex's database cannot be opened now (the write will
        say why, or back up itself)."""
        try:
            return cls(source, dest_dir, busy_timeout_ms=busy_timeout_ms)
        except PlexWriteError as exc:
            log.debug("no early backup: %s", exc)
            return None

    def _run(self, busy_timeout_ms: int, clock: Callable[[], float]) -> None:
        try:
            self._copy = copy_database(self._source, self._dest, busy_timeout_ms=busy_timeout_ms,
                                       clock=clock, progress=self._progress, pages=STEP_PAGES)
        except BaseException as exc:  # the writer then takes its own
            self._error = exc

    def _progress(self, status: int, _remaining: int, _total: int) -> None:
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise sqlite3.OperationalError("database is locked")
        if self._stop.is_set():
            raise _DiscardedError

    def claim(self, keep: int) -> Path | None:
        """For the writer, holding the write lock: the backup (published, the oldest rotated
        out) if it is still the state of the database; None (and the copy deleted) if not."""
        with self._lock:
            if self._thread is not None:
                self._thread.join()
            copy, self._copy = self._copy, None
            current = copy is not None and self._watch is not None and \
                self._watch.execute("PRAGMA data_version").fetchone()[0] == self._version
            self._close()
            if copy is not None and current:
                return publish(copy, self._dest, keep)
            if copy is not None:
                copy[0].unlink(missing_ok=True)
                log.info("Plex's database changed since the early backup began: backed up "
                         "again under the write lock")
            elif self._error is not None and not isinstance(self._error, _DiscardedError):
                log.info("the early backup failed (%s): backed up again under the write lock",
                         self._error)
            return None

    def discard(self) -> None:
        """Stop the copy and delete it (the apply wrote nothing, or the writer took its own);
        nothing after `claim`."""
        self._stop.set()
        with self._lock:
            if self._thread is not None:
                self._thread.join()
            if self._copy is not None:
                self._copy[0].unlink(missing_ok=True)
                self._copy = None
            self._close()

    def _close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
