"""The only code that writes Plex's library database: play history rows and play counts.

Plain values in, plain values out: `PlexDatabaseWriter` knows a DB path, an account id, a busy
timeout and a clock, nothing of plexfm's store, config or scheduler.

Safety (DESIGN Invariant 1, plex-database.md §2): the connection's SQLite authorizer lets it
write only ``metadata_item_settings`` and ``metadata_item_views`` (and its own TEMP tables), so
Plex's ICU/FTS triggers on ``metadata_items``/``tags`` can never fire. Each `apply` is ONE
``BEGIN IMMEDIATE`` transaction under a busy timeout; the consistent backup is taken by a second
connection *while* that write lock is held (so the backup is exactly the state the write starts
from), every step runs set-based over TEMP tables, the inserted rows are verified, any
exception rolls back, and ``PRAGMA wal_checkpoint(TRUNCATE)`` is attempted after COMMIT.

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
``metadata_type`` 10, the track's ``library_section_id`` and ``guid``, ``thumb_url``,
``originally_available_at`` and ``device_id`` NULL. ``parent_index`` (disc) has no known
source column in ``metadata_items`` (§5), so it is copied from the newest history row Plex
already holds for the same guid, else NULL. ``view_type`` (2025+ PMS, meaning unknown) is not
named, so it takes its declared DEFAULT 0, like every row PMS writes without it. ``changed_at``
is a change-sequence counter, not a timestamp (§1.4): never set (new rows take DEFAULT 0).
History ids are assigned in (viewed_at, key) order, so they are chronological like Plex's.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import PlexWriteError
from daemon.plex.backup import (
    SETTINGS_TABLE,
    VIEWS_TABLE,
    as_plex_error,
    backup_database,
    checkpoint,
    open_plex_db,
    restore_backup,
)
from daemon.plex.lock import FileLock

__all__ = [
    "FileLock", "PlayToWrite", "PlexDatabaseWriter", "WriteResult", "detect_timestamp_mode",
    "restore_backup",
]

log = logging.getLogger(__name__)

INTEGER_MODE = "integer"
LEGACY_MODE = "legacy-string"
TIMESTAMP_COLUMNS = {SETTINGS_TABLE: ("last_viewed_at", "created_at", "updated_at"),
                     VIEWS_TABLE: ("viewed_at",)}
INDEXED_TIMESTAMPS = frozenset({(VIEWS_TABLE, "viewed_at")})
LEGACY_GLOB = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*"
LEGACY_FORMAT = "%Y-%m-%d %H:%M:%S"
TRACK_TYPE = 10
CACHE_KIB = 131072  # page cache of the write connection: big batches touch big indexes


@dataclass(frozen=True)
class PlayToWrite:
    """One scrobble to insert as a Plex history row."""

    key: int  # caller's id for this play (our scrobble id), echoed back
    rating_key: int  # metadata_items.id of the track
    viewed_at: int  # epoch seconds (UTC)


@dataclass(frozen=True)
class WriteResult:
    """What one `PlexDatabaseWriter.apply` did (or, for a dry run, would have done)."""

    inserted: dict[int, int]  # key -> metadata_item_views.id created
    deleted: list[int]  # view ids deleted
    touched_tracks: int  # settings rows updated or created
    backup: Path | None
    timestamp_mode: str  # "integer" or "legacy-string"


def _declared_mode(declared: str) -> str | None:
    text = declared.lower()
    if "int" in text:
        return INTEGER_MODE
    if "date" in text or "time" in text:
        return LEGACY_MODE
    return None


def _types_mode(types: set[str]) -> str | None:
    if not types:
        return None
    if types <= {"integer", "real"}:
        return INTEGER_MODE
    return LEGACY_MODE if types == {"text"} else "mixed"


def _values_mode(conn: sqlite3.Connection, table: str, column: str) -> str | None:
    """The convention of a column's non-NULL values, "mixed", or None when there are none."""
    if (table, column) in INDEXED_TIMESTAMPS:  # index order: numbers < text < blobs
        lo_type, hi_type, lo_ok, hi_ok = conn.execute(
            f'SELECT typeof((SELECT min("{column}") FROM "{table}")), '
            f'typeof((SELECT max("{column}") FROM "{table}")), '
            f'(SELECT min("{column}") FROM "{table}") GLOB :g, '
            f'(SELECT max("{column}") FROM "{table}") GLOB :g', {"g": LEGACY_GLOB}).fetchone()
        types = {t for t in (lo_type, hi_type) if t != "null"}
        bad_text = (lo_type == "text" and not lo_ok) or (hi_type == "text" and not hi_ok)
    else:
        types = {row[0] for row in conn.execute(
            f'SELECT DISTINCT typeof("{column}") FROM "{table}" WHERE "{column}" IS NOT NULL')}
        bad_text = "text" in types and conn.execute(
            f'SELECT 1 FROM "{table}" WHERE typeof("{column}") = \'text\' '
            f'AND "{column}" NOT GLOB ? LIMIT 1', (LEGACY_GLOB,)).fetchone() is not None
    if bad_text:
        raise PlexWriteError(f"{table}.{column} holds text that is not a Plex timestamp; "
                             "refusing to write")
    return _types_mode(types)


