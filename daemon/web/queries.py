"""The status page's read queries: one function per list, each bounded (LIMIT) and indexed.
(The library search and lookups are `daemon.store.search`'s, re-exported here.)

Every function takes the caller's Connection and returns plain dicts, ready for a template or
for JSON. Nothing here writes; decisions go through `daemon.store.matches` (web/actions.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from daemon.store import matches, pagestats
from daemon.store.search import fts_query
from daemon.store.search import library_tracks as library_tracks
from daemon.store.search import search_library as search_library  # `plexfm search`'s too

# Under this score a suggestion is another song (the title alone weighs 55 of 100, so an
# unrelated artist's track of the same name scores about 60): not offered ("no close
# candidate"). From STRONG_SCORE on, the Accept button is the bright one.
SUGGESTION_FLOOR = 65
STRONG_SCORE = 90
COUNT_CAP = 10_000  # filtered totals are counted up to this ("10,000+")
MATCHED = "matched"  # status filter: auto or manual
STATUS_FILTERS = (MATCHED, *matches.STATUSES, "all")
ORIGINS = ("auto", "manual")
MATCH_SORTS = {
    "plays": "t.plays DESC, t.id",
    "artist": "t.artist, t.title, t.album",
    "recent": "m.decided_at DESC, t.id",
}
LIBRARY_SORTS = ("plays", "artist")


def _capped_count(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    return int(conn.exec_driver_sql(
        f"SELECT count(*) FROM ({sql} LIMIT {COUNT_CAP + 1})", tuple(params)).scalar_one())


@dataclass(frozen=True)
class QueueFilter:
    artist: str = ""
    skipped: bool = False  # show the skipped tracks instead of the waiting ones
    after: tuple[int, int] | None = None
    """(plays, track id) of the previous page's last row: the page starts right after it
    (an index seek, however deep), instead of counting `offset` rows from the top."""


def queue(conn: Connection, f: QueueFilter, *, now: int, limit: int,
          offset: int) -> tuple[list[dict[str, Any]], int, pagestats.QueueCount]:
    """Queued tracks, most played first (the skipped ones with `f.skipped`), with reason and
    the suggestions scoring at least SUGGESTION_FLOOR (each with its library track; how many
    scored less in `weak_suggestions`); how many are listed; and the queue as every page
    counts it (`pagestats.queue_count`: of `f.artist` when given)."""
    where = ["m.status = 'queued'",
             "k.track_id IS NOT NULL" if f.skipped else "k.track_id IS NULL"]
    params: list[Any] = [now]
    if f.artist:
        where.append("t.artist = ?")
        params.append(f.artist)
    listing = list(params)
    if f.after is not None:
        where.append("(t.plays < ? OR (t.plays = ? AND t.id > ?))")
        listing += [f.after[0], f.after[0], f.after[1]]
        offset = 0
    rest = (f"LEFT JOIN queue_skips k ON k.track_id = m.track_id AND k.until > ? WHERE"
            f" {' AND '.join(where)}")
    if f.artist:
        count = pagestats.QueueCount(*(_capped_count(
            conn, "SELECT 1 FROM matches m JOIN scrobbled_tracks t ON t.id = m.track_id LEFT"
            " JOIN queue_skips k ON k.track_id = m.track_id AND k.until > ? WHERE"
            f" m.status = 'queued' AND t.artist = ?{skipped}", (now, f.artist))
            for skipped in ("", " AND k.track_id IS NOT NULL")))
    else:  # the whole queue: the status index counts it
        count = pagestats.queue_count(conn, now)
    total = count.skipped if f.skipped else count.waiting - count.skipped
    # listed by walking the plays index (CROSS JOIN fixes SQLite's join order): the first
    # page stops after a few dozen rows instead of sorting the whole queue
    rows = [dict(r) for r in conn.exec_driver_sql(
        "SELECT t.id AS track_id, t.artist, t.title, t.album, t.plays, m.reason, m.suggestions,"
        " k.until AS skipped_until FROM scrobbled_tracks t CROSS JOIN matches m ON m.track_id"
        f" = t.id {rest} ORDER BY t.plays DESC, t.id LIMIT ? OFFSET ?",
        (*listing, limit, offset)).mappings()]
    for row in rows:
        stored = [{"rating_key": int(k), "score": int(s)}
                  for k, s in json.loads(row["suggestions"] or "[]")]
        row["suggestions"] = [s for s in stored if s["score"] >= SUGGESTION_FLOOR][:5]
        row["weak_suggestions"] = sum(s["score"] < SUGGESTION_FLOOR for s in stored)
    found = library_tracks(conn, (s["rating_key"] for r in rows for s in r["suggestions"]))
    for row in rows:
        row["suggestions"] = [{**s, "track": found[s["rating_key"]]} for s in row["suggestions"]
                              if s["rating_key"] in found]
    return rows, total, count


def queued_of_artist(conn: Connection, artist: str) -> list[int]:
    """Track ids of every queued track scrobbled under `artist` (exactly as scrobbled)."""
    return [int(t) for (t,) in conn.exec_driver_sql(
        "SELECT m.track_id FROM matches m JOIN scrobbled_tracks t ON t.id = m.track_id"
        " WHERE m.status = 'queued' AND t.artist = ?", (artist,))]


@dataclass(frozen=True)
class MatchFilter:
    status: str = MATCHED
    origin: str = ""
    artist: str = ""
    album: str = ""
    text: str = ""
    sort: str = "plays"


def match_list(conn: Connection, f: MatchFilter, *, limit: int,
               offset: int) -> tuple[list[dict[str, Any]], int]:
    """Scrobbled tracks with their decision, library track and plays written to Plex; and
    how many match the filter (counted up to COUNT_CAP)."""
    where: list[str] = []
    params: list[Any] = []
    if f.status == MATCHED:
        where.append("m.status IN ('auto', 'manual')")
    elif f.status in matches.STATUSES:
        where.append("m.status = ?")
        params.append(f.status)
    if f.origin == "auto":
        where.append("m.status IN ('auto', 'queued')")
    elif f.origin == "manual":
        where.append("m.status IN ('manual', 'not_in_library')")
    for column, value in (("artist", f.artist), ("album", f.album)):
        if value:
            where.append(f"t.{column} = ?")
            params.append(value)
    query = fts_query(f.text) if f.text else None
    if query is not None:
        where.append("t.id IN (SELECT rowid FROM scrobbled_fts WHERE scrobbled_fts MATCH ?)")
        params.append(query)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    total = _capped_count(conn, "SELECT 1 FROM scrobbled_tracks t JOIN matches m ON"
                          f" m.track_id = t.id{condition}", params)
    order = MATCH_SORTS.get(f.sort, MATCH_SORTS["plays"])
    # walk t's index for its sorts when most tracks qualify; else let SQLite pick the index
    broad = f.status in (MATCHED, matches.AUTO, "all") and not (f.artist or f.album or query)
    join = "CROSS JOIN" if broad and f.sort != "recent" else "JOIN"
    rows = [dict(r) for r in conn.exec_driver_sql(
        "SELECT t.id AS track_id, t.artist, t.title, t.album, t.plays, m.status, m.rating_key,"
        f" m.rule, m.decided_at FROM scrobbled_tracks t {join} matches m ON m.track_id = t.id"
        f"{condition} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)).mappings()]
    found = library_tracks(conn, (r["rating_key"] for r in rows if r["rating_key"] is not None))
    written = written_per_track(conn, [r["track_id"] for r in rows])
    for row in rows:
        row["track"] = found.get(row["rating_key"]) if row["rating_key"] is not None else None
        row["written"] = written.get(row["track_id"], 0)
    return rows, total


def written_per_track(conn: Connection, track_ids: Sequence[int]) -> dict[int, int]:
    """Plays written to Plex per scrobbled track (from the cache the jobs refresh)."""
    ids = sorted(set(track_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    return {int(t): int(n) for t, n in conn.exec_driver_sql(
        f"SELECT track_id, written FROM track_written WHERE track_id IN ({marks})", tuple(ids))}


def plays_counted(conn: Connection) -> bool:
    """Whether the cached `library_plays` covers every mirrored library track (not right
    after a library refresh, until the page's counts are refreshed)."""
    return bool(conn.exec_driver_sql(
        "SELECT (SELECT count(*) FROM library_tracks) = (SELECT count(*) FROM library_plays)"
    ).scalar_one())


def library_list(conn: Connection, *, text: str, sort: str, unplayed: bool, limit: int,
                 offset: int) -> tuple[list[dict[str, Any]], int]:
    """Library tracks with plexfm's play count (from the cached `library_plays`); and how
    many match (counted up to COUNT_CAP). Every mirrored track is listed and counted, also
    those the cache does not cover yet (with 0 plays until it does)."""
    where: list[str] = []
    params: list[Any] = []
    query = fts_query(text) if text else None
    if query is not None:
        where.append("l.rating_key IN (SELECT rowid FROM library_fts WHERE library_fts MATCH ?)")
        params.append(query)
    if unplayed:
        where.append("coalesce(p.plays, 0) = 0")
    base = ("FROM library_tracks l LEFT JOIN library_plays p ON p.rating_key = l.rating_key"
            + (f" WHERE {' AND '.join(where)}" if where else ""))
    if sort == "plays" and not unplayed and query is None and plays_counted(conn):
        base = "FROM library_plays p JOIN library_tracks l ON l.rating_key = p.rating_key"
        order = "p.plays DESC, p.rating_key"
    elif sort == "plays":
        order = "coalesce(p.plays, 0) DESC, l.rating_key"
    else:
        order = "l.album_artist, l.album, l.disc_number, l.track_number, l.rating_key"
    total = _capped_count(conn, f"SELECT 1 {base}", params)
    rows = conn.exec_driver_sql(
        "SELECT l.rating_key, l.title, l.album_artist, l.track_artist, l.album, l.album_year,"
        f" coalesce(p.plays, 0) AS plays, coalesce(p.tracks, 0) AS tracks {base}"
        f" ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)).mappings()
    return [dict(r) for r in rows], total
