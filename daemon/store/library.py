"""The mirror of the Plex music library: replaced from a full listing, diffed set-wise in SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, func, select

from daemon.store.engine import bulk_cache, driver_cursor, put_back, set_aside
from daemon.store.tables import library_tracks

FIELDS = (
    "rating_key", "section_id", "guid", "title", "track_artist", "album_artist", "album",
    "album_year", "track_number", "disc_number", "duration_ms", "album_rating_key",
    "artist_rating_key", "album_guid", "artist_guid", "track_mbid", "album_mbid", "artist_mbid",
    "added_at", "updated_at",
)
_COMPARED = FIELDS[1:]  # everything but the key tells whether a track changed
_INTEGERS = frozenset({
    "rating_key", "section_id", "album_year", "track_number", "disc_number", "duration_ms",
    "album_rating_key", "artist_rating_key", "added_at", "updated_at",
})
BATCH = 20_000


@dataclass(frozen=True)
class LibraryDiff:
    added: list[int]
    changed: list[int]
    removed: list[int]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed),
                "removed": len(self.removed)}


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _create_incoming(conn: Connection) -> None:
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.incoming")
    columns = ", ".join(f"{c} {'INTEGER' if c in _INTEGERS else 'TEXT'}" for c in FIELDS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE incoming ({columns}, refreshed_at INTEGER, PRIMARY KEY (rating_key))"
    )


def stage_tracks(
    conn: Connection, section_id: int, tracks: Iterable[Any], refreshed_at: int
) -> int:
    """Copy a full listing (LibraryTrack records) into a temp table; return how many.

    Only the connection's temp database is written, so a slow listing (Plex over HTTP) holds
    no lock on the store. `apply_staged` on the same connection then diffs and replaces.
    """
    _create_incoming(conn)
    placeholders = ", ".join("?" for _ in FIELDS)
    insert = (f"INSERT OR REPLACE INTO temp.incoming ({', '.join(FIELDS)}, refreshed_at) "
              f"VALUES ({placeholders}, ?)")
    fields = attrgetter(*FIELDS[2:])  # one C call per track instead of 18 getattr()
    rows = ((t.rating_key, section_id, *fields(t), refreshed_at) for t in tracks)
    staged = 0
    for batch in _batches(rows):
        conn.exec_driver_sql(insert, batch)
        staged += len(batch)
    return staged


def stage_select(conn: Connection, section_id: int, setup: Sequence[str], select: str,
                 params: dict[str, Any], refreshed_at: int) -> int:
    """Like `stage_tracks`, from SQL run on this connection (over a database attached to it:
    `DatabaseLibrary.attached_tracks`): the ``setup`` statements (they may fill temp tables),
    then one SELECT whose columns are named after the LibraryTrack fields, copied by one
    INSERT ... SELECT: no Python object per track. Return how many."""
    _create_incoming(conn)
    for statement in setup:
        conn.exec_driver_sql(statement)
    picked = ", ".join(":staged_section" if c == "section_id" else f"s.{c}" for c in FIELDS)
    result = conn.exec_driver_sql(
        f"INSERT OR REPLACE INTO temp.incoming ({', '.join(FIELDS)}, refreshed_at)"
        f" SELECT {picked}, :staged_at FROM ({select}) s",
        {**params, "staged_section": section_id, "staged_at": refreshed_at})
    return int(result.rowcount)


def apply_staged(conn: Connection, section_id: int, refreshed_at: int) -> LibraryDiff:
    """Make the mirror of `section_id` equal to the staged listing; return what changed.

    The staging tables stay on the connection: `discard_staged` drops them at once (the next
    staging would replace them)."""
    with bulk_cache(conn):  # 200,000 rows through the table, its index and the FTS index
        return _apply_staged(conn, section_id, refreshed_at)


ADDED, CHANGED, REMOVED = 0, 1, 2
_FTS = "title, album_artist, track_artist, album"
FTS_TRIGGERS = ("library_fts_insert", "library_fts_delete", "library_fts_update")  # v0016


def _apply_staged(conn: Connection, section_id: int, refreshed_at: int) -> LibraryDiff:
    """Classify the staged rows against the mirror in one temp table, then write only those
    rows: deleted (removed and changed), inserted (added and changed, with `refreshed_at`),
    and their search index entries updated set-wise (the per-row triggers paused). An
    unchanged listing writes nothing at all."""
    differs = " OR ".join(f"i.{c} IS NOT l.{c}" for c in _COMPARED)
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.delta")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE delta (rating_key INTEGER PRIMARY KEY, kind INTEGER NOT NULL)")
    conn.exec_driver_sql(
        f"INSERT INTO temp.delta SELECT i.rating_key, CASE WHEN l.rating_key IS NULL"
        f" THEN {ADDED} ELSE {CHANGED} END FROM temp.incoming i LEFT JOIN library_tracks l"
        f" USING (rating_key) WHERE l.rating_key IS NULL OR {differs}")
    conn.exec_driver_sql(
        f"INSERT INTO temp.delta SELECT rating_key, {REMOVED} FROM library_tracks"
        " WHERE section_id = ? AND rating_key NOT IN (SELECT rating_key FROM temp.incoming)",
        (section_id,))
    kinds = [_delta_keys(conn, kind) for kind in (ADDED, CHANGED, REMOVED)]
    if any(kinds):
        _write_delta(conn)
    return LibraryDiff(*kinds)


def _delta_keys(conn: Connection, kind: int) -> list[int]:
    """The rating keys of one kind, in key order, through the driver's cursor (SQLAlchemy's
    per-row fetch took 0.3 s for a first mirror's 200,000 keys)."""
    rows = driver_cursor(conn, "SELECT rating_key FROM temp.delta WHERE kind = ?",
                         (kind,)).fetchall()
    return [key for (key,) in rows]  # INTEGER PRIMARY KEY: ints already