def detect_timestamp_mode(conn: sqlite3.Connection) -> str:
    """The DB's timestamp convention, checked column by column; `PlexWriteError` if unclear."""
    found: dict[str, str] = {}
    for table, columns in TIMESTAMP_COLUMNS.items():
        declared = {row[1]: str(row[2]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
        for column in columns:
            name = f"{table}.{column}"
            if column not in declared:
                raise PlexWriteError(f"Plex's {table} has no {column} column; refusing to write")
            mode = _declared_mode(declared[column])
            values = _values_mode(conn, table, column)
            if mode is None:
                raise PlexWriteError(f"{name} has an unknown timestamp type "
                                     f"{declared[column]!r}; refusing to write")
            if values == "mixed":
                raise PlexWriteError(f"{name} mixes integer and text timestamps; "
                                     "refusing to write")
            if values is not None and values != mode:
                raise PlexWriteError(f"{name} is declared {declared[column]} but holds "
                                     f"{values} timestamps; refusing to write")
            found[name] = mode
    if len(set(found.values())) > 1:
        detail = ", ".join(f"{name} {mode}" for name, mode in found.items())
        raise PlexWriteError(f"Plex's timestamps are mixed ({detail}); refusing to write")
    return next(iter(found.values()))


def to_db_time(mode: str) -> Callable[[int], int | str]:
    """Epoch seconds -> the DB's convention (legacy: local time of this process)."""
    if mode == INTEGER_MODE:
        return int
    return lambda epoch: time.strftime(LEGACY_FORMAT, time.localtime(epoch))


def epoch_sql(mode: str, expr: str) -> str:
    """SQL turning a timestamp column of the DB's convention into epoch seconds."""
    if mode == INTEGER_MODE:
        return f"CAST({expr} AS INTEGER)"
    return f"CAST(strftime('%s', {expr}, 'utc') AS INTEGER)"


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

    def apply(self, add: Sequence[PlayToWrite], remove: Sequence[int], *,
              backup_dir: Path | None, keep_backups: int = 7,
              dry_run: bool = False) -> WriteResult:
        """Delete our ``remove`` history ids, insert ``add``, recompute counts: one transaction.

        Only ``remove`` ids that exist and belong to the account are deleted. Every play gets
        its row or nothing is written: a ``rating_key`` that is not a track (with a guid) in
        this DB refuses the whole batch, before the backup.
        ``backup_dir``: back up first (under the write lock). ``dry_run``: do everything, then
        roll back; no backup. Raises `PlexWriteError` (one line); never leaves a partial write.
        """
        keys = [p.key for p in add]
        if len(set(keys)) != len(keys):
            raise ValueError("PlayToWrite keys must be unique")
        conn = self._open(writable=True)
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise as_plex_error(exc, self.path, "locking") from exc
            log.debug("Plex write transaction begun (BEGIN IMMEDIATE) on %s", self.path)
            try:
                result = self._apply_locked(conn, add, remove, backup_dir, keep_backups, dry_run)
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise as_plex_error(exc, self.path, "writing") from exc
                raise
            if not dry_run:
                checkpoint(conn)
        finally:
            conn.close()
        log.info("%s Plex's database: %d plays inserted, %d removed, %d settings rows touched "
                 "(%s timestamps)", "Dry run on" if dry_run else "Wrote", len(result.inserted),
                 len(result.deleted), result.touched_tracks, result.timestamp_mode)
        return result

    def _apply_locked(self, conn: sqlite3.Connection, add: Sequence[PlayToWrite],
                      remove: Sequence[int], backup_dir: Path | None, keep_backups: int,
                      dry_run: bool) -> WriteResult:
        mode = detect_timestamp_mode(conn)
        job = _PlayWrite(conn, self.account_id, to_db_time(mode), int(self.clock()))
        job.resolve(add)  # reads and checks only: a refusal comes before the backup
        backup = None
        if backup_dir is not None and not dry_run and (add or remove):
            backup = backup_database(self.path, Path(backup_dir), keep=keep_backups,
                                     busy_timeout_ms=self.busy_timeout_ms, clock=self.clock)
        deleted = job.remove(remove)
        inserted = job.insert(add)
        touched = job.update_settings()
        return WriteResult(inserted=inserted, deleted=deleted, touched_tracks=touched,
                           backup=backup, timestamp_mode=mode)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a failing ROLLBACK must not hide the real error
    (SQLite then rolls back itself when the connection closes, or recovers from the WAL)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.error("ROLLBACK of Plex's database failed: %s", exc)


VIEW_COLUMNS = ("account_id", "guid", "metadata_type", "library_section_id", "grandparent_title",
                "parent_index", "parent_title", "index", "title", "thumb_url", "viewed_at",
                "grandparent_guid", "originally_available_at", "device_id")
# metadata_item_settings columns that hold a user's state; a row whose state is all empty is
# the same as no row. A column not listed here (a newer PMS) means: never delete rows.
SETTINGS_STATE = {"rating": "{c} IS NULL", "view_offset": "coalesce({c}, 0) = 0",
                  "view_count": "coalesce({c}, 0) = 0", "last_viewed_at": "{c} IS NULL",
                  "skip_count": "coalesce({c}, 0) = 0", "last_skipped_at": "{c} IS NULL",
                  "extra_data": "coalesce({c}, '') = ''", "last_rated_at": "{c} IS NULL"}
SETTINGS_BOOKKEEPING = frozenset({"id", "account_id", "guid", "created_at", "updated_at",
                                  "changed_at"})


class _PlayWrite:
    """The set-based steps of one apply, on a connection inside BEGIN IMMEDIATE."""

    def __init__(self, conn: sqlite3.Connection, account_id: int,
                 to_db: Callable[[int], int | str], now: int) -> None:
        self.conn = conn
        self.account = account_id
        self.to_db = to_db
        self.now = to_db(now)
        conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        conn.execute("CREATE TEMP TABLE plexfm_rm(id INTEGER PRIMARY KEY, guid TEXT, viewed_at)")
        conn.execute("CREATE TEMP TABLE plexfm_add(seq INTEGER PRIMARY KEY, "
                     "rating_key INTEGER NOT NULL, viewed_at NOT NULL)")
        conn.execute("CREATE TEMP TABLE plexfm_track(rating_key INTEGER PRIMARY KEY, "
                     "guid TEXT NOT NULL, section INTEGER, title TEXT, idx INTEGER, album TEXT, "
                     "artist TEXT, artist_guid TEXT, parent_index INTEGER)")

    def remove(self, view_ids: Sequence[int]) -> list[int]:
        """Delete those of ``view_ids`` that exist for the account; returns the ids deleted."""
        conn = self.conn
        conn.execute("CREATE TEMP TABLE plexfm_rm_in(id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO plexfm_rm_in VALUES (?)",
                         ((int(i),) for i in view_ids))
        conn.execute("INSERT INTO plexfm_rm SELECT v.id, v.guid, v.viewed_at FROM plexfm_rm_in r "
                     "JOIN main.metadata_item_views v ON v.id = r.id WHERE v.account_id = ?",
                     (self.account,))
        conn.execute("CREATE INDEX temp.plexfm_rm_guid ON plexfm_rm(guid, viewed_at)")
        deleted = [row[0] for row in conn.execute("SELECT id FROM plexfm_rm ORDER BY id")]
        gone = conn.execute("DELETE FROM main.metadata_item_views "
                            "WHERE id IN (SELECT id FROM plexfm_rm)").rowcount
        if gone != len(deleted):
            raise PlexWriteError(f"deleted {gone} history rows, expected {len(deleted)}")
        requested = conn.execute("SELECT count(*) FROM plexfm_rm_in").fetchone()[0]
        if requested > len(deleted):
            log.info("%d history ids to remove were already gone or not account %d's",
                     requested - len(deleted), self.account)
        return deleted

    def resolve(self, plays: Sequence[PlayToWrite]) -> None:
        """Look up the plays' tracks (TEMP tables only); refuse keys that are no tracks."""
        conn = self.conn
        conn.execute("CREATE TEMP TABLE plexfm_keys(rating_key INTEGER PRIMARY KEY, plays INT)")
        per_track = Counter(p.rating_key for p in plays)
        conn.executemany("INSERT INTO plexfm_keys VALUES (?, ?)",
                         ((int(k), n) for k, n in per_track.items()))
        conn.execute(
            "INSERT INTO plexfm_track SELECT t.id, t.guid, t.library_section_id, t.title, "
            't."index", al.title, ar.title, ar.guid, NULL FROM plexfm_keys k '
            "JOIN main.metadata_items t ON t.id = k.rating_key "
            "LEFT JOIN main.metadata_items al ON al.id = t.parent_id "
            "LEFT JOIN main.metadata_items ar ON ar.id = al.parent_id "
            "WHERE t.metadata_type = ? AND coalesce(t.guid, '') != ''", (TRACK_TYPE,))
        conn.execute("UPDATE plexfm_track SET parent_index = (SELECT v.parent_index "
                     "FROM main.metadata_item_views v WHERE v.guid = plexfm_track.guid "
                     "AND v.parent_index IS NOT NULL ORDER BY v.id DESC LIMIT 1)")
        unknown = [row[0] for row in conn.execute(
            "SELECT rating_key FROM plexfm_keys WHERE rating_key NOT IN "
            "(SELECT rating_key FROM plexfm_track) ORDER BY rating_key LIMIT 5")]
        if unknown:
            missing = conn.execute("SELECT sum(plays) FROM plexfm_keys WHERE rating_key NOT IN "
                                   "(SELECT rating_key FROM plexfm_track)").fetchone()[0]
            raise PlexWriteError(
                f"{missing} plays name rating keys that are not tracks in Plex's database "
                f"(e.g. {', '.join(map(str, unknown))}); nothing written")

    def insert(self, plays: Sequence[PlayToWrite]) -> dict[int, int]:
        """Insert one history row per (resolved) play; returns key -> new view id."""
        conn = self.conn
        todo = sorted(plays, key=lambda p: (p.viewed_at, p.key))
        if not todo:
            return {}
        to_db = self.to_db
        conn.executemany("INSERT INTO plexfm_add VALUES (?, ?, ?)",
                         ((n, p.rating_key, to_db(p.viewed_at)) for n, p in enumerate(todo, 1)))
        columns = ", ".join(f'"{c}"' for c in VIEW_COLUMNS)
        conn.execute(
            f"INSERT INTO main.metadata_item_views ({columns}) SELECT ?, t.guid, ?, t.section, "
            "t.artist, t.parent_index, t.album, t.idx, t.title, NULL, a.viewed_at, "
            "t.artist_guid, NULL, NULL FROM plexfm_add a "
            "JOIN plexfm_track t ON t.rating_key = a.rating_key ORDER BY a.seq",
            (self.account, TRACK_TYPE))
        first = self._verify_inserted(len(todo))
        return {p.key: first + n for n, p in enumerate(todo)}

    def _verify_inserted(self, count: int) -> int:
        """Check the new rows are ids first..first+count-1 in seq order; returns first."""
        conn = self.conn
        last = conn.execute("SELECT max(id) FROM main.metadata_item_views").fetchone()[0]
        first = int(last) - count + 1
        matching = conn.execute(
            "SELECT count(*) FROM plexfm_add a JOIN plexfm_track t ON t.rating_key = a.rating_key"
            " JOIN main.metadata_item_views v ON v.id = :first + a.seq - 1 WHERE v.guid = t.guid"
            " AND v.viewed_at = a.viewed_at AND v.account_id = :account",
            {"first": first, "account": self.account}).fetchone()[0]
        newer = conn.execute("SELECT count(*) FROM main.metadata_item_views WHERE id >= ?",
                             (first,)).fetchone()[0]
        if matching != count or newer != count:
            raise PlexWriteError("inserted history rows did not get consecutive ids; "
                                 "rolled back")
        return first

    def update_settings(self) -> int:
        """Recompute view_count/last_viewed_at of every touched guid; returns rows touched."""
        conn, account = self.conn, {"account": self.account, "now": self.now}
        conn.execute("CREATE TEMP TABLE plexfm_guid(guid TEXT PRIMARY KEY, added INT DEFAULT 0, "
                     "removed INT DEFAULT 0, sid INT, nrows INT DEFAULT 0, old_count INT, "
                     "old_last, new_count INT, new_last)")
        conn.execute("INSERT INTO plexfm_guid(guid, added) SELECT t.guid, sum(k.plays) "
                     "FROM plexfm_track t JOIN plexfm_keys k ON k.rating_key = t.rating_key "
                     "GROUP BY t.guid")
        conn.execute("INSERT INTO plexfm_guid(guid, removed) SELECT guid, count(*) FROM plexfm_rm "
                     "WHERE guid IS NOT NULL GROUP BY guid "
                     "ON CONFLICT(guid) DO UPDATE SET removed = excluded.removed")
        conn.execute(
            "UPDATE plexfm_guid SET sid = s.sid, nrows = s.n FROM (SELECT guid, min(id) AS sid, "
            "count(*) AS n FROM main.metadata_item_settings WHERE account_id = :account "
            "AND guid IN (SELECT guid FROM plexfm_guid) GROUP BY guid) s "
            "WHERE s.guid = plexfm_guid.guid", account)
        conn.execute("UPDATE plexfm_guid SET old_count = s.view_count, old_last = s.last_viewed_at "
                     "FROM main.metadata_item_settings s WHERE s.id = plexfm_guid.sid")
        conn.execute(
            "UPDATE plexfm_guid SET new_count = max(0, coalesce(old_count, 0) + added - removed), "
            "new_last = (SELECT max(v.viewed_at) FROM main.metadata_item_views v "
            "WHERE v.guid = plexfm_guid.guid AND v.account_id = :account)", account)
        conn.execute(
            "UPDATE plexfm_guid SET new_last = old_last WHERE old_last IS NOT NULL "
            "AND (new_last IS NULL OR old_last > new_last) AND NOT EXISTS (SELECT 1 FROM "
            "plexfm_rm r WHERE r.guid = plexfm_guid.guid AND r.viewed_at = plexfm_guid.old_last)")
        self._log_duplicates()
        touched = conn.execute(
            "UPDATE main.metadata_item_settings SET view_count = g.new_count, "
            "last_viewed_at = g.new_last, updated_at = :now FROM plexfm_guid g "
            "WHERE metadata_item_settings.id = g.sid", account).rowcount
        touched += conn.execute(
            "INSERT INTO main.metadata_item_settings (account_id, guid, view_count, "
            "last_viewed_at, created_at, updated_at) SELECT :account, guid, new_count, new_last, "
            ":now, :now FROM plexfm_guid WHERE sid IS NULL AND new_count > 0 ORDER BY guid",
            account).rowcount
        self._delete_empty_settings()
        return touched

    def _log_duplicates(self) -> None:
        dup = self.conn.execute("SELECT count(*), min(guid) FROM plexfm_guid "
                                "WHERE nrows > 1").fetchone()
        if dup[0]:
            log.warning("%d tracks have duplicate metadata_item_settings rows for account %d "
                        "(e.g. %s); updated the lowest id of each", dup[0], self.account, dup[1])

    def _delete_empty_settings(self) -> None:
        """Delete settings rows our removals left without any state (see module docstring)."""
        conn = self.conn
        columns = {row[1] for row in conn.execute("PRAGMA main.table_info(metadata_item_settings)")}
        if not columns <= SETTINGS_BOOKKEEPING | SETTINGS_STATE.keys():
            return
        empty = " AND ".join(SETTINGS_STATE[c].format(c=f's."{c}"')
                             for c in sorted(columns & SETTINGS_STATE.keys()))
        markers = {row[1] for row in conn.execute(
            "PRAGMA main.table_info(metadata_item_setting_markers)")}
        if markers and "metadata_item_setting_id" not in markers:
            return
        if markers:
            empty += (" AND NOT EXISTS (SELECT 1 FROM main.metadata_item_setting_markers m "
                      "WHERE m.metadata_item_setting_id = s.id)")
        conn.execute(
            f"DELETE FROM main.metadata_item_settings WHERE id IN (SELECT s.id FROM "
            f"main.metadata_item_settings s JOIN plexfm_guid g ON g.sid = s.id WHERE g.removed > 0"
            f" AND g.added = 0 AND g.nrows = 1 AND {empty})")
