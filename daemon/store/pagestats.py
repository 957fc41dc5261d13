"""Counts the status page shows, computed off the request path and cached in the store.

Some numbers cost a scan of every scrobble (plays still waiting for Plex: a join of 1M
scrobbles with the matches), so no request computes them: `refresh` does, after each job run
and after decisions made on the page (see `daemon.web.refresh`), and the page reads the
result with one primary-key lookup. `library_plays` holds plexfm's play count per library
track for the Library page (sorted and filtered by an index, not aggregated per request), and
`track_written` the plays written to Plex per scrobbled track for the Matches page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from daemon.store import ledger, matches
from daemon.store import library as library_store
from daemon.store import scrobbles as scrobble_queries

STATS = "dashboard"
LEDGER = "ledger_signature"  # when it changes, track_written is recounted

_TRACK_PLAYS = """
SELECT coalesce(sum(t.plays), 0),
       coalesce(sum(CASE WHEN m.status IN ('auto', 'manual') THEN t.plays END), 0),
       count(*),
       coalesce(sum(CASE WHEN m.status IN ('auto', 'manual') THEN 1 END), 0)
FROM scrobbled_tracks t LEFT JOIN matches m ON m.track_id = t.id
"""

# computed into temp tables first (the connection's temp database: no lock on the store),
# then only the differences are written, so the write lock is held for a moment
_NEW_LIBRARY_PLAYS = """
CREATE TEMP TABLE new_library_plays AS
SELECT l.rating_key, coalesce(p.plays, 0) AS plays, coalesce(p.tracks, 0) AS tracks
FROM library_tracks l LEFT JOIN (
    SELECT m.rating_key, sum(t.plays) AS plays, count(*) AS tracks
    FROM matches m JOIN scrobbled_tracks t ON t.id = m.track_id
    WHERE m.status IN ('auto', 'manual') GROUP BY m.rating_key
) p ON p.rating_key = l.rating_key
"""

_NEW_TRACK_WRITTEN = """
CREATE TEMP TABLE new_track_written AS
SELECT st.track_id, count(*) AS written FROM applied_plays a CROSS JOIN scrobble_tracks st
ON st.scrobble_id = a.scrobble_id GROUP BY st.track_id
"""

_LEDGER_SIGNATURE = "SELECT count(*), coalesce(max(batch_id), 0) FROM applied_plays"


class QueueCount(NamedTuple):
    """The queue, counted the same way on every page, in /metrics and by `plexfm status`."""

    waiting: int  # tracks waiting for a decision (skipped ones included: a skip decides nothing)
    skipped: int  # of those, the ones skipped for now (hidden from the queue until a date)


def queue_count(conn: Connection, now: float) -> QueueCount:
    """The queue now (two index counts: cheap enough for every request)."""
    waiting, skipped = conn.exec_driver_sql(
        "SELECT (SELECT count(*) FROM matches WHERE status = 'queued'), (SELECT count(*)"
        " FROM queue_skips k JOIN matches m ON m.track_id = k.track_id WHERE"
        " m.status = 'queued' AND k.until > ?)", (int(now),)).one()
    return QueueCount(int(waiting), int(skipped))


def _sync(conn: Connection, table: str, key: str) -> None:
    """Make `table` equal to temp.new_<table>, writing only the rows that differ."""
    conn.exec_driver_sql(f"DELETE FROM {table} WHERE {key} NOT IN (SELECT {key} FROM"
                         f" temp.new_{table})")
    conn.exec_driver_sql(f"INSERT OR REPLACE INTO {table} SELECT * FROM temp.new_{table}"
                         f" EXCEPT SELECT * FROM {table}")
    conn.exec_driver_sql(f"DROP TABLE temp.new_{table}")


def compute(conn: Connection, users: Sequence[str], now: float) -> dict[str, Any]:
    """The dashboard's counts, computed now (seconds on a large store: call it off-request).
    Plays waiting for the window are those an apply at `now` may write: dated within
    `daemon.scrobble.uts_in_range`, as `plexfm status` and the apply count them."""
    stats = scrobble_queries.stats(conn)
    by_status = matches.status_counts(conn)
    plays, matched_plays, tracks, matched_tracks = conn.exec_driver_sql(_TRACK_PLAYS).one()
    applied = ledger.summary(conn)
    waiting = ledger.matched_play_count(conn, list(users), now=now) if users else 0
    return {
        "scrobbles": stats.scrobbles,
        "first_scrobble": stats.first_scrobble,
        "last_scrobble": stats.last_scrobble,
        "tracks": int(tracks),
        "track_plays": int(plays),
        "matched_tracks": int(matched_tracks),
        "matched_plays": int(matched_plays),
        "matched_share_tracks": round(100 * matched_tracks / tracks, 1) if tracks else 0.0,
        "matched_share_plays": round(100 * matched_plays / plays, 1) if plays else 0.0,
        "by_status": by_status,
        "queued": by_status[matches.QUEUED],
        "library_tracks": library_store.count(conn),
        "applied_plays": applied["applied_plays"],
        "already_in_plex": applied["already_in_plex"],
        "pending_plays": max(0, waiting - applied["applied_plays"] - applied["already_in_plex"]),
    }


def refresh(engine: Engine, users: Sequence[str], *, now: float | None = None) -> dict[str, Any]:
    """Recompute the cached counts, per-library-track plays and per-track plays written to
    Plex; return the counts.

    The reads run in a read transaction (no write lock held meanwhile, the new values go to
    temp tables); the write transaction then changes only the rows that differ. The counts
    are stamped with the time their read began (`now`): what a job wrote after it is not in
    them.
    """
    at = time.time() if now is None else now
    with engine.connect() as conn:
        with conn.begin():
            counts = compute(conn, users, at)
            signature = list(conn.exec_driver_sql(_LEDGER_SIGNATURE).one())
            old = conn.exec_driver_sql("SELECT value FROM page_stats WHERE name = ?",
                                       (LEDGER,)).scalar()
            ledger_changed = old is None or json.loads(old) != signature
            for name in ("new_library_plays", "new_track_written"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
            conn.exec_driver_sql(_NEW_LIBRARY_PLAYS)
            if ledger_changed:  # the ledger changes at applies only
                conn.exec_driver_sql(_NEW_TRACK_WRITTEN)
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            _sync(conn, "library_plays", "rating_key")
            if ledger_changed:
                _sync(conn, "track_written", "track_id")
            conn.exec_driver_sql(
                "INSERT INTO page_stats (name, value, refreshed_at) VALUES (?, ?, ?), (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                " refreshed_at = excluded.refreshed_at",
                (STATS, json.dumps(counts), at, LEDGER, json.dumps(signature), at))
    return counts


def load(conn: Connection) -> tuple[dict[str, Any] | None, float | None]:
    """The cached counts and when the read that computed them began; (None, None) before the
    first refresh."""
    row = conn.exec_driver_sql(
        "SELECT value, refreshed_at FROM page_stats WHERE name = ?", (STATS,)).first()
    if row is None:
        return None, None
    return dict(json.loads(row[0])), float(row[1])
