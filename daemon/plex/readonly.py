"""Reading Plex's SQLite file strictly read-only, without leaving anything behind.

Plex keeps its DB in WAL mode and may have it open while we read. How a read opens the file:

* a ``-wal`` (or ``-shm``/``-journal``) file exists, or the DB is not in WAL mode: SQLite URI
  ``file:...?mode=ro&immutable=0`` with a busy timeout, in one read transaction, so the reader
  sees what Plex committed to the WAL and waits politely for locks. (SQLite's ``mode=ro`` on a
  WAL database creates ``-wal``/``-shm`` when they are missing; here they already exist.)
* WAL mode and no side file at all: nobody has the DB open, and a locking reader would leave a
  ``-wal`` and ``-shm`` behind next to the user's DB. So the read uses ``immutable=1`` (no locks,
  no side files) and then checks the file did not change meanwhile (no side file appeared;
  inode, size, mtime and ctime equal); if it did, the read is repeated the locking way.

The connection is also ``PRAGMA query_only``: nothing here can write Plex's DB even by mistake.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

from daemon.errors import PlexError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_FORMAT = 2  # header bytes 18/19 (file format write/read version): 1 rollback, 2 WAL
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


class FileState(NamedTuple):
    """What tells whether the DB file changed, and whether anyone has it open in WAL mode."""

    side_files: tuple[str, ...]
    wal_format: bool
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @property
    def unopened_wal(self) -> bool:
        """True when the DB is in WAL mode and no process has side files next to it."""
        return self.wal_format and not self.side_files


def file_state(path: Path) -> FileState:
    """Stat the DB and its side files; `PlexError` when it is no SQLite file, OSError when it
    cannot be read."""
    with path.open("rb") as f:
        header = f.read(100)
        st = os.fstat(f.fileno())
    if not header.startswith(SQLITE_MAGIC):
        raise PlexError(f"{path} is not a Plex database (not an SQLite file)")
    side = tuple(s for s in SIDE_SUFFIXES if os.path.exists(f"{path}{s}"))
    wal = len(header) >= 20 and header[18] == WAL_FORMAT and header[19] == WAL_FORMAT
    return FileState(side, wal, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ReadOnlyDatabase:
    """One SQLite file opened read-only for each `read` (see the module doc)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 15000) -> None:
        self.path = Path(path)
        self._busy_timeout_s = max(busy_timeout_ms, 0) / 1000

    def state(self) -> FileState:
        """The file's `FileState`; `PlexError` (one line) when it cannot be read."""
        try:
            return file_state(self.path)
        except OSError as exc:
            raise PlexError(f"cannot read Plex database {self.path}: "
                            f"{exc.strerror or type(exc).__name__}") from None

    def read(self, work: Callable[[sqlite3.Connection], _T], *,
             setup: Callable[[sqlite3.Connection], None] | None = None) -> _T:
        """Run ``work`` in one read transaction and return its result; ``setup`` runs on the
        connection before the transaction starts (e.g. to ATTACH another database read-only,
        which SQLite refuses inside a transaction)."""
        return self._lock_free_first(lambda immutable: self._run(work, setup,
                                                                 immutable=immutable))

    def read_attached(self, conn: sqlite3.Connection, schema: str,
                      work: Callable[[], _T]) -> _T:
        """Run ``work`` while the file is attached to ``conn`` (another database's connection,
        in no transaction, opened with URI filenames allowed) as ``schema``, read-only.

        The same choice as `read` between a lock-free and a locking read, the same check that
        the file did not change meanwhile, the same one-line `PlexError` for an SQLite error
        (also one that ``work``'s database layer wrapped with the error as ``orig``).
        ``work`` must do its reads of ``schema`` in one transaction of ``conn`` and may be
        called twice; nothing can write the attached file (``mode=ro``)."""
        return self._lock_free_first(lambda immutable: self._attached(conn, schema, work,
                                                                      immutable=immutable))

    def _lock_free_first(self, attempt: Callable[[bool], _T]) -> _T:
        """``attempt(immutable=True)`` (lock-free) when nobody has the file open and it is
        unchanged afterwards; else, or when it failed, ``attempt(immutable=False)``."""
        before = self.state()
        if before.unopened_wal:
            try:
                result = attempt(True)
                if self.state() == before:
                    return result
            except PlexError as exc:  # e.g. a page changed under the lock-free reader
                log.debug("lock-free read of %s failed: %s", self.path, exc)
            log.info("Plex DB %s changed during a lock-free read; reading again with locks",
                     self.path)
        return attempt(False)

    def _attached(self, conn: sqlite3.Connection, schema: str, work: Callable[[], _T], *,
                  immutable: bool) -> _T:
        (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute(f"ATTACH DATABASE ? AS {schema}", (self._uri(immutable),))
        except sqlite3.Error as exc:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
            raise PlexError(f"cannot open Plex database {self.path}: {exc}") from None
        try:
            return work()
        except Exception as exc:
            cause = exc if isinstance(exc, sqlite3.Error) else getattr(exc, "orig", None)
            if not isinstance(cause, sqlite3.Error):
                raise
            raise PlexError(f"cannot read Plex database {self.path}: {cause}") from None
        finally:
            conn.execute(f"DETACH DATABASE {schema}")
            conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")

    def _uri(self, immutable: bool) -> str:
        return f"{self.path.absolute().as_uri()}?mode=ro&immutable={int(immutable)}"

    def _run(self, work: Callable[[sqlite3.Connection], _T],
             setup: Callable[[sqlite3.Connection], None] | None, *, immutable: bool) -> _T:
        uri = self._uri(immutable)
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s,
                                   isolation_level=None)
        except sqlite3.Error as exc:
            raise PlexError(f"cannot open Plex database {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA query_only = ON")
            if setup is not None:
                setup(conn)
            conn.execute("BEGIN")
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise PlexError(f"cannot read Plex database {self.path}: {exc}") from None
        finally:
            conn.close()
