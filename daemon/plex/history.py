"""Read-only questions about Plex's play history, for reconciling our ledger with it.

The writer's transaction is atomic, but our ledger is committed after it, in another database.
If the process dies in between, the next apply asks which history rows appeared after the
highest id seen before writing (`views_after`). And Plex's database can be rolled back under
us (a backup restored, a repair tool): every apply asks which of the rows we wrote are still
there exactly as written (`missing_views`) and which native plays we counted are still there
(`missing_natives`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.plex.backup import as_plex_error, open_plex_db
from daemon.plex.timestamps import INTEGER_MODE, detect_timestamp_mode, epoch_sql, to_db_time

TRACK_TYPE = 10  # metadata_items.metadata_type of a track


@contextmanager
def _snapshot(path: Path, busy_timeout_ms: int) -> Iterator[sqlite3.Connection]:
    """A connection to Plex's database (nothing writable but TEMP tables) inside one read
    transaction, so every question sees one state; an SQLite error is a one-line PlexError.
    Closing the connection ends the transaction: nothing was written."""
    conn = open_plex_db(Path(path), busy_timeout_ms=busy_timeout_ms)
    try:
        conn.execute("BEGIN")
        yield conn
    except sqlite3.Error as exc:
        raise as_plex_error(exc, Path(path), "reading") from exc
    finally:
        conn.close()


def max_view_id(path: Path, *, busy_timeout_ms: int = 15000) -> int:
    """The highest metadata_item_views id (0 when empty)."""
    with _snapshot(path, busy_timeout_ms) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM metadata_item_views")
                   .fetchone()[0])


def views_after(path: Path, view_id: int, *,
                busy_timeout_ms: int = 15000) -> list[tuple[int, int, int, int, str]]:
    """Track history rows with id > view_id:
    (id, account_id, rating_key, viewed_at epoch, guid)."""
    with _snapshot(path, busy_timeout_ms) as conn:
        mode = detect_timestamp_mode(conn)
        rows = conn.execute(
            f"SELECT v.id, v.account_id, t.id, {epoch_sql(mode, 'v.viewed_at')}, v.guid"
            " FROM metadata_item_views v JOIN metadata_items t ON t.guid = v.guid"
            " WHERE v.id > ? AND t.metadata_type = ? ORDER BY v.id",
            (view_id, TRACK_TYPE)).fetchall()
    return [(int(a), int(b), int(c), int(d), str(e)) for a, b, c, d, e in rows]


def missing_views(path: Path,
                  rows: Iterable[tuple[int, int, int, str | None, int | None]], *,
                  busy_timeout_ms: int = 15000) -> list[int]:
    """Keys of `rows` (key, view_id, account_id, guid, viewed_at epoch) whose history row is
    gone or no longer the one written: another account, guid, time or metadata_type under the
    id. A None guid or time (an old ledger row) is not compared."""
    with _snapshot(path, busy_timeout_ms) as conn:
        mode = detect_timestamp_mode(conn)
        to_db = to_db_time(mode)
        conn.execute("CREATE TEMP TABLE plexfm_ours (key INTEGER, id INTEGER, "
                     "account_id INTEGER, guid TEXT, viewed_at)")
        conn.executemany(  # compared in the database's own time convention
            "INSERT INTO plexfm_ours VALUES (?, ?, ?, ?, ?)",
            rows if mode == INTEGER_MODE else  # a million rows: no per-row work when possible
            ((k, v, a, g, None if t is None else to_db(int(t))) for k, v, a, g, t in rows))
        gone = conn.execute(
            "SELECT o.key FROM plexfm_ours o LEFT JOIN metadata_item_views v ON v.id = o.id "
            "AND v.account_id = o.account_id AND v.metadata_type = ? "
            "AND (o.guid IS NULL OR v.guid = o.guid) "
            "AND (o.viewed_at IS NULL OR v.viewed_at = o.viewed_at) "
            "WHERE v.id IS NULL ORDER BY o.key", (TRACK_TYPE,)).fetchall()
    return [int(r[0]) for r in gone]


def missing_natives(path: Path, rows: Iterable[tuple[int, int, int, int]], *,
                    busy_timeout_ms: int = 15000) -> list[int]:
    """Keys of `rows` (key, account_id, rating_key, viewed_at epoch: native plays we counted)
    whose play is no longer in Plex's history; n rows naming the same play need n history
    rows. A track no longer in Plex is not judged (its rows are never reported)."""
    with _snapshot(path, busy_timeout_ms) as conn:
        epoch = epoch_sql(detect_timestamp_mode(conn), "v.viewed_at")
        conn.execute("CREATE TEMP TABLE plexfm_claims (key INTEGER PRIMARY KEY, "
                     "account_id INTEGER, rating_key INTEGER, viewed_at INTEGER)")
        conn.executemany("INSERT INTO plexfm_claims VALUES (?, ?, ?, ?)",
                         ((int(k), int(a), int(r), int(t)) for k, a, r, t in rows))
        gone = conn.execute(
            "SELECT key FROM (SELECT c.key, row_number() OVER (PARTITION BY c.account_id, "
            "c.rating_key, c.viewed_at ORDER BY c.key) AS nth, (SELECT count(*) FROM "
            f"metadata_item_views v WHERE v.guid = t.guid AND v.account_id = c.account_id AND "
            f"v.metadata_type = ? AND {epoch} = c.viewed_at) AS present "
            "FROM plexfm_claims c JOIN metadata_items t ON t.id = c.rating_key "
            "WHERE coalesce(t.guid, '') != '') WHERE nth > present ORDER BY key",
            (TRACK_TYPE,)).fetchall()
    return [int(r[0]) for r in gone]