def _write_delta(conn: Connection) -> None:
    gone = f"SELECT rating_key FROM temp.delta WHERE kind IN ({CHANGED}, {REMOVED})"
    new = f"SELECT rating_key FROM temp.delta WHERE kind IN ({ADDED}, {CHANGED})"
    names = ", ".join((*FIELDS, "refreshed_at"))
    # library_fts's per-row triggers set aside (a third of a 200,000-row insert), restored
    # verbatim before the commit: no other connection ever sees the table without them
    triggers = set_aside(conn, "library_tracks", FTS_TRIGGERS)
    conn.exec_driver_sql(  # an external-content index forgets a row given its old text
        f"INSERT INTO library_fts (library_fts, rowid, {_FTS}) SELECT 'delete', rating_key,"
        f" {_FTS} FROM library_tracks WHERE rating_key IN ({gone})")
    conn.exec_driver_sql(f"DELETE FROM library_tracks WHERE rating_key IN ({gone})")
    conn.exec_driver_sql(f"INSERT INTO library_tracks ({names}) SELECT {names}"
                         f" FROM temp.incoming WHERE rating_key IN ({new})")
    conn.exec_driver_sql(f"INSERT INTO library_fts (rowid, {_FTS}) SELECT rating_key, {_FTS}"
                         f" FROM library_tracks WHERE rating_key IN ({new})")
    put_back(conn, triggers)


def discard_staged(conn: Connection) -> None:
    """Drop the staging tables of `stage_*` / `apply_staged` (with any other temp table of
    this connection) at once, outside a transaction: SQLite discards its whole temp database
    when ``temp_store`` changes (set to another mode and back), where DROP TABLE frees a
    200,000-row table page by page (0.15 s). Inside a transaction it does nothing: the next
    staging replaces them."""
    raw = conn.connection.driver_connection
    if conn.in_transaction() or not isinstance(raw, sqlite3.Connection):
        return
    (mode,) = raw.execute("PRAGMA temp_store").fetchone()
    raw.execute(f"PRAGMA temp_store = {1 if int(mode) == 2 else 2}")
    raw.execute(f"PRAGMA temp_store = {int(mode)}")


def count(conn: Connection) -> int:
    """How many library tracks are mirrored."""
    return int(conn.execute(select(func.count()).select_from(library_tracks)).scalar_one())


def tracks_by_key(conn: Connection, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Mirrored tracks by rating key (missing keys are left out)."""
    wanted = list(set(keys))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        rows = conn.execute(select(library_tracks).where(library_tracks.c.rating_key.in_(chunk)))
        for row in rows.mappings():
            found[int(row["rating_key"])] = dict(row)
    return found
