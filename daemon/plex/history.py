"""Read-only questions about Plex's play history, for reconciling our ledger after a crash.

The writer's transaction is atomic, but our ledger is committed after it, in another database.
If the process dies in between, the next apply asks these questions: which history rows appeared
after the highest id seen before writing, and which of our recorded rows still exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from daemon.plex.backup import as_plex_error, open_plex_db
from daemon.plex.timestamps import detect_timestamp_mode, epoch_sql

TRACK_TYPE = 10  # metadata_items.metadata_type of a track


def _open(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    return open_plex_db(Path(path), busy_timeout_ms=busy_timeout_ms)  # nothing writable


def max_view_id(path: Path, *, busy_timeout_ms: int = 15000) -> int:
    """The highest metadata_item_views id (0 when empty)."""
    conn = _open(path, busy_timeout_ms)
    try:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM metadata_item_views")
                   .fetchone()[0])
    except sqlite3.Error as exc:
        raise as_plex_error(exc, Path(path), "reading") from exc
    finally:
        conn.close()


def views_after(path: Path, view_id: int, *,
                busy_timeout_ms: int = 15000) -> list[tuple[int, int, int, int]]:
    """Track history rows with id > view_id: (id, account_id, rating_key, viewed_at epoch)."""
    conn = _open(path, busy_timeout_ms)
    try:
        conn.execute("BEGIN")
        mode = detect_timestamp_mode(conn)
        rows = conn.execute(
            f"SELECT v.id, v.account_id, t.id, {epoch_sql(mode, 'v.viewed_at')}"
            " FROM metadata_item_views v JOIN metadata_items t ON t.guid = v.guid"
            " WHERE v.id > ? AND t.metadata_type = ? ORDER BY v.id",
            (view_id, TRACK_TYPE)).fetchall()
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise as_plex_error(exc, Path(path), "reading") from exc
    finally:
        conn.close()
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def existing_views(path: Path, view_ids: Iterable[int], *,
                   busy_timeout_ms: int = 15000) -> set[int]:
    """Which of `view_ids` are still in Plex's history."""
    conn = _open(path, busy_timeout_ms)
    try:
        conn.execute("CREATE TEMP TABLE plexfm_ids (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO plexfm_ids VALUES (?)",
                         ((int(i),) for i in view_ids))
        rows = conn.execute("SELECT i.id FROM plexfm_ids i JOIN metadata_item_views v"
                            " ON v.id = i.id").fetchall()
    except sqlite3.Error as exc:
        raise as_plex_error(exc, Path(path), "reading") from exc
    finally:
        conn.close()
    return {int(r[0]) for r in rows}
