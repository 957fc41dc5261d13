"""Rollups of dated plays in the listener's time zone, and the state of their fold.

Per user: plays per (local day, hour), per (local month, artist), per (local month, track)
and per track overall. They only ever grow: new scrobbles (ids only grow) are added with
`add`, which the caller computes from `new_plays`; undated (uts 0) scrobbles are never in
them. Functions take the caller's Connection and never commit.
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
TABLES = ("rollup_hourly", "rollup_monthly_artist", "rollup_monthly_track",
          "rollup_track_total")

_UPSERTS = {
    "rollup_hourly": "INSERT INTO rollup_hourly (user, day, hour, weekday, plays)"
                     " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user, day, hour)"
                     " DO UPDATE SET plays = plays + excluded.plays",
    "rollup_monthly_artist": "INSERT INTO rollup_monthly_artist (user, month, artist, plays)"
                             " VALUES (?, ?, ?, ?) ON CONFLICT (user, month, artist)"
                             " DO UPDATE SET plays = plays + excluded.plays",
    "rollup_monthly_track": "INSERT INTO rollup_monthly_track (user, month, track_id, plays)"
                            " VALUES (?, ?, ?, ?) ON CONFLICT (user, month, track_id)"
                            " DO UPDATE SET plays = plays + excluded.plays",
    "rollup_track_total": "INSERT INTO rollup_track_total (user, track_id, plays)"
                          " VALUES (?, ?, ?) ON CONFLICT (user, track_id)"
                          " DO UPDATE SET plays = plays + excluded.plays",
}


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
    for table in TABLES:
        conn.exec_driver_sql(f"DELETE FROM {table}")
    put_state(conn, FOLDED_THROUGH, "0")


def new_plays(conn: Connection, after_id: int, through_id: int) -> pd.DataFrame:
    """Dated scrobbles with after_id < id <= through_id: user, uts, artist, track_id (the
    scrobbled_tracks row, which must be folded already)."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT s.user, s.uts, s.artist, t.id AS track_id FROM scrobbles s"
        " JOIN scrobbled_tracks t ON t.artist = s.artist AND t.title = s.title"
        " AND t.album = s.album WHERE s.id > ? AND s.id <= ? AND s.uts > 0",
        conn, params=(after_id, through_id),
    )


def add(conn: Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    """Add plays to a rollup: rows shaped like the table's columns, plays last."""
    data = list(rows)
    if data:
        conn.exec_driver_sql(_UPSERTS[table], data)


def dated_plays(conn: Connection, user: str, start: int, end: int) -> pd.DataFrame:
    """Scrobbles of `user` with start <= uts < end (start > 0): uts, artist, track_id."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT s.uts, s.artist, t.id AS track_id FROM scrobbles s"
        " JOIN scrobbled_tracks t ON t.artist = s.artist AND t.title = s.title"
        " AND t.album = s.album WHERE s.user = ? AND s.uts >= ? AND s.uts < ? AND s.uts > 0",
        conn, params=(user, start, end),
    )


def undated_count(conn: Connection, user: str) -> int:
    """How many scrobbles of `user` carry no time (uts 0, legacy last.fm plays)."""
    return int(conn.exec_driver_sql(
        "SELECT count(*) FROM scrobbles WHERE user = ? AND uts = 0", (user,)).scalar_one())


def day_span(conn: Connection, user: str) -> tuple[int, int] | None:
    """(first, last) local day (yyyymmdd) with plays, None without dated plays."""
    first, last = conn.exec_driver_sql(
        "SELECT min(day), max(day) FROM rollup_hourly WHERE user = ?", (user,)).one()
    return None if first is None else (int(first), int(last))


def users(conn: Connection) -> list[str]:
    """Users with dated plays in the rollups, most plays first."""
    return [str(u) for (u,) in conn.exec_driver_sql(
        "SELECT user FROM rollup_hourly GROUP BY user ORDER BY sum(plays) DESC")]


def hourly(conn: Connection, user: str, first_day: int, last_day: int) -> pd.DataFrame:
    """Plays per weekday and hour over the days first..last: weekday, hour, plays."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT weekday, hour, sum(plays) AS plays FROM rollup_hourly WHERE user = ?"
        " AND day BETWEEN ? AND ? GROUP BY weekday, hour", conn,
        params=(user, first_day, last_day))


