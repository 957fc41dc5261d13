"""Reads of the listening rollups for a period, cut into slices the rollups can answer.

A period of local days becomes `Slices`: whole years (yearly rollups), whole months outside
them (monthly rollups, or the scrobbles of those months where no monthly rollup exists) and
the days of partial months (the scrobbles themselves, through the (user, uts) index). Each
query is one SQL statement over the union of its slices, aggregated in SQLite, so what comes
back to Python is small. Functions take the caller's Connection and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

MATCHED = "m.status IN ('auto', 'manual')"
_RAW = ("FROM scrobbles s CROSS JOIN scrobble_tracks st ON st.scrobble_id = s.id"
        " CROSS JOIN track_keys k ON k.track_id = st.track_id"
        " WHERE s.user = ? AND s.uts >= ? AND s.uts < ?")
_RAW_GENRE = ("SELECT ? AS month, coalesce(g.genre, '') AS genre, count(*) AS plays"
              " FROM scrobbles s"
              " CROSS JOIN scrobble_tracks st ON st.scrobble_id = s.id"
              " LEFT JOIN artist_genres g ON g.artist = s.artist AND g.rank = 1"
              " WHERE s.user = ? AND s.uts >= ? AND s.uts < ? GROUP BY 2")
_NONE = "SELECT NULL AS year, NULL AS key, 0 AS plays WHERE 0"


@dataclass(frozen=True)
class Slices:
    """A period for one user: whole years, whole months outside them as (first yyyymm, last
    yyyymm, start uts, end uts), and partial months as (start uts, end uts, yyyymm)."""

    user: str
    years: tuple[int, int] | None = None
    months: tuple[tuple[int, int, int, int], ...] = ()
    days: tuple[tuple[int, int, int], ...] = ()
    everything: bool = False  # every dated play of the user is inside: totals answer
    outside: tuple[Slices, ...] | None = None
    """When set: the rest of the history, smaller than the period (totals minus it answer)."""


def _union(sl: Slices, key: str, year_table: str, month_table: str | None = None
           ) -> tuple[str, list[Any]]:
    """SQL for rows (year, key, plays) over the slices, and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    raw_key = f"k.{key}" if key != "track_id" else "st.track_id"
    if sl.years:
        parts.append(f"SELECT year, {key} AS key, plays FROM {year_table}"
                     " WHERE user = ? AND year BETWEEN ? AND ?")
        params += [sl.user, *sl.years]
    raw = [(start, end, first) for first, _last, start, end in sl.months]
    if month_table:
        for first, last, _start, _end in sl.months:
            parts.append(f"SELECT month / 100 AS year, {key} AS key, plays FROM {month_table}"
                         " WHERE user = ? AND month BETWEEN ? AND ?")
            params += [sl.user, first, last]
        raw = []
    for start, end, month in [*raw, *sl.days]:
        parts.append(f"SELECT ? AS year, {raw_key} AS key, count(*) AS plays {_RAW}"
                     f" AND {raw_key} IS NOT NULL GROUP BY {raw_key}")
        params += [month // 100, sl.user, start, end]
    return " UNION ALL ".join(parts) or _NONE, params


def _totals(sl: Slices, key: str, year_table: str, total_table: str,
            month_table: str | None = None) -> tuple[str, list[Any]]:
    """SQL for rows (key, plays) over the period."""
    if sl.everything:
        return f"SELECT {key} AS key, plays FROM {total_table} WHERE user = ?", [sl.user]
    if sl.outside is not None:
        unions = [_union(rest, key, year_table, month_table) for rest in sl.outside]
        union = " UNION ALL ".join(sql for sql, _params in unions) or _NONE
        params = [p for _sql, ps in unions for p in ps]
        return (f"SELECT t.{key} AS key, t.plays - coalesce(o.plays, 0) AS plays"
                f" FROM {total_table} t LEFT JOIN (SELECT key, sum(plays) AS plays"
                f" FROM ({union}) GROUP BY key) o ON o.key = t.{key} WHERE t.user = ?",
                [*params, sl.user])
    union, params = _union(sl, key, year_table, month_table)
    return f"SELECT key, sum(plays) AS plays FROM ({union}) GROUP BY key", params


def top_artists(conn: Connection, sl: Slices, n: int) -> list[tuple[str, int]]:
    """The `n` most played artists: (artist, plays), ties by name."""
    sql, params = _totals(sl, "artist_id", "rollup_artist_year", "rollup_artist_total",
                          "rollup_artist_month")
    rows = conn.exec_driver_sql(
        f"SELECT a.name, p.plays FROM ({sql}) p JOIN artists a ON a.id = p.key"
        " WHERE p.plays > 0 ORDER BY p.plays DESC, a.name LIMIT ?", (*params, n))
    return [(str(a), int(p)) for a, p in rows]


def artist_count(conn: Connection, sl: Slices) -> int:
    """How many artists were played in the period."""
    sql, params = _totals(sl, "artist_id", "rollup_artist_year", "rollup_artist_total",
                          "rollup_artist_month")
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM ({sql}) WHERE plays > 0",
                                    tuple(params)).scalar_one())


