"""Rollups of dated plays in the listener's time zone, and the state of their fold.

Per user: plays per (local day, hour); per artist by month, by year and overall (with the
month it was first played); per album and per track by year and overall; per genre by month
(the artist's primary genre at the time, '' for none, moved when an artist's genre changes).
Artists and albums get integer ids (`artists`, `albums`, `track_keys`), so the rollups are
narrow integer tables. They only grow: new scrobbles (ids only grow) are added with `add`;
undated (uts 0) scrobbles are never in them. Functions take the caller's Connection and
never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    import pandas as pd

ZONE = "timezone"
FOLDED_THROUGH = "folded_through"
GENRE_RULES = "genre_rules"
UNTAGGED = ""

# table -> (key columns, extra upsert assignments)
ROLLUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "rollup_hourly": (("user", "day", "hour", "weekday"), ""),
    "rollup_artist_month": (("user", "month", "artist_id"), ""),
    "rollup_artist_year": (("user", "year", "artist_id"), ""),
    "rollup_artist_total": (("user", "artist_id", "first_month"),
                            ", first_month = min(first_month, excluded.first_month)"),
    "rollup_album_year": (("user", "year", "album_id"), ""),
    "rollup_album_total": (("user", "album_id"), ""),
    "rollup_track_year": (("user", "year", "track_id"), ""),
    "rollup_track_total": (("user", "track_id"), ""),
    "rollup_genre_month": (("user", "month", "genre"), ""),
}
_CONFLICT_KEYS = {"rollup_hourly": "user, day, hour", "rollup_artist_total": "user, artist_id"}


def _upsert(table: str) -> str:
    columns, extra = ROLLUPS[table]
    conflict = _CONFLICT_KEYS.get(table, ", ".join(columns))
    marks = ", ".join("?" for _ in (*columns, "plays"))
    return (f"INSERT INTO {table} ({', '.join(columns)}, plays) VALUES ({marks})"
            f" ON CONFLICT ({conflict}) DO UPDATE SET plays = plays + excluded.plays{extra}")


def get_state(conn: Connection, name: str) -> str | None:
    """A named value of the rollups' state (zone, fold position, genre rules), or None."""
    value = conn.exec_driver_sql("SELECT value FROM rollup_state WHERE name = ?",
                                 (name,)).scalar()
    return None if value is None else str(value)


def put_state(conn: Connection, name: str, value: str) -> None:
    """Set a named value of the rollups' state."""
    conn.exec_driver_sql(
        "INSERT INTO rollup_state (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))


def newest_scrobble(conn: Connection) -> int:
    """The highest scrobble id stored (0 when none)."""
    return int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM scrobbles").scalar_one())


def clear(conn: Connection) -> None:
    """Empty every rollup and forget the fold position (a rebuild follows)."""
    for table in ROLLUPS:
        conn.exec_driver_sql(f"DELETE FROM {table}")
    put_state(conn, FOLDED_THROUGH, "0")


def key_new_tracks(conn: Connection) -> int:
    """Give scrobbled tracks not keyed yet their artist and album ids; return how many."""
    through = int(conn.exec_driver_sql(
        "SELECT coalesce(max(track_id), 0) FROM track_keys").scalar_one())
    conn.exec_driver_sql("INSERT OR IGNORE INTO artists (name) SELECT DISTINCT artist"
                         " FROM scrobbled_tracks WHERE id > ?", (through,))
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO albums (artist_id, name) SELECT DISTINCT a.id, t.album"
        " FROM scrobbled_tracks t JOIN artists a ON a.name = t.artist"
        " WHERE t.id > ? AND t.album != ''", (through,))
    return conn.exec_driver_sql(
        "INSERT INTO track_keys (track_id, artist_id, album_id) SELECT t.id, a.id, al.id"
        " FROM scrobbled_tracks t JOIN artists a ON a.name = t.artist"
        " LEFT JOIN albums al ON al.artist_id = a.id AND al.name = t.album WHERE t.id > ?",
        (through,)).rowcount


def new_plays(conn: Connection, after_id: int, through_id: int) -> pd.DataFrame:
    """Dated scrobbles with after_id < id <= through_id (folded into tracks and keyed):
    user, uts, track_id, artist_id, album_id (-1 without an album)."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT st.user, st.uts, st.track_id, k.artist_id, coalesce(k.album_id, -1) AS album_id"
        " FROM scrobble_tracks st JOIN track_keys k ON k.track_id = st.track_id"
        " WHERE st.scrobble_id > ? AND st.scrobble_id <= ? AND st.uts > 0",
        conn, params=(after_id, through_id))


def primary_genres(conn: Connection) -> dict[int, str]:
    """artist id -> primary genre, for artists with one."""
    rows = conn.exec_driver_sql(
        "SELECT a.id, g.genre FROM artist_genres g JOIN artists a ON a.name = g.artist"
        " WHERE g.rank = 1")
    return {int(i): str(g) for i, g in rows}


def add(conn: Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    """Add plays to a rollup: rows of its key columns (ROLLUPS), then plays."""
    data = list(rows)
    if data:
        conn.exec_driver_sql(_upsert(table), data)


def move_genre(conn: Connection, artist: str, old: str | None, new: str | None) -> None:
    """Count the artist's plays under its `new` primary genre instead of `old` (None: none)."""
    if (old or UNTAGGED) == (new or UNTAGGED):
        return
    for genre, sign in ((old or UNTAGGED, -1), (new or UNTAGGED, 1)):
        conn.exec_driver_sql(
            "INSERT INTO rollup_genre_month (user, month, genre, plays)"
            " SELECT r.user, r.month, ?, ? * r.plays FROM rollup_artist_month r"
            " JOIN artists a ON a.id = r.artist_id WHERE a.name = ? AND true"
            " ON CONFLICT (user, month, genre) DO UPDATE SET plays = plays + excluded.plays",
            (genre, sign, artist))
    conn.exec_driver_sql("DELETE FROM rollup_genre_month WHERE plays = 0 AND genre = ?",
                         (old or UNTAGGED,))


def rebuild_genres(conn: Connection) -> None:
    """Recount plays per month and genre from the artists' current primary genres."""
    conn.exec_driver_sql("DELETE FROM rollup_genre_month")
    conn.exec_driver_sql(
        "INSERT INTO rollup_genre_month (user, month, genre, plays)"
        " SELECT r.user, r.month, coalesce(g.genre, ''), sum(r.plays)"
        " FROM rollup_artist_month r JOIN artists a ON a.id = r.artist_id"
        " LEFT JOIN artist_genres g ON g.artist = a.name AND g.rank = 1"
        " GROUP BY r.user, r.month, coalesce(g.genre, '')")