def daily(conn: Connection, user: str, first_day: int, last_day: int) -> pd.DataFrame:
    """Plays per local day over the days first..last (days with plays only): day, plays."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT day, sum(plays) AS plays FROM rollup_hourly WHERE user = ?"
        " AND day BETWEEN ? AND ? GROUP BY day ORDER BY day", conn,
        params=(user, first_day, last_day))


def monthly_artists(conn: Connection, user: str, first_month: int,
                    last_month: int) -> pd.DataFrame:
    """Plays per month and artist over whole months first..last: month, artist, plays."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT month, artist, plays FROM rollup_monthly_artist WHERE user = ?"
        " AND month BETWEEN ? AND ?", conn, params=(user, first_month, last_month))


def first_months(conn: Connection, user: str) -> pd.DataFrame:
    """The month each artist was first played by `user`: artist, first_month."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT artist, min(month) AS first_month FROM rollup_monthly_artist WHERE user = ?"
        " GROUP BY artist", conn, params=(user,))


def monthly_track_totals(conn: Connection, user: str, first_month: int,
                         last_month: int) -> pd.DataFrame:
    """Plays per track over whole months first..last: track_id, plays."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT track_id, sum(plays) AS plays FROM rollup_monthly_track WHERE user = ?"
        " AND month BETWEEN ? AND ? GROUP BY track_id", conn,
        params=(user, first_month, last_month))


def track_totals(conn: Connection, user: str) -> pd.DataFrame:
    """Dated plays per track over the whole history: track_id, plays."""
    import pandas as pd

    return pd.read_sql_query(
        "SELECT track_id, plays FROM rollup_track_total WHERE user = ?", conn, params=(user,))


def track_names(conn: Connection, track_ids: Sequence[int]) -> pd.DataFrame:
    """Scrobbled tracks by id with their match: track_id, artist, title, album, status,
    rating_key (of an auto or manual match, else None)."""
    import pandas as pd

    ids = [int(i) for i in track_ids]
    marks = ", ".join("?" for _ in ids) or "NULL"
    return pd.read_sql_query(
        "SELECT t.id AS track_id, t.artist, t.title, t.album, m.status,"
        " CASE WHEN m.status IN ('auto', 'manual') THEN m.rating_key END AS rating_key"
        " FROM scrobbled_tracks t LEFT JOIN matches m ON m.track_id = t.id"
        f" WHERE t.id IN ({marks})",
        conn, params=tuple(ids))


def track_albums(conn: Connection) -> pd.DataFrame:
    """Every scrobbled track's artist and album: track_id, artist, album."""
    import pandas as pd

    return pd.read_sql_query("SELECT id AS track_id, artist, album FROM scrobbled_tracks", conn)


def plex_top(conn: Connection, user: str, first_month: int, last_month: int, group: str,
             limit: int) -> pd.DataFrame:
    """The most played Plex items (group: track, album or artist) over whole months, counting
    the dated plays of matched tracks as Plex will once they are applied: key, plays, title,
    artist, album (the library's names)."""
    import pandas as pd

    key, names = {
        "track": ("l.rating_key", "max(l.title) AS title, max(coalesce(nullif(l.track_artist,"
                  " ''), l.album_artist)) AS artist, max(l.album) AS album"),
        "album": ("l.album_rating_key", "NULL AS title, max(l.album_artist) AS artist,"
                  " max(l.album) AS album"),
        "artist": ("l.artist_rating_key", "NULL AS title, max(l.album_artist) AS artist,"
                   " NULL AS album"),
    }[group]
    return pd.read_sql_query(
        f"SELECT {key} AS key, sum(r.plays) AS plays, {names} FROM rollup_monthly_track r"
        " JOIN matches m ON m.track_id = r.track_id AND m.status IN ('auto', 'manual')"
        " JOIN library_tracks l ON l.rating_key = m.rating_key"
        f" WHERE r.user = ? AND r.month BETWEEN ? AND ? GROUP BY {key}"
        f" ORDER BY plays DESC, {key} LIMIT ?", conn,
        params=(user, first_month, last_month, limit))
