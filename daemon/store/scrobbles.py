"""Queries over stored scrobbles. Functions take the caller's Connection and never commit."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from daemon.scrobble import ScrobbleRow
from daemon.store.tables import scrobbles

_INSERT = (
    "INSERT INTO scrobbles (user, uts, artist, title, album, ordinal, artist_mbid, track_mbid,"
    " album_mbid, loved, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def insert_rows(conn: Connection, user: str, rows: Sequence[ScrobbleRow], source: str) -> int:
    """Store rows not stored yet (same identity = same row); return how many were new."""
    if not rows:
        return 0
    now = int(time.time())
    before = _total_changes(conn)
    conn.exec_driver_sql(
        _INSERT, [(user, *row, source, now) for row in rows]
    )
    return _total_changes(conn) - before


def _total_changes(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT total_changes()").scalar_one())


def count_between(conn: Connection, user: str, start: int, end: int) -> int:
    """How many scrobbles of `user` are stored with start <= uts < end."""
    query = select(func.count()).where(
        scrobbles.c.user == user, scrobbles.c.uts >= start, scrobbles.c.uts < end
    )
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True)
class ScrobbleStats:
    scrobbles: int
    first_scrobble: int | None
    last_scrobble: int | None


def stats(conn: Connection, user: str | None = None) -> ScrobbleStats:
    """Count and time span of stored scrobbles (all users when `user` is None)."""
    query = select(func.count(), func.min(scrobbles.c.uts), func.max(scrobbles.c.uts))
    if user is not None:
        query = query.where(scrobbles.c.user == user)
    count, first, last = conn.execute(query).one()
    return ScrobbleStats(int(count), first, last)
