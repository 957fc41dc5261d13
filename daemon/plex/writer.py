"""The only code that writes Plex's library database: play history rows and play counts.

Plain values in, plain values out: `PlexDatabaseWriter` knows a DB path, an account id, a busy
timeout and a clock, nothing of plexfm's store, config or scheduler.

Safety (DESIGN Invariant 1, plex-database.md §2): the connection's SQLite authorizer lets it
write only ``metadata_item_settings`` and ``metadata_item_views`` (and its own TEMP tables), so
Plex's ICU/FTS triggers on ``metadata_items``/``tags`` can never fire. Each `apply` is ONE
``BEGIN IMMEDIATE`` transaction under a busy timeout; the consistent backup is taken by a second
connection *while* that write lock is held (so the backup is exactly the state the write starts
from; in WAL mode during the write, which it cannot see, and durable before the COMMIT:
`daemon.plex.backup_beside`), every step runs set-based over TEMP tables
(`daemon.plex.playcounts`), the inserted rows are verified, any exception rolls back, and
``PRAGMA wal_checkpoint(TRUNCATE)`` is attempted after COMMIT; only then are backups past
``keep_backups`` deleted (a failure to delete is logged: the write stands). Callers serialise
applies with `FileLock` (one plexfm at a time).

Timestamps are written in the DB's own convention (`detect_timestamp_mode`): ``integer`` (Unix
seconds, ``dt_integer(8)`` columns, PMS since 2022) or ``legacy-string`` (local time
``'YYYY-MM-DD HH:MM:SS'`` in ``datetime`` columns, as PMS wrote before its 2022 migrations,
converted with this process's local time zone, which must be the server's). The declared type
of every timestamp column we write must agree with the ``typeof()`` of its values and with the
other columns of both tables; otherwise the DB is half-migrated or was edited by hand and we
refuse with one line rather than mix conventions.

Play counts (Invariants 2 and 3). For each (account, track guid) touched by an apply::

    new view_count     = max(0, old view_count + our plays added - our plays removed)
    new last_viewed_at = max(viewed_at of the guid's remaining history rows for the account,
                             old last_viewed_at unless it equals the viewed_at of a removed play)

Why not recompute the count from the history rows: Plex's count also holds plays that have no
history row (since PMS 1.40 "mark played" only bumps ``view_count``; history can be pruned), so
``count(history)`` would erase them. Adjusting by exactly our own delta keeps them, and applying
then removing the same plays restores the count exactly. ``last_viewed_at`` has no such
additive form: the latest remaining history row is the evidence we can trust, and the old value
is kept when it came from elsewhere (a mark-played, a pruned row) but dropped when it was one of
the plays being removed. Known limit: if a mark-played without history set the old value and a
later play of ours superseded it, removing our play falls back to the latest history row.
A settings row is created (``created_at``/``updated_at`` = now) when a track first gets plays;
when removing our plays leaves a row with no state at all (count 0, no last play, no rating,
offset, skips, markers), the row is deleted, so apply-then-revert leaves both tables exactly as
they were (only ``updated_at`` of surviving rows differs). Plex has no UNIQUE(account_id, guid):
with duplicates the lowest id is used (as DBRepair's de-dup keeps it) and a warning is logged.

History rows follow plex-database.md §3.4: ``grandparent_title``/``grandparent_guid`` = album
artist (the album's parent), ``parent_title`` = album, ``"index"`` = track number, ``title``,
``metadata_type`` 10, the track's ``library_section_id`` and ``guid``, ``thumb_url`` and
``device_id`` NULL, ``originally_available_at`` from the track (`daemon.plex.playcounts`
says how). ``parent_index`` (disc) has no known
source column in ``metadata_items`` (§5), so it is copied from the newest history row Plex
already holds for the same guid, else NULL. ``view_type`` (2025+ PMS, meaning unknown) is not
named, so it takes its declared DEFAULT 0, like every row PMS writes without it. ``changed_at``
is Plex's change counter, not a timestamp: advanced as Plex does (`daemon.plex.playcounts`).
History ids are assigned track by track, each track's plays in time order
(`PlayColumns.history_order`). History is read by time: Plex's history endpoint is asked for
``sort=viewedAt:desc`` (plexapi's ``history()``; plex-database.md), the table has its index on
``viewed_at``; and a backfill's ids come after Plex's own newest plays whatever their order. With
a track's rows side by side, Plex's guid and grandparent_guid indexes take each track's plays
in one place (1M plays: the insert ~1.5-3 s faster than in time order) and a later removal of
a track's plays deletes neighbouring rows.

Removal is by fingerprint, never by id alone: a row is deleted only while it still has the id,
account, guid, ``viewed_at`` and track ``metadata_type`` we wrote. A history id is not a stable
name: when Plex's database is rolled back (a restore of a backup, a repair tool), SQLite's
AUTOINCREMENT sequence goes back with it and Plex's next plays reuse the ids we had written.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

from daemon.plex.backup import (
    SETTINGS_TABLE,
    VIEWS_TABLE,
    as_plex_error,
    backup_database,
    checkpoint,
    open_plex_db,
    restore_backup,
)
from daemon.plex.backup_beside import BackupBeside
from daemon.plex.backup_rotation import rotate_backups
from daemon.plex.lock import FileLock
from daemon.plex.playcounts import TRACK_TYPE, PlayWrite, Staged
from daemon.plex.plays import Play, PlayColumns, PlayToRemove, PlayToWrite, WriteResult
from daemon.plex.timestamps import (
    detect_timestamp_mode,
    epoch_sql,
    to_db_time,
)

__all__ = [
    "FileLock", "PlayColumns", "PlayToRemove", "PlayToWrite", "PlexDatabaseWriter", "WriteResult",
    "detect_timestamp_mode", "restore_backup",
]

log = logging.getLogger(__name__)

class PlexDatabaseWriter:
    """Writes plays into one Plex library DB file for one Plex account (owner = 1)."""

    def __init__(self, path: str | Path, *, account_id: int = 1, busy_timeout_ms: int = 15000,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.account_id = account_id
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock

    def _open(self, *, writable: bool = False) -> sqlite3.Connection:
        tables = (SETTINGS_TABLE, VIEWS_TABLE) if writable else ()
        return open_plex_db(self.path, busy_timeout_ms=self.busy_timeout_ms, writable=tables)

    def timestamp_mode(self) -> str:
        """``"integer"`` or ``"legacy-string"``; `PlexWriteError` if mixed or unknown."""
        conn = self._open()
        try:
            return detect_timestamp_mode(conn)
        except sqlite3.Error as exc:
            raise as_plex_error(exc, self.path, "reading") from exc
        finally:
            conn.close()

    def native_plays(self, rating_keys: Iterable[int], *, account_id: int | None = None,
                     exclude_view_ids: Collection[int] = ()) -> dict[int, list[int]]:
        """rating_key -> sorted epoch seconds of its history rows not written by us.

        ``exclude_view_ids`` are the history ids our ledger knows; ``account_id`` defaults to
        the writer's. Keys without such plays are absent. Read-only, one snapshot, one query.
        """
        account = self.account_id if account_id is None else account_id
        conn = self._open()
        try:
            conn.execute("BEGIN")
            mode = detect_timestamp_mode(conn)
            conn.execute("CREATE TEMP TABLE plexfm_keys(rating_key INTEGER PRIMARY KEY)")
            conn.execute("CREATE TEMP TABLE plexfm_excl(id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO plexfm_keys VALUES (?)",
                             ((int(k),) for k in rating_keys))
            conn.executemany("INSERT OR IGNORE INTO plexfm_excl VALUES (?)",
                             ((int(i),) for i in exclude_view_ids))
            rows = conn.execute(
                f"SELECT k.rating_key, {epoch_sql(mode, 'v.viewed_at')} "
                "FROM plexfm_keys k JOIN main.metadata_items t ON t.id = k.rating_key "
                "JOIN main.metadata_item_views v ON v.guid = t.guid "
                "WHERE t.metadata_type = ? AND v.account_id = ? AND v.viewed_at IS NOT NULL "
                "AND v.id NOT IN (SELECT id FROM plexfm_excl)", (TRACK_TYPE, account)).fetchall()
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise as_plex_error(exc, self.path, "reading") from exc
        finally:
            conn.close()
        plays: dict[int, list[int]] = {}
        for rating_key, viewed_at in rows:
            plays.setdefault(rating_key, []).append(viewed_at)
        for times in plays.values():
            times.sort()
        return plays

    def backup(self, dest_dir: Path, *, keep: int = 7) -> Path:
        """Consistent, verified copy of the DB (WAL included) in ``dest_dir``; keeps ``keep``."""
        return backup_database(self.path, Path(dest_dir), keep=keep,
                               busy_timeout_ms=self.busy_timeout_ms, clock=self.clock)

    def apply(self, add: Sequence[Play] | PlayColumns, remove: Sequence[PlayToRemove], *,
              backup_dir: Path | None, keep_backups: int = 7,
              dry_run: bool = False, committing: Callable[[], None] | None = None,
              staged: Staged | None = None,
              committed: Callable[[WriteResult], None] | None = None) -> WriteResult:
        """Delete our ``remove`` history rows, insert ``add``, recompute counts: one transaction.

        Only ``remove`` rows that exist with exactly their fingerprint (`PlayToRemove`) for
        this account are deleted. Every play gets
        its row or nothing is written: a ``rating_key`` that is not a track (with a guid) in
        this DB refuses the whole batch, before the backup.
        ``backup_dir``: back up first (under the write lock). ``dry_run``: do everything, then
        roll back; no backup. Raises `PlexWriteError` (one line); never leaves a partial write.
        ``committing()``: called inside the transaction when only the COMMIT is left, which
        writes and syncs rather than computes (the caller may use the CPU meanwhile).
        ``staged(first_id, guids)``: called inside the transaction just before the
        history rows go in (the caller may prepare its own records meanwhile; see
        `PlayWrite.insert`).
        ``committed(result)``: called once Plex's COMMIT returned, before the WAL checkpoint
        (the caller may commit its own records meanwhile); its errors are logged, never
        raised: Plex's write is done.
        """
        import numpy as np

        plays = PlayColumns.of(add)  # (key, rating_key, viewed_at) tuples, or columns
        keys = plays.keys  # usually in order already: no sort (np.unique: 0.9 s per 1M)
        if not bool((keys[1:] > keys[:-1]).all()) and bool((np.diff(np.sort(keys)) == 0).any()):
            raise ValueError("PlayToWrite keys must be unique")
        conn = self._open(writable=True)
        try:
            # this connection's COMMIT does not checkpoint (SQLite's automatic checkpoint, at
            # 1,000 pages, copied the whole write into the database file inside the COMMIT,
            # before `committed` could run): the checkpoint below does, beside the caller's
            # own commit (not a setting of the database: this connection's only)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise as_plex_error(exc, self.path, "locking") from exc
            log.debug("Plex write transaction begun (BEGIN IMMEDIATE) on %s", self.path)
            try:
                result = self._apply_locked(conn, plays, remove, backup_dir, keep_backups,
                                            dry_run, staged=staged, committing=committing)
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise as_plex_error(exc, self.path, "writing") from exc
                raise
            if not dry_run:
                if committed is not None:
                    _call_committed(committed, result)
                checkpoint(conn)
        finally:
            conn.close()
        if result.backup is not None:  # old backups go once the write is done, not while
            _rotate(result.backup.parent, keep_backups)  # Plex's database is locked
        log.info("%s Plex's database: %d plays inserted, %d removed, %d settings rows touched "
                 "(%s timestamps)", "Dry run on" if dry_run else "Wrote", len(result.inserted),
                 len(result.deleted), result.touched_tracks, result.timestamp_mode)
        return result

    def _apply_locked(self, conn: sqlite3.Connection, add: PlayColumns,
                      remove: Sequence[PlayToRemove], backup_dir: Path | None, keep_backups: int,
                      dry_run: bool, *, staged: Staged | None,
                      committing: Callable[[], None] | None) -> WriteResult:
        mode = detect_timestamp_mode(conn)
        job = PlayWrite(conn, self.account_id, to_db_time(mode), int(self.clock()))
        job.resolve(add)  # reads and checks only: a refusal comes before the backup
        copy: BackupBeside | None = None
        if backup_dir is not None and not dry_run and (len(add) or remove):
            copy = BackupBeside(lambda: backup_database(
                self.path, Path(backup_dir), keep=keep_backups,
                busy_timeout_ms=self.busy_timeout_ms, clock=self.clock, rotate=False),
                beside=bool(conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"))
        try:
            deleted = job.remove(remove)
            inserted = job.insert(add, staged)
            touched = job.update_settings()
            if committing is not None:
                committing()
        except BaseException:
            if copy is not None:
                copy.finish()  # the write's error is the one reported
            raise
        # the COMMIT comes after the backup is durable (or never: its error rolls back)
        backup = copy.result() if copy is not None else None
        return WriteResult(inserted=inserted, deleted=deleted, touched_tracks=touched,
                           backup=backup, timestamp_mode=mode, guids=job.guids())


def _rotate(backup_dir: Path, keep: int) -> None:
    """`rotate_backups` after the write: a backup that cannot be deleted is logged, the write
    stands (deleting a 600 MB backup took 0.23 s, inside the write lock)."""
    try:
        rotate_backups(backup_dir, keep)
    except OSError as exc:
        log.warning("Old backups of Plex's database could not be removed: %s", exc)


def _call_committed(committed: Callable[[WriteResult], None], result: WriteResult) -> None:
    try:
        committed(result)
    except Exception:  # the caller finds out on its side; Plex's write stands
        log.exception("after Plex's commit, the caller's step failed")


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a failing ROLLBACK must not hide the real error
    (SQLite then rolls back itself when the connection closes, or recovers from the WAL)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.error("ROLLBACK of Plex's database failed: %s", exc)
