"""Library search and library track lookups, for the status page and the command line.

Searches go through `library_fts` (FTS5, `unicode61 remove_diacritics 2`: case and accents
are ignored, so "bjork" finds "Björk"); every word of the text must start a word of the
track's title, album artist, track artist or album.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

RANK_LIMIT = 1_000  # library searches matching more tracks than this are not ranked by bm25
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """`text` as an FTS5 query: every word as a prefix, all required; None when no word."""
    words = _WORD.findall(text.casefold())[:8]
    return " ".join(f'"{w}"*' for w in words) or None


def library_tracks(conn: Connection, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Library tracks by rating key (with plexfm plays), for suggestions and match targets."""
    wanted = sorted(set(keys))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = conn.exec_driver_sql(
            "SELECT l.rating_key, l.title, l.album_artist, l.track_artist, l.album,"
            " l.album_year, coalesce(p.plays, 0) AS plays FROM library_tracks l LEFT JOIN"
            f" library_plays p ON p.rating_key = l.rating_key WHERE l.rating_key IN ({marks})",
            tuple(chunk)).mappings()
        found.update({int(r["rating_key"]): dict(r) for r in rows})
    return found


def search_library(conn: Connection, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Library tracks whose artist, title or album words start with the words of `text`, best
    first: ranked by FTS5 (bm25) when at most RANK_LIMIT tracks match; past that (a prefix of
    two or three letters) ranking costs more than the 50 ms budget, so the tracks whose title
    starts with the first word come first."""
    query = fts_query(text)
    if query is None:
        return []
    many = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT 1 FROM library_fts WHERE library_fts MATCH ? LIMIT ?)",
        (query, RANK_LIMIT + 1)).scalar_one()
    if many <= RANK_LIMIT:
        keys = [int(k) for (k,) in conn.exec_driver_sql(
            "SELECT rowid FROM library_fts WHERE library_fts MATCH ? ORDER BY rank LIMIT ?",
            (query, limit))]
    else:
        first, _, rest = query.partition(" ")
        keys = [int(k) for (k,) in conn.exec_driver_sql(
            "SELECT rowid FROM library_fts WHERE library_fts MATCH ? LIMIT ?",
            (f"title : ^{first} {rest}".strip(), limit))]
        if len(keys) < limit:
            keys += [int(k) for (k,) in conn.exec_driver_sql(
                "SELECT rowid FROM library_fts WHERE library_fts MATCH ? LIMIT ?",
                (query, limit * 2)) if int(k) not in keys][:limit - len(keys)]
    found = library_tracks(conn, keys)
    return [found[k] for k in keys if k in found]
