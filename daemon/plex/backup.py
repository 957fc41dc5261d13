"""Opening, backing up and restoring Plex's library database, each copy of one SQLite snapshot.

Plex runs its DB in WAL mode: the newest committed pages may live only in the ``-wal`` file,
so a file copy of the ``.db`` alone can be stale or torn. Every copy here is of one read
transaction's snapshot: through SQLite's online backup API, which reads the database as a
connection sees it (WAL content included), or, when that snapshot has an empty WAL and so is
the database file itself, held still by SQLite for as long as the read lasts, by the kernel
(`daemon.plex.backup_file`: a quarter of the CPU). Both copies are checked the same way.

* `open_plex_db` opens the file (never creating it) with a busy timeout and an authorizer that
  lets the connection write only the tables it is given (and its own TEMP tables): a statement
  touching anything else fails before it runs. It also checks that the file is a Plex DB.
* `backup_database` copies into ``<dest_dir>/com.plexapp.plugins.library.<UTC stamp>.db``
  through a hidden ``.partial`` file, verifies the copy (page count and the row counts of
  ``metadata_item_settings`` / ``metadata_item_views`` equal the source snapshot's; a real
  ``PRAGMA quick_check`` is impossible with stock SQLite because of Plex's ``icu_root``
  index), fsyncs it, renames it into place, fsyncs the directory and keeps the newest ``keep``
  (`daemon.plex.backup_rotation`).
* `restore_backup` copies a backup back over Plex's DB with the same API, in one step, under
  the busy timeout. Because SQLite itself writes the target (through its own WAL), the target's
  ``-wal``/``-shm`` never become stale and are left to SQLite, which removes them on close.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Collection
from pathlib import Path

from daemon.errors import PlexWriteError
from daemon.plex.backup_file import copy_still_file
from daemon.plex.backup_rotation import backup_name, rotate_backups
from daemon.plex.writeback import flushed_while_written, fsync

log = logging.getLogger(__name__)

LOCKED_MESSAGE = "Plex's database is locked by another process (is Plex running?)"
SETTINGS_TABLE = "metadata_item_settings"
VIEWS_TABLE = "metadata_item_views"
PLEX_TABLES = ("metadata_items", SETTINGS_TABLE, VIEWS_TABLE)
WRITEBACK_PAGES = 8192  # pages copied per backup step, each followed by a flush (32 MiB)
_WRITE_ACTIONS = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_TEMP_DDL = frozenset({
    sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_INDEX,
})
# The only PRAGMAs our connections run (reads of table_info/page_count included).
_PRAGMAS = frozenset({"busy_timeout", "temp_store", "cache_size", "wal_checkpoint", "table_info",
                      "page_count", "page_size", "wal_autocheckpoint"})
_SCHEMA_DDL = frozenset({
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_ALTER_TABLE,
    sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_ATTACH,
    sqlite3.SQLITE_DETACH,
})


def is_locked(exc: BaseException) -> bool:
    """True when SQLite gave up waiting for a lock (another process holds the database)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def as_plex_error(exc: sqlite3.Error, path: Path, doing: str) -> PlexWriteError:
    """One-line `PlexWriteError` for an SQLite error raised while ``doing`` something."""
    if is_locked(exc):
        return PlexWriteError(LOCKED_MESSAGE)
    if "not a database" in str(exc):
        return PlexWriteError(f"not a Plex library database: {path}")
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PlexWriteError(f"{doing} Plex's database {path} failed: {first_line}")


def _authorizer(writable: Collection[str]) -> Callable[[int, str | None, str | None,
                                                         str | None, str | None], int]:
    """An SQLite authorizer: writes only to ``writable`` tables of main or to TEMP; no schema
    changes, no ATTACH, and only the PRAGMAs this package uses."""
    allowed = frozenset(writable)

    def check(action: int, arg1: str | None, arg2: str | None, db: str | None,
              _trigger: str | None) -> int:
        if action in _WRITE_ACTIONS and db != "temp" and arg1 not in allowed:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and arg1 == "journal_mode" and arg2 is None:
            return sqlite3.SQLITE_OK  # reading the mode (the writer asks: WAL or not)
        if action in _SCHEMA_DDL or (action == sqlite3.SQLITE_PRAGMA and arg1 not in _PRAGMAS):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return check


def open_plex_db(path: Path, *, busy_timeout_ms: int,
                 writable: Collection[str] = ()) -> sqlite3.Connection:
    """Open Plex's existing DB (autocommit mode: transactions are explicit) or raise one line.

    Only ``writable`` tables (and TEMP tables) can be written through the connection.
    """
    if not path.is_file():
        raise PlexWriteError(f"Plex's database not found: {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                               isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise as_plex_error(exc, path, "opening") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA temp_store = MEMORY")
        names = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        conn.close()
        raise as_plex_error(exc, path, "reading") from exc
    missing = [t for t in PLEX_TABLES if t not in names]
    if missing:
        conn.close()
        raise PlexWriteError(f"not a Plex library database: {path} (no {', '.join(missing)})")
    conn.set_authorizer(_authorizer(writable))
    return conn


