"""last.fm tags of artists, their genres, and where the tags job stands with each artist.

`tag_state` has one row per artist asked about: status ok (tags stored), empty (last.fm has
no tags), unknown (last.fm does not know the artist) or failed (asked, no usable answer; the
next run asks again), with the time of the last answer. An artist without a row was never
asked. Functions take the caller's Connection and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    import pandas as pd

OK, EMPTY, UNKNOWN, FAILED = "ok", "empty", "unknown", "failed"
STATUSES = (OK, EMPTY, UNKNOWN, FAILED)
NEW, RETRY, REFRESH = "new", "retry", "refresh"


def due_artists(conn: Connection, stale_before: int, refresh_limit: int
                ) -> list[tuple[str, str]]:
    """Artists to ask about, as (artist, why): never asked (most played first), then failed
    last time, then up to `refresh_limit` answered before `stale_before` (oldest first)."""
    new = conn.exec_driver_sql(
        "SELECT t.artist FROM scrobbled_tracks t LEFT JOIN tag_state s ON s.artist = t.artist"
        " WHERE s.artist IS NULL GROUP BY t.artist ORDER BY sum(t.plays) DESC, t.artist")
    retry = conn.exec_driver_sql(
        "SELECT artist FROM tag_state WHERE status = ? ORDER BY fetched_at, artist", (FAILED,))
    stale = conn.exec_driver_sql(
        "SELECT artist FROM tag_state WHERE status != ? AND fetched_at < ?"
        " ORDER BY fetched_at, artist LIMIT ?", (FAILED, stale_before, refresh_limit))
    return ([(str(a), NEW) for (a,) in new] + [(str(a), RETRY) for (a,) in retry]
            + [(str(a), REFRESH) for (a,) in stale])


def top_titles(conn: Connection, artist: str, limit: int) -> list[str]:
    """The artist's most played track titles (distinct, most plays first)."""
    rows = conn.exec_driver_sql(
        "SELECT title FROM scrobbled_tracks WHERE artist = ? GROUP BY title"
        " ORDER BY sum(plays) DESC, title LIMIT ?", (artist, limit))
    return [str(t) for (t,) in rows]


def save_answer(conn: Connection, artist: str, status: str, source: str,
                tags: Sequence[tuple[str, int]], genres: Sequence[tuple[str, int]],
                at: int) -> None:
    """Record last.fm's answer about `artist`: its tags (replacing older ones), its genres
    and its state (ok, empty or unknown)."""
    conn.exec_driver_sql("DELETE FROM artist_tags WHERE artist = ?", (artist,))
    if tags:
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO artist_tags (artist, tag, weight) VALUES (?, ?, ?)",
            [(artist, tag, weight) for tag, weight in tags])
    replace_genres(conn, artist, genres)
    conn.exec_driver_sql(
        "INSERT INTO tag_state (artist, status, source, fetched_at, failures, error)"
        " VALUES (?, ?, ?, ?, 0, NULL) ON CONFLICT (artist) DO UPDATE SET"
        " status = excluded.status, source = excluded.source, fetched_at = excluded.fetched_at,"
        " failures = 0, error = NULL", (artist, status, source, at))


def save_failure(conn: Connection, artist: str, error: str, at: int) -> None:
    """Record that asking about `artist` failed (its older tags, if any, stay)."""
    conn.exec_driver_sql(
        "INSERT INTO tag_state (artist, status, source, fetched_at, failures, error)"
        " VALUES (?, ?, '', ?, 1, ?) ON CONFLICT (artist) DO UPDATE SET status = excluded.status,"
        " fetched_at = excluded.fetched_at, failures = failures + 1, error = excluded.error",
        (artist, FAILED, at, error[:300]))


def replace_genres(conn: Connection, artist: str, genres: Sequence[tuple[str, int]]) -> None:
    """Make `genres` (best first) the artist's genres."""
    conn.exec_driver_sql("DELETE FROM artist_genres WHERE artist = ?", (artist,))
    if genres:
        conn.exec_driver_sql(
            "INSERT INTO artist_genres (artist, genre, weight, rank) VALUES (?, ?, ?, ?)",
            [(artist, genre, weight, rank) for rank, (genre, weight) in enumerate(genres, 1)])


def tags_by_artist(conn: Connection) -> Iterator[tuple[str, list[tuple[str, int]]]]:
    """Every artist with stored tags and its (tag, weight) list."""
    rows = conn.exec_driver_sql("SELECT artist, tag, weight FROM artist_tags ORDER BY artist")
    current: str | None = None
    tags: list[tuple[str, int]] = []
    for artist, tag, weight in rows:
        if artist != current:
            if current is not None:
                yield current, tags
            current, tags = artist, []
        tags.append((str(tag), int(weight)))
    if current is not None:
        yield current, tags


def replace_all_genres(conn: Connection,
                       rows: Iterable[tuple[str, Sequence[tuple[str, int]]]]) -> int:
    """Replace every artist's genres with `rows` of (artist, genres best first); return how
    many artists have a genre."""
    conn.exec_driver_sql("DELETE FROM artist_genres")
    data = [(artist, genre, weight, rank) for artist, genres in rows
            for rank, (genre, weight) in enumerate(genres, 1)]
    if data:
        conn.exec_driver_sql(
            "INSERT INTO artist_genres (artist, genre, weight, rank) VALUES (?, ?, ?, ?)", data)
    return sum(1 for row in data if row[3] == 1)


def primary_genre(conn: Connection, artist: str) -> str | None:
    """The artist's primary genre, None when it has none."""
    value = conn.exec_driver_sql(
        "SELECT genre FROM artist_genres WHERE artist = ? AND rank = 1", (artist,)).scalar()
    return None if value is None else str(value)


def primary_genres(conn: Connection) -> pd.DataFrame:
    """Every artist with a genre: artist, genre (its primary genre), genres (all of them,
    best first, joined with '; ')."""
    import pandas as pd

    found: dict[str, list[str]] = {}
    for artist, genre in conn.exec_driver_sql(
            "SELECT artist, genre FROM artist_genres ORDER BY artist, rank"):
        found.setdefault(str(artist), []).append(str(genre))
    return pd.DataFrame({"artist": list(found), "genre": [g[0] for g in found.values()],
                         "genres": ["; ".join(g) for g in found.values()]}, dtype=object)


def counts(conn: Connection) -> dict[str, int]:
    """Artists per tag status, and `pending` (scrobbled artists never asked about)."""
    found = dict.fromkeys(STATUSES, 0)
    for status, n in conn.exec_driver_sql("SELECT status, count(*) FROM tag_state"
                                          " GROUP BY status"):
        found[str(status)] = int(n)
    found["pending"] = int(conn.exec_driver_sql(
        "SELECT count(DISTINCT t.artist) FROM scrobbled_tracks t LEFT JOIN tag_state s"
        " ON s.artist = t.artist WHERE s.artist IS NULL").scalar_one())
    return found