def top_albums(conn: Connection, sl: Slices, n: int) -> list[tuple[str, str, int]]:
    """The `n` most played albums: (artist, album, plays), ties by names."""
    sql, params = _totals(sl, "album_id", "rollup_album_year", "rollup_album_total")
    rows = conn.exec_driver_sql(
        f"SELECT a.name, al.name, p.plays FROM ({sql}) p JOIN albums al ON al.id = p.key"
        " JOIN artists a ON a.id = al.artist_id WHERE p.plays > 0"
        " ORDER BY p.plays DESC, a.name, al.name"
        " LIMIT ?", (*params, n))
    return [(str(a), str(al), int(p)) for a, al, p in rows]


def top_tracks(conn: Connection, sl: Slices, n: int) -> list[dict[str, Any]]:
    """The `n` most played tracks with their match: track_id, plays, artist, title, album,
    status, rating_key (of an auto or manual match); ties by track id."""
    sql, params = _totals(sl, "track_id", "rollup_track_year", "rollup_track_total")
    rows = conn.exec_driver_sql(
        f"SELECT p.key, p.plays, t.artist, t.title, t.album, m.status,"
        f" CASE WHEN {MATCHED} THEN m.rating_key END FROM ({sql}) p"
        " JOIN scrobbled_tracks t ON t.id = p.key LEFT JOIN matches m ON m.track_id = p.key"
        " WHERE p.plays > 0 ORDER BY p.plays DESC, p.key LIMIT ?", (*params, n))
    keys = ("track_id", "plays", "artist", "title", "album", "status", "rating_key")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _years_cte(sl: Slices) -> tuple[str, list[Any]]:
    """rows ya(year, key, plays) of the slices outside whole years (partial years)."""
    union, params = _union(Slices(sl.user, None, sl.months, sl.days), "artist_id",
                           "rollup_artist_year", "rollup_artist_month")
    return (f"ya AS (SELECT year, key, sum(plays) AS plays FROM ({union})"
            " GROUP BY year, key)", params)


def year_stats(conn: Connection, sl: Slices) -> list[tuple[int, int, int, int, int]]:
    """Per year: (year, artists, plays, new artists, plays of new artists); an artist is new
    in the year of its first play ever."""
    rows: list[Any] = []
    if sl.years:
        counts = conn.exec_driver_sql(
            "SELECT year, count(*), sum(plays) FROM rollup_artist_year WHERE user = ?"
            " AND year BETWEEN ? AND ? GROUP BY year", (sl.user, *sl.years)).all()
        new = {int(y): (int(n), int(p)) for y, n, p in conn.exec_driver_sql(
            "SELECT y.year, count(*), sum(y.plays) FROM rollup_artist_total t"
            " JOIN rollup_artist_year y ON y.user = t.user AND y.year = t.first_month / 100"
            " AND y.artist_id = t.artist_id WHERE t.user = ?"
            " AND t.first_month BETWEEN ? AND ? GROUP BY y.year",
            (sl.user, sl.years[0] * 100 + 1, sl.years[1] * 100 + 12))}
        rows += [(y, a, p, *new.get(int(y), (0, 0))) for y, a, p in counts]
    if sl.months or sl.days:
        cte, params = _years_cte(sl)
        rows += conn.exec_driver_sql(
            f"WITH {cte} SELECT ya.year, count(*), sum(ya.plays),"
            " sum(t.first_month / 100 = ya.year),"
            " sum(CASE WHEN t.first_month / 100 = ya.year THEN ya.plays ELSE 0 END)"
            " FROM ya JOIN rollup_artist_total t ON t.user = ? AND t.artist_id = ya.key"
            " GROUP BY ya.year", (*params, sl.user)).all()
    return sorted((int(y), int(a), int(p), int(na), int(npl)) for y, a, p, na, npl in rows)


def year_top_artists(conn: Connection, sl: Slices, n: int) -> list[tuple[int, str, int]]:
    """The `n` most played artists of each year: (year, artist, plays), ties by name."""
    rows: list[Any] = []
    if sl.years:  # per year, everyone at least as played as the n-th (index on plays)
        rows += conn.exec_driver_sql(
            "SELECT y.year, a.name, y.plays FROM (SELECT DISTINCT year FROM rollup_artist_year"
            " WHERE user = ? AND year BETWEEN ? AND ?) yy JOIN rollup_artist_year y"
            " ON y.user = ? AND y.year = yy.year AND y.plays >= coalesce((SELECT plays"
            " FROM rollup_artist_year WHERE user = ? AND year = yy.year"
            " ORDER BY plays DESC LIMIT 1 OFFSET ?), 0) JOIN artists a ON a.id = y.artist_id",
            (sl.user, *sl.years, sl.user, sl.user, n - 1)).all()
    if sl.months or sl.days:
        cte, params = _years_cte(sl)
        rows += conn.exec_driver_sql(  # rank() keeps every artist tied with the n-th
            f"WITH {cte} SELECT r.year, a.name, r.plays FROM (SELECT year, key, plays,"
            " rank() OVER (PARTITION BY year ORDER BY plays DESC) AS rank FROM ya) r"
            " JOIN artists a ON a.id = r.key WHERE r.rank <= ?", (*params, n)).all()
    out: list[tuple[int, str, int]] = []
    for year, name, plays in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        if sum(1 for row in out[-n:] if row[0] == year) < n:
            out.append((int(year), str(name), int(plays)))
    return out


