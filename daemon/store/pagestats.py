"""Counts the status page shows, computed off the request path and cached in the store.

Some numbers cost a scan of every scrobble (plays still waiting for Plex: a join of 1M
scrobbles with the matches), so no request computes them: `refresh` does, after each job run
and after decisions made on the page (see `daemon.web.refresh`), and the page reads the
result with one primary-key lookup. `library_plays` holds plexfm's play count per library
track for the Library page (sorted and filtered by an index, not aggregated per request).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from daemon.store import ledger, matches
from daemon.store import library as library_store
from daemon.store import scrobbles as scrobble_queries
from daemon.store.engine import write

STATS = "dashboard"

_TRACK_PLAYS = """
SELECT coalesce(sum(t.plays), 0),
       coalesce(sum(CASE WHEN m.status IN ('auto', 'manual') THEN t.plays END), 0),
       count(*),
       coalesce(sum(CASE WHEN m.status IN ('auto', 'manual') THEN 1 END), 0)
FROM scrobbled_tracks t LEFT JOIN matches m ON m.track_id = t.id
"""

_LIBRARY_PLAYS = """
INSERT INTO library_plays (rating_key, plays, tracks)
SELECT l.rating_key, coalesce(p.plays, 0), coalesce(p.tracks, 0)
FROM library_tracks l LEFT JOIN (
    SELECT m.rating_key, sum(t.plays) AS plays, count(*) AS tracks
    FROM matches m JOIN scrobbled_tracks t ON t.id = m.track_id
    WHERE m.status IN ('auto', 'manual') GROUP BY m.rating_key
) p ON p.rating_key = l.rating_key
"""


def compute(conn: Connection, users: Sequence[str]) -> dict[str, Any]:
    """The dashboard's counts, computed now (seconds on a large store: call it off-request)."""
    stats = scrobble_queries.stats(conn)
    by_status = matches.status_counts(conn)
    plays, matched_plays, tracks, matched_tracks = conn.exec_driver_sql(_TRACK_PLAYS).one()
    applied = ledger.summary(conn)
    waiting = ledger.matched_play_count(conn, list(users)) if users else 0
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
    """Recompute the cached counts and per-library-track plays; return the counts.

    The reads run in their own read transaction (no write lock held meanwhile); the write is
    one short transaction replacing both caches.
    """
    with engine.connect() as conn, conn.begin():
        counts = compute(conn, users)
    with write(engine) as conn:
        conn.exec_driver_sql("DELETE FROM library_plays")
        conn.exec_driver_sql(_LIBRARY_PLAYS)
        conn.exec_driver_sql(
            "INSERT INTO page_stats (name, value, refreshed_at) VALUES (?, ?, ?) ON CONFLICT"
            " (name) DO UPDATE SET value = excluded.value, refreshed_at = excluded.refreshed_at",
            (STATS, json.dumps(counts), time.time() if now is None else now))
    return counts


def load(conn: Connection) -> tuple[dict[str, Any] | None, float | None]:
    """The cached counts and when they were computed; (None, None) before the first refresh."""
    row = conn.exec_driver_sql(
        "SELECT value, refreshed_at FROM page_stats WHERE name = ?", (STATS,)).first()
    if row is None:
        return None, None
    return dict(json.loads(row[0])), float(row[1])