def _snapshot(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(page_count, settings rows, views rows) as this connection sees the database."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    row = conn.execute(f"SELECT (SELECT count(*) FROM {SETTINGS_TABLE}), "
                       f"(SELECT count(*) FROM {VIEWS_TABLE})").fetchone()
    return int(pages), int(row[0]), int(row[1])


def _read_only(path: Path) -> sqlite3.Connection:
    """A lock-free read of a file nobody else writes (a backup): no side files created."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def backup_database(source: Path, dest_dir: Path, *, keep: int, busy_timeout_ms: int,
                    clock: Callable[[], float] = time.time, rotate: bool = True) -> Path:
    """Consistent, verified, fsynced copy of ``source`` into ``dest_dir``; returns its path.
    Then the newest ``keep`` are kept, unless not ``rotate`` (the caller rotates later)."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = backup_name(dest_dir, clock())
    partial = dest_dir / f".{final.name}.partial"
    partial.unlink(missing_ok=True)
    src = open_plex_db(source, busy_timeout_ms=busy_timeout_ms)
    try:
        src.execute("BEGIN")  # one read snapshot for the counts and the copy
        expected = _snapshot(src)
        page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
        if not copy_still_file(source, partial, length=expected[0] * page_size,
                               step=WRITEBACK_PAGES * page_size):
            _copy_through_sqlite(src, partial)
        src.execute("COMMIT")
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise as_plex_error(exc, source, "backing up") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    try:
        _verify_copy(partial, expected)
        fsync(partial)
        partial.replace(final)
        fsync(dest_dir, directory=True)
    except OSError as exc:  # (the fsync: the copy may not be on disk)
        partial.unlink(missing_ok=True)
        raise PlexWriteError(f"backup copy {partial} could not be written: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("Backed up Plex's database to %s (%d pages, %d settings rows, %d history rows)",
             final, *expected)
    if rotate:
        rotate_backups(dest_dir, keep)
    return final


def _copy_through_sqlite(src: sqlite3.Connection, partial: Path) -> None:
    """SQLite's backup API from ``src``'s snapshot (``-wal`` content included) into
    ``partial``, flushed as it is copied (`daemon.plex.writeback`)."""
    dst = sqlite3.connect(partial)
    try:  # durability comes from the fsync after it; a torn .partial is simply deleted
        dst.execute("PRAGMA synchronous = OFF")
        dst.execute("PRAGMA journal_mode = OFF")
        with flushed_while_written(partial) as kick:
            src.backup(dst, pages=WRITEBACK_PAGES, progress=lambda status, left, total:
                       _step_done(status, left, total, kick))
    except OSError as exc:  # a flush's
        raise PlexWriteError(f"backup copy {partial} could not be written: {exc}") from exc
    finally:
        dst.close()


def _give_up_when_busy(status: int, _remaining: int, _total: int) -> None:
    """Backup progress hook: Python's backup loop retries BUSY forever; stop after the timeout."""
    if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        raise sqlite3.OperationalError("database is locked")


def _step_done(status: int, remaining: int, total: int, kick: Callable[[], None]) -> None:
    """The backup's progress hook (`_give_up_when_busy`), then the pages copied are flushed."""
    _give_up_when_busy(status, remaining, total)
    kick()


def _verify_copy(copy: Path, expected: tuple[int, int, int]) -> None:
    conn = _read_only(copy)
    try:
        got = _snapshot(conn)
    except sqlite3.Error as exc:
        raise PlexWriteError(f"backup copy {copy} is unreadable: {exc}") from exc
    finally:
        conn.close()
    if got != expected:
        raise PlexWriteError(f"backup copy {copy} does not match Plex's database "
                             f"(pages, settings, history: {got} != {expected})")


def restore_backup(backup: Path, target: Path, *, busy_timeout_ms: int = 15000) -> None:
    """Replace Plex's database ``target`` with ``backup``, in one step (stop Plex first).

    The copy goes through SQLite's backup API into the target, so it is atomic for SQLite
    readers and the target keeps its journal mode; it fails cleanly (one line, nothing
    changed) when the target is locked beyond the busy timeout.
    """
    backup, target = Path(backup), Path(target)
    if not backup.is_file():
        raise PlexWriteError(f"backup not found: {backup}")
    if not target.parent.is_dir():
        raise PlexWriteError(f"Plex's database directory not found: {target.parent}")
    src = _read_only(backup)
    try:
        expected = _snapshot(src)
    except sqlite3.Error as exc:
        src.close()
        raise PlexWriteError(f"not a Plex library database backup: {backup}") from exc
    try:
        dst = sqlite3.connect(target, isolation_level=None, timeout=busy_timeout_ms / 1000)
        try:
            dst.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            src.backup(dst, progress=_give_up_when_busy)
            got = _snapshot(dst)
            checkpoint(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise as_plex_error(exc, target, "restoring") from exc
    finally:
        src.close()
    if got != expected:
        raise PlexWriteError(f"restored database {target} does not match {backup}")
    log.info("Restored Plex's database %s from %s", target, backup)


def checkpoint(conn: sqlite3.Connection) -> None:
    """``PRAGMA wal_checkpoint(TRUNCATE)``; failing to checkpoint is not an error."""
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        log.warning("WAL checkpoint of Plex's database failed (not an error): %s", exc)
        return
    if busy:
        log.info("WAL checkpoint of Plex's database was blocked by a reader (not an error)")