def genre_months(conn: Connection, sl: Slices) -> list[tuple[int, str, int]]:
    """Plays per month and primary genre ('' for artists without one): (month, genre, plays)."""
    parts: list[str] = []
    params: list[Any] = []
    ranges = [(sl.years[0] * 100 + 1, sl.years[1] * 100 + 12)] if sl.years else []
    for first, last in [*ranges, *((m[0], m[1]) for m in sl.months)]:
        parts.append("SELECT month, genre, plays FROM rollup_genre_month"
                     " WHERE user = ? AND month BETWEEN ? AND ?")
        params += [sl.user, first, last]
    for start, end, month in sl.days:
        parts.append(_RAW_GENRE)
        params += [month, sl.user, start, end]
    if not parts:
        return []
    rows = conn.exec_driver_sql(
        f"SELECT month, genre, sum(plays) FROM ({' UNION ALL '.join(parts)})"
        " GROUP BY month, genre HAVING sum(plays) > 0 ORDER BY month, genre", tuple(params))
    return [(int(m), str(g), int(p)) for m, g, p in rows]


def hourly(conn: Connection, user: str, first_day: int, last_day: int
           ) -> list[tuple[int, int, int]]:
    """Plays per weekday and hour over the days first..last: (weekday, hour, plays)."""
    rows = conn.exec_driver_sql(
        "SELECT weekday, hour, sum(plays) FROM rollup_hourly WHERE user = ?"
        " AND day BETWEEN ? AND ? GROUP BY weekday, hour", (user, first_day, last_day))
    return [(int(w), int(h), int(p)) for w, h, p in rows]


def daily(conn: Connection, user: str, first_day: int, last_day: int) -> list[tuple[int, int]]:
    """Plays per local day over the days first..last (days with plays): (day, plays)."""
    rows = conn.exec_driver_sql(
        "SELECT day, sum(plays) FROM rollup_hourly WHERE user = ? AND day BETWEEN ? AND ?"
        " GROUP BY day ORDER BY day", (user, first_day, last_day))
    return [(int(d), int(p)) for d, p in rows]


def day_span(conn: Connection, user: str) -> tuple[int, int] | None:
    """(first, last) local day (yyyymmdd) with plays, None without dated plays."""
    first = conn.exec_driver_sql(  # two queries: each a seek on the primary key
        "SELECT min(day) FROM rollup_hourly WHERE user = ?", (user,)).scalar()
    last = conn.exec_driver_sql(
        "SELECT max(day) FROM rollup_hourly WHERE user = ?", (user,)).scalar()
    return None if first is None or last is None else (int(first), int(last))


def undated_count(conn: Connection, user: str) -> int:
    """How many scrobbles of `user` carry no time (uts 0, legacy last.fm plays)."""
    return int(conn.exec_driver_sql(
        "SELECT count(*) FROM scrobbles WHERE user = ? AND uts = 0", (user,)).scalar_one())


def plex_top(conn: Connection, user: str, year: int, group: str, limit: int
             ) -> list[dict[str, Any]]:
    """The most played Plex items of a year (group: track, album or artist), counting the
    dated plays of matched tracks as Plex will once they are applied: key, plays, title,
    artist, album (the library's names)."""
    key, names = {
        "track": ("l.rating_key", "max(l.title), max(coalesce(nullif(l.track_artist, ''),"
                  " l.album_artist)), max(l.album)"),
        "album": ("l.album_rating_key", "NULL, max(l.album_artist), max(l.album)"),
        "artist": ("l.artist_rating_key", "NULL, max(l.album_artist), NULL"),
    }[group]
    rows = conn.exec_driver_sql(
        f"SELECT {key}, sum(r.plays) AS plays, {names} FROM rollup_track_year r"
        f" JOIN matches m ON m.track_id = r.track_id AND {MATCHED}"
        " JOIN library_tracks l ON l.rating_key = m.rating_key"
        f" WHERE r.user = ? AND r.year = ? GROUP BY {key} ORDER BY plays DESC, {key} LIMIT ?",
        (user, year, limit))
    columns: Sequence[str] = ("key", "plays", "title", "artist", "album")
    return [dict(zip(columns, row, strict=True)) for row in rows]
