"""Migration 11: scrobbles dated outside the storable range move to a quarantine table.

Before the range check, a millisecond timestamp read as seconds (year 58897) could be stored,
and it broke every view that turns a time into a date (status, stats, the History and
Analytics pages). Such rows (and any negative or non-integer time) move, whole and with their
ids, to scrobbles_quarantine: out of every view, never deleted. What was derived from them
goes too: their scrobble -> track mapping, their plays in the scrobbled tracks' counts, and
the analytics rollups when they had been folded in (the next analytics refresh folds every
play again). Plays plexfm wrote to Plex for them stay in the ledger, so the next apply can
take them out of Plex again. Undated plays (uts 0) are history and stay.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Connection

log = logging.getLogger(__name__)

NAME = "scrobbles dated outside the storable range move to scrobbles_quarantine"
AHEAD_SECONDS = 86_400  # daemon.scrobble.MAX_AHEAD_SECONDS when this migration was written
ROLLUP_TABLES = ("rollup_hourly", "rollup_artist_month", "rollup_artist_year",
                 "rollup_artist_total", "rollup_album_year", "rollup_album_total",
                 "rollup_track_year", "rollup_track_total", "rollup_genre_month")
COLUMNS = ("id, user, uts, artist, title, album, ordinal, artist_mbid, track_mbid, album_mbid,"
           " loved, source, added_at")

# the scrobbled tracks that lose plays, counted again from the scrobble -> track mapping
# (indexed by track; it holds every folded scrobble, so the counts stay "folded so far")
_RECOUNT = """
UPDATE scrobbled_tracks SET
    plays = (SELECT count(*) FROM scrobble_tracks st WHERE st.track_id = scrobbled_tracks.id),
    first_uts = (SELECT min(st.uts) FROM scrobble_tracks st
                 WHERE st.track_id = scrobbled_tracks.id),
    last_uts = (SELECT max(st.uts) FROM scrobble_tracks st
                WHERE st.track_id = scrobbled_tracks.id)
WHERE id IN (SELECT track_id FROM quarantined_tracks)
"""


def _scalar(conn: Connection, statement: str, *args: object) -> int:
    value = conn.exec_driver_sql(statement, args).scalar()
    return 0 if value is None else int(value)


def apply(conn: Connection) -> None:
    conn.exec_driver_sql("""CREATE TABLE scrobbles_quarantine (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        uts INTEGER NOT NULL,
        artist TEXT NOT NULL,
        title TEXT NOT NULL,
        album TEXT NOT NULL DEFAULT '',
        ordinal INTEGER NOT NULL DEFAULT 0,
        artist_mbid TEXT NOT NULL DEFAULT '',
        track_mbid TEXT NOT NULL DEFAULT '',
        album_mbid TEXT NOT NULL DEFAULT '',
        loved INTEGER,
        source TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        quarantined_at INTEGER NOT NULL,
        reason TEXT NOT NULL
    )""")
    now = int(time.time())
    moved = conn.exec_driver_sql(
        f"INSERT INTO scrobbles_quarantine ({COLUMNS}, quarantined_at, reason)"
        f" SELECT {COLUMNS}, ?, 'time outside 0 <= uts <= now + 1 day' FROM scrobbles"
        " WHERE typeof(uts) != 'integer' OR uts < 0 OR uts > ?",
        (now, now + AHEAD_SECONDS)).rowcount
    if not moved:
        return
    log.warning("%s stored scrobbles are dated outside 0 <= uts <= now + 1 day (a millisecond"
                " timestamp, an overflow): moved to scrobbles_quarantine", moved)
    conn.exec_driver_sql("DELETE FROM scrobbles WHERE id IN (SELECT id FROM"
                         " scrobbles_quarantine)")
    conn.exec_driver_sql("CREATE TEMP TABLE quarantined_tracks AS SELECT DISTINCT track_id"
                         " FROM scrobble_tracks WHERE scrobble_id IN (SELECT id FROM"
                         " scrobbles_quarantine)")
    conn.exec_driver_sql("DELETE FROM scrobble_tracks WHERE scrobble_id IN (SELECT id FROM"
                         " scrobbles_quarantine)")
    conn.exec_driver_sql(_RECOUNT)
    conn.exec_driver_sql("DROP TABLE quarantined_tracks")
    rolled = _scalar(conn, "SELECT value FROM rollup_state WHERE name = 'folded_through'")
    if _scalar(conn, "SELECT count(*) FROM scrobbles_quarantine WHERE id <= ?", rolled):
        for table in ROLLUP_TABLES:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("UPDATE rollup_state SET value = '0' WHERE name = 'folded_through'")
    conn.exec_driver_sql("DELETE FROM page_stats")  # cached counts: recomputed


APPLY = apply
